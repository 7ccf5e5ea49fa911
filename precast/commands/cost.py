"""``precast cost``: USD per 1M predictions per host, from the measured benchmark results.

    precast cost --rps 20 --hit-ratio 0.6 [--texts-per-request 1] [--burstiness 1]
                 [--bursts-per-hour 1] [--lifetime-s 3600] [--model NAME] [--results DIR]
                 [--markdown]

Throughputs, request times and cold starts come from ``benchmarks/results/*.json`` (each
printed with its file and date); prices from ``precast/project/pricing.py``; memory sizes,
architecture and batch task size from precast.toml. The model is in
:mod:`precast.project.cost_model`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from precast.project.cost_model import CostReport
    from precast.project.measurements import Measurements


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cost",
        help="USD per 1M predictions per host for a traffic shape, from measured numbers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rps", type=float, required=True, help="mean requests per second")
    p.add_argument(
        "--texts-per-request", type=int, default=1, help="texts in one request (default 1)"
    )
    p.add_argument("--hit-ratio", type=float, default=0.0, help="cache hit ratio, 0-1")
    p.add_argument("--burstiness", type=float, default=1.0, help="peak rps / mean rps, >= 1")
    p.add_argument(
        "--bursts-per-hour",
        type=float,
        default=1.0,
        help="how often traffic bursts to its peak, per hour (each burst cold-starts; default 1)",
    )
    p.add_argument("--lifetime-s", type=float, default=3600.0, help="how long an environment lives")
    p.add_argument("--model", default=None, help="model in precast.toml (default: the first)")
    p.add_argument("--results", type=Path, default=None, help="default: benchmarks/results")
    p.add_argument("--markdown", action="store_true", help="the table only, as Markdown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from precast.project.config import load_config
    from precast.project.cost_model import Traffic, estimate
    from precast.project.exceptions import ConfigError
    from precast.project.measurements import load_measurements

    cfg = load_config(args.config)
    model = cfg.model(args.model or next(iter(cfg.models)))
    try:
        traffic = Traffic(
            rps=args.rps,
            texts_per_request=args.texts_per_request,
            hit_ratio=args.hit_ratio,
            burstiness=args.burstiness,
            bursts_per_hour=args.bursts_per_hour,
            environment_lifetime_s=args.lifetime_s,
        )
    except ValueError as exc:
        raise ConfigError(f"precast cost: {exc}") from None
    results = args.results or cfg.root / "benchmarks" / "results"
    measured = load_measurements(results)
    deploy = deployment(model, cfg.artifacts_dir)
    report = estimate(traffic, deploy, measured)
    print(markdown(report) if args.markdown else render(report, measured, results, deploy))
    return 0


def deployment(model: Any, artifacts_dir: Path) -> Any:
    """The deployment the config describes; the vector size from the latest artifact."""
    from edge.artifact_layout import read_latest_pointer
    from edge.manifest import read_manifest
    from precast.project.cost_model import Deployment

    dim = 384
    latest = read_latest_pointer(artifacts_dir / model.name)
    if latest is not None:
        dim = read_manifest(latest).dim
    return Deployment(
        lambda_architecture=model.lambda_.architecture,
        lambda_memory_mb=model.lambda_.memory_mb,
        batch_vcpus=float(model.batch.vcpus),
        batch_memory_mb=model.batch.memory_mb,
        vector_bytes=dim * 4,
        write_back=model.serving.write_back,
        modal_gpu=model.modal.gpu,
    )


def markdown(report: CostReport) -> str:
    lines = [
        f"Traffic: {report.traffic.describe()}.",
        "",
        "| Host | USD per 1M predictions | cold-start share | assumptions |",
        "|---|---:|---:|---|",
    ]
    for row in report.rows:
        usd = "not measured" if row.usd_per_million is None else f"{row.usd_per_million:.4f}"
        share = "" if row.cold_start_share is None else f"{row.cold_start_share:.2%}"
        lines.append(f"| {row.host} | {usd} | {share} | {'; '.join(row.assumptions)} |")
    lines += [
        "",
        f"Hybrid saving from cache hits (Lambda, SnapStart): {_usd(report.hybrid_saving_usd)} "
        f"per 1M predictions ({report.hybrid_saving_share:.0%} of serving every text live"
        + (
            "; negative: the cache costs more than recomputing here)."
            if report.hybrid_saving_usd < 0
            else ")."
        ),
    ]
    return "\n".join(lines)


def _usd(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):.4f}"


def render(report: CostReport, measured: Measurements, results: Path, deploy: Any) -> str:
    from precast.project import pricing

    inputs = [
        measured.lambda_miss_texts_per_s,
        measured.lambda_request_s,
        measured.cold_start_s,
        measured.restore_s,
        measured.batch_texts_per_s,
    ]
    if measured.gpu_texts_per_s is not None:
        inputs.append(measured.gpu_texts_per_s)
    lines = [markdown(report), "", f"Measured inputs ({results}):"]
    lines += [f"- {i.value:.4g} {i.what}: {i.cite()} on {i.machine}" for i in inputs]
    lines += [
        "- Lambda is assumed as fast as the measuring machine at the configured memory "
        "(Lambda gives about 1 vCPU per 1769 MB): measure on Lambda to replace it.",
        "",
        "Prices (USD, us-east-1 list prices, no free tier; sources in "
        "precast/project/pricing.py, check them before budgeting):",
        f"- Lambda {deploy.lambda_architecture} GB-s "
        f"{pricing.LAMBDA_GB_SECOND_USD[deploy.lambda_architecture]}, request "
        f"{pricing.LAMBDA_REQUEST_USD * 1e6:.2f}/1M, SnapStart restore "
        f"{pricing.LAMBDA_SNAPSTART_RESTORE_GB_USD}/GB and cache "
        f"{pricing.LAMBDA_SNAPSTART_CACHE_GB_SECOND_USD}/GB-s",
        f"- DynamoDB on-demand read unit {pricing.DYNAMODB_READ_UNIT_USD * 1e6:.3f}/1M, write "
        f"unit {pricing.DYNAMODB_WRITE_UNIT_USD * 1e6:.3f}/1M",
        f"- Modal CPU core-s {pricing.MODAL_CPU_CORE_SECOND_USD}, GiB-s "
        f"{pricing.MODAL_MEMORY_GIB_SECOND_USD}, {deploy.modal_gpu} GPU-s "
        f"{pricing.MODAL_GPU_SECOND_USD.get(deploy.modal_gpu, '?')}",
        f"- Fargate vCPU-h {pricing.FARGATE_VCPU_HOUR_USD}, GB-h {pricing.FARGATE_GB_HOUR_USD}, "
        f"Spot discount assumed {pricing.FARGATE_SPOT_DISCOUNT:.0%}",
    ]
    return "\n".join(lines)
