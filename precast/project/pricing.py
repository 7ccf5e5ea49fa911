"""Cost per 1M predictions on each host, from published list prices. Pure functions.

``precast cost`` (:mod:`precast.project.cost_model`) feeds these the throughputs the
benchmarks measured; the table in ``docs/deploy.md`` is its output.
``python -m precast.project.pricing`` still prints the list-price table for assumed
throughputs (the defaults below).

Prices (USD, us-east-1, on-demand list prices, no free tier, no savings plans). Values as
published on the pages below; cross-checked against dated third-party snapshots (Lambda
tier-1 rates unchanged since the 2021 Graviton launch, Modal 2026-05-07, Fargate 2026-06).
Prices change: check the pages before budgeting.
"""

from __future__ import annotations

from dataclasses import dataclass

PER_MILLION = 1_000_000

# AWS Lambda, https://aws.amazon.com/lambda/pricing/ (first pricing tier: 6B GB-s/month
# x86, 7.5B GB-s/month arm64). Function URLs add no charge of their own.
LAMBDA_GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST_USD = 0.20 / PER_MILLION
LAMBDA_BILLING_GRANULARITY_S = 0.001  # duration is billed in 1 ms increments
# SnapStart for Python (same page): the cached snapshot per GB-s of memory while a version
# is active (3-hour minimum), and each restore per GB of memory restored.
LAMBDA_SNAPSTART_CACHE_GB_SECOND_USD = 0.0000015046
LAMBDA_SNAPSTART_RESTORE_GB_USD = 0.0001397998

# DynamoDB on-demand, https://aws.amazon.com/dynamodb/pricing/on-demand/: a read request
# unit reads up to 4 KB (half a unit eventually consistent, as BatchGetItem here), a write
# request unit writes up to 1 KB.
DYNAMODB_READ_UNIT_USD = 0.125 / PER_MILLION
DYNAMODB_WRITE_UNIT_USD = 0.625 / PER_MILLION

# Modal, https://modal.com/pricing: billed per second while a container runs.
MODAL_GPU_SECOND_USD = {
    "T4": 0.000164,
    "L4": 0.000222,
    "A10G": 0.000306,
    "L40S": 0.000542,
    "A100-40GB": 0.000583,
    "A100-80GB": 0.000694,
    "H100": 0.001097,
}
MODAL_CPU_CORE_SECOND_USD = 0.0000131  # per physical core (= 2 vCPU)
MODAL_MEMORY_GIB_SECOND_USD = 0.00000222

# AWS Fargate, https://aws.amazon.com/fargate/pricing/ (Linux/x86, on-demand). AWS Batch
# itself is free. Fargate Spot is "up to 70% off" and floats with supply and demand: the
# live rate is on the same page; ``spot_discount`` is the assumption, stated per row.
FARGATE_VCPU_HOUR_USD = 0.04048
FARGATE_GB_HOUR_USD = 0.004445
FARGATE_SPOT_DISCOUNT = 0.70


@dataclass(frozen=True)
class CostEstimate:
    host: str
    usd_per_million: float
    assumptions: str


def lambda_cost(
    *,
    architecture: str = "arm64",
    memory_mb: int = 2048,
    predictions_per_second: float = 100.0,
    predictions_per_request: int = 1,
) -> CostEstimate:
    """One execution environment serves ``predictions_per_second`` at ``memory_mb``.

    cost = requests x request price + billed GB-s x GB-s price, where
    requests = 1M / predictions_per_request and GB-s = 1M / throughput x memory in GB.
    """
    _positive(memory_mb=memory_mb, predictions_per_second=predictions_per_second)
    _positive(predictions_per_request=predictions_per_request)
    try:
        gb_second = LAMBDA_GB_SECOND_USD[architecture]
    except KeyError:
        raise ValueError(f"architecture {architecture!r}. Choices are: arm64|x86_64") from None
    requests = PER_MILLION / predictions_per_request
    gb_seconds = PER_MILLION / predictions_per_second * (memory_mb / 1024)
    usd = requests * LAMBDA_REQUEST_USD + gb_seconds * gb_second
    return CostEstimate(
        host=f"Lambda {architecture} {memory_mb} MB",
        usd_per_million=usd,
        assumptions=f"{predictions_per_second:g} pred/s per instance, "
        f"{predictions_per_request} pred/request",
    )


