"""USD per 1M predictions per host for a traffic shape, from measured numbers. Pure functions.

Inputs: a :class:`Traffic` shape (requests/s, texts per request, cache hit ratio,
burstiness), the :class:`Deployment` (from precast.toml), the
:class:`~precast.project.measurements.Measurements` and the list prices in
:mod:`precast.project.pricing`. Every row carries the assumptions behind its number, in
words and figures.

The model, per 1M predictions (texts):

- a Lambda request lasts ``request_s + texts x (1 - hit_ratio) / texts_per_s`` (a fully
  cached request costs ``request_s``; each miss costs one text of live inference), billed
  per 1 ms at the memory size, plus the request fee;
- environments: ``ceil(rps x duration)`` on average, ``ceil(burstiness x rps x duration)``
  at a burst's peak. Cold starts per hour = bursts/hour x (peak - mean) + mean x
  3600 / environment lifetime. A cold start bills its init (no SnapStart) or the restore
  hooks, the restore charge per GB and the snapshot cache per GB-s (SnapStart);
- the cache (DynamoDB on-demand): one eventually consistent read per text, one write per
  miss; the hits were computed ahead by the batch job, whose cost is added;
- a Modal container is billed while it runs: busy seconds / utilization, with utilization
  = 1 / burstiness (a fleet sized for the peak idles in between);
- the hybrid saving = the Lambda cost with no cache (every text live) minus the hybrid one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from precast.project import pricing
from precast.project.measurements import Measurements

PER_MILLION = pricing.PER_MILLION
ITEM_OVERHEAD_BYTES = 200  # cache item: 64-hex key, version, timestamps, attribute names


@dataclass(frozen=True)
class Traffic:
    rps: float
    texts_per_request: int = 1
    hit_ratio: float = 0.0
    burstiness: float = 1.0  # peak rps / mean rps
    bursts_per_hour: float = 1.0
    environment_lifetime_s: float = 3600.0  # how long Lambda keeps an idle-free environment

    def __post_init__(self) -> None:
        if self.rps <= 0:
            raise ValueError(f"rps must be > 0, got {self.rps}")
        if self.texts_per_request < 1:
            raise ValueError(f"texts_per_request must be >= 1, got {self.texts_per_request}")
        if not 0 <= self.hit_ratio <= 1:
            raise ValueError(f"hit_ratio must be in [0, 1], got {self.hit_ratio}")
        if self.burstiness < 1:
            raise ValueError(f"burstiness (peak/mean) must be >= 1, got {self.burstiness}")
        if self.bursts_per_hour < 0 or self.environment_lifetime_s <= 0:
            raise ValueError("bursts_per_hour must be >= 0 and environment_lifetime_s > 0")

    @property
    def texts_per_hour(self) -> float:
        return self.rps * self.texts_per_request * 3600

    def describe(self) -> str:
        return (
            f"{self.rps:g} req/s x {self.texts_per_request} text(s)/request, cache hit ratio "
            f"{self.hit_ratio:.2f}, burstiness {self.burstiness:g} (peak/mean), "
            f"{self.bursts_per_hour:g} burst(s)/h, environments live "
            f"{self.environment_lifetime_s:g} s"
        )


@dataclass(frozen=True)
class Deployment:
    lambda_architecture: str = "arm64"
    lambda_memory_mb: int = 2048
    batch_vcpus: float = 2.0
    batch_memory_mb: int = 4096
    vector_bytes: int = 384 * 4
    write_back: bool = True  # [serving] write_back: each miss is written to the cache
    modal_gpu: str = "T4"
    modal_cpu_cores: float = 1.0  # Modal bills physical cores: 1 = 2 vCPU, like the bench host
    modal_memory_gib: float = 2.0


@dataclass(frozen=True)
class CostRow:
    host: str
    usd_per_million: float | None  # None: not measured
    cold_start_share: float | None = None  # of this row's cost
    assumptions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CostReport:
    traffic: Traffic
    rows: list[CostRow]
    hybrid_saving_usd: float  # per 1M predictions, Lambda live-only minus Lambda hybrid
    hybrid_saving_share: float


def lambda_row(
    traffic: Traffic,
    deploy: Deployment,
    m: Measurements,
    *,
    snapstart: bool,
    cache: bool = True,
) -> CostRow:
    misses = 1 - traffic.hit_ratio if cache else 1.0
    k = traffic.texts_per_request
    tps = m.lambda_miss_texts_per_s.value
    duration = m.lambda_request_s.value + k * misses / tps
    step = pricing.LAMBDA_BILLING_GRANULARITY_S
    billed = math.ceil(round(duration / step, 6)) * step
    gb = deploy.lambda_memory_mb / 1024
    gb_s = pricing.LAMBDA_GB_SECOND_USD[deploy.lambda_architecture]
    requests = PER_MILLION / k
    compute = requests * billed * gb * gb_s
    fees = requests * pricing.LAMBDA_REQUEST_USD

    mean_envs = max(1, math.ceil(traffic.rps * duration))
    peak_envs = max(mean_envs, math.ceil(traffic.burstiness * traffic.rps * duration))
    colds_per_hour = (
        traffic.bursts_per_hour * (peak_envs - mean_envs)
        + mean_envs * 3600 / traffic.environment_lifetime_s
    )
    colds = colds_per_hour / traffic.texts_per_hour * PER_MILLION
    if snapstart:
        each = m.restore_s.value * gb * gb_s + pricing.LAMBDA_SNAPSTART_RESTORE_GB_USD * gb
        snapshot_cache = (
            gb * pricing.LAMBDA_SNAPSTART_CACHE_GB_SECOND_USD * 3600 / traffic.texts_per_hour
        ) * PER_MILLION
        cold = colds * each + snapshot_cache
        cold_note = (
            f"{colds:.2f} restores/1M ({m.restore_s.value * 1000:.0f} ms hooks + 1st call "
            f"billed, ${pricing.LAMBDA_SNAPSTART_RESTORE_GB_USD:.7f}/GB restored, snapshot "
            f"cached at ${pricing.LAMBDA_SNAPSTART_CACHE_GB_SECOND_USD:.7f}/GB-s)"
        )
    else:
        cold = colds * m.cold_start_s.value * gb * gb_s
        cold_note = f"{colds:.2f} cold inits/1M x {m.cold_start_s.value:.3f} s billed"

    dynamo = precompute = 0.0
    notes = [
        f"{duration * 1000:.1f} ms/request = {m.lambda_request_s.value * 1000:.2f} ms + "
        f"{k * misses:g} live text(s) at {tps:.0f} texts/s; billed {billed * 1000:.0f} ms "
        f"at {deploy.lambda_memory_mb} MB",
        f"{mean_envs} environment(s), {peak_envs} at peak; {cold_note}",
    ]
    if cache:
        item = deploy.vector_bytes + ITEM_OVERHEAD_BYTES
        read_units = 0.5 * math.ceil(item / 4096)
        write_units = math.ceil(item / 1024) if deploy.write_back else 0
        dynamo = PER_MILLION * (
            read_units * pricing.DYNAMODB_READ_UNIT_USD
            + misses * write_units * pricing.DYNAMODB_WRITE_UNIT_USD
        )
        precompute = traffic.hit_ratio * (batch_row(deploy, m).usd_per_million or 0.0)
        notes.append(
            f"DynamoDB: {read_units:g} read unit/text, {write_units} write units/miss "
            f"({item} B item) = ${dynamo:.4f}; hits precomputed by batch = ${precompute:.4f} "
            "(upper bound: each hit computed once by the batch job)"
        )
    total = compute + fees + cold + dynamo + precompute
    name = "SnapStart" if snapstart else "no SnapStart"
    what = f"hit ratio {traffic.hit_ratio:.2f}" if cache else "no cache, all live"
    return CostRow(
        host=f"Lambda {deploy.lambda_architecture} {deploy.lambda_memory_mb} MB, {name}, {what}",
        usd_per_million=total,
        cold_start_share=cold / total,
        assumptions=notes,
    )


def modal_cpu_row(traffic: Traffic, deploy: Deployment, m: Measurements) -> CostRow:
    k = traffic.texts_per_request
    tps = m.lambda_miss_texts_per_s.value
    busy = PER_MILLION / k * (m.lambda_request_s.value + k * (1 - traffic.hit_ratio) / tps)
    utilization = 1 / traffic.burstiness
    per_s = (
        deploy.modal_cpu_cores * pricing.MODAL_CPU_CORE_SECOND_USD
        + deploy.modal_memory_gib * pricing.MODAL_MEMORY_GIB_SECOND_USD
    )
    return CostRow(
        host=f"Modal CPU container ({deploy.modal_cpu_cores:g} core, hit ratio "
        f"{traffic.hit_ratio:.2f})",
        usd_per_million=busy / utilization * per_s,
        assumptions=[
            f"{busy:.0f} busy s/1M at the Lambda handler's measured speed, "
            f"{utilization:.0%} utilization (1/burstiness), cache reads not included"
        ],
    )


def modal_gpu_row(traffic: Traffic, deploy: Deployment, m: Measurements) -> CostRow:
    host = f"Modal {deploy.modal_gpu} GPU"
    if m.gpu_texts_per_s is None:
        return CostRow(
            host=host,
            usd_per_million=None,
            assumptions=["not measured: run benchmarks/bench_gpu.py on a GPU machine"],
        )
    if deploy.modal_gpu.lower() not in m.gpu_name.lower():
        return CostRow(
            host=host,
            usd_per_million=None,
            assumptions=[
                f"not measured on a {deploy.modal_gpu}: gpu.json is from {m.gpu_name or '?'} "
                f"({m.gpu_texts_per_s.value:.0f} texts/s), another GPU's speed; run "
                f"benchmarks/bench_gpu.py on a {deploy.modal_gpu}, or deploy the GPU measured"
            ],
        )
    tps = m.gpu_texts_per_s.value
    estimate = pricing.modal_cost(
        gpu=deploy.modal_gpu,
        predictions_per_second=tps,
        cpu_cores=deploy.modal_cpu_cores,
        memory_gib=deploy.modal_memory_gib,
        utilization=1 / traffic.burstiness,
    )
    live = (1 - traffic.hit_ratio) * estimate.usd_per_million
    return CostRow(
        host=f"{host} (hit ratio {traffic.hit_ratio:.2f})",
        usd_per_million=live,
        assumptions=[f"{tps:.0f} texts/s measured, {estimate.assumptions}; misses only"],
    )


def batch_row(deploy: Deployment, m: Measurements) -> CostRow:
    tps = m.batch_texts_per_s.value
    estimate = pricing.batch_fargate_spot_cost(
        vcpus=deploy.batch_vcpus, memory_mb=deploy.batch_memory_mb, predictions_per_second=tps
    )
    return CostRow(
        host=f"{estimate.host} (precompute)",
        usd_per_million=estimate.usd_per_million,
        assumptions=[f"{tps:.0f} texts/s measured per task, {estimate.assumptions}"],
    )


def estimate(traffic: Traffic, deploy: Deployment, m: Measurements) -> CostReport:
    hybrid = lambda_row(traffic, deploy, m, snapstart=True)
    live = lambda_row(traffic, deploy, m, snapstart=True, cache=False)
    rows = [
        hybrid,
        lambda_row(traffic, deploy, m, snapstart=False),
        live,
        modal_cpu_row(traffic, deploy, m),
        modal_gpu_row(traffic, deploy, m),
        batch_row(deploy, m),
    ]
    assert hybrid.usd_per_million is not None and live.usd_per_million is not None
    saving = live.usd_per_million - hybrid.usd_per_million
    return CostReport(traffic, rows, saving, saving / live.usd_per_million)