def modal_cost(
    *,
    gpu: str = "T4",
    predictions_per_second: float = 2000.0,
    cpu_cores: float = 1.0,
    memory_gib: float = 2.0,
    utilization: float = 1.0,
) -> CostEstimate:
    """One GPU container serves ``predictions_per_second``; billed seconds are the busy
    seconds divided by ``utilization`` (idle time before scale-down is billed too)."""
    _positive(predictions_per_second=predictions_per_second, utilization=utilization)
    if utilization > 1:
        raise ValueError(f"utilization must be in (0, 1], got {utilization}")
    try:
        gpu_second = MODAL_GPU_SECOND_USD[gpu]
    except KeyError:
        known = "|".join(MODAL_GPU_SECOND_USD)
        raise ValueError(f"gpu {gpu!r}. Choices are: {known}") from None
    per_second = (
        gpu_second
        + cpu_cores * MODAL_CPU_CORE_SECOND_USD
        + memory_gib * MODAL_MEMORY_GIB_SECOND_USD
    )
    seconds = PER_MILLION / predictions_per_second / utilization
    return CostEstimate(
        host=f"Modal {gpu}",
        usd_per_million=seconds * per_second,
        assumptions=f"{predictions_per_second:g} pred/s per GPU, {utilization:.0%} busy, "
        f"{cpu_cores:g} core + {memory_gib:g} GiB",
    )


def batch_fargate_spot_cost(
    *,
    vcpus: float = 2.0,
    memory_mb: int = 4096,
    predictions_per_second: float = 200.0,
    spot_discount: float = FARGATE_SPOT_DISCOUNT,
    utilization: float = 1.0,
) -> CostEstimate:
    """One Fargate Spot task of ``vcpus``/``memory_mb`` serves ``predictions_per_second``.

    cost = task hours x (vCPU x vCPU-hour + GB x GB-hour) x (1 - spot_discount).
    """
    _positive(vcpus=vcpus, memory_mb=memory_mb, predictions_per_second=predictions_per_second)
    _positive(utilization=utilization)
    if not 0 <= spot_discount < 1:
        raise ValueError(f"spot_discount must be in [0, 1), got {spot_discount}")
    hours = PER_MILLION / predictions_per_second / utilization / 3600
    hourly = vcpus * FARGATE_VCPU_HOUR_USD + (memory_mb / 1024) * FARGATE_GB_HOUR_USD
    return CostEstimate(
        host=f"Batch Fargate Spot {vcpus:g} vCPU {memory_mb / 1024:g} GB",
        usd_per_million=hours * hourly * (1 - spot_discount),
        assumptions=f"{predictions_per_second:g} pred/s per task, "
        f"{spot_discount:.0%} spot discount",
    )


def default_estimates() -> list[CostEstimate]:
    """``python -m precast.project.pricing``: precast.toml's defaults at assumed throughputs."""
    return [
        lambda_cost(architecture="arm64"),
        lambda_cost(architecture="x86_64"),
        lambda_cost(architecture="arm64", predictions_per_request=32),
        modal_cost(gpu="T4"),
        modal_cost(gpu="T4", utilization=0.25),
        batch_fargate_spot_cost(),
        batch_fargate_spot_cost(spot_discount=0.50),
    ]


def markdown_table(estimates: list[CostEstimate]) -> str:
    lines = [
        "| Host | USD per 1M predictions | Assumptions |",
        "|---|---:|---|",
        *(f"| {e.host} | {e.usd_per_million:.4f} | {e.assumptions} |" for e in estimates),
    ]
    return "\n".join(lines)


def _positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


if __name__ == "__main__":
    print(markdown_table(default_estimates()))
