"""Certification of an artifact per host kind, written into its manifest.

The build host is certified by the accuracy gate itself (:func:`build_host_entry`).
``precast optimize MODEL --certify arm64`` adds ``aarch64``: the real arm64 Lambda asset
runs under qemu (:mod:`optimize.emulation`) on held-out texts; its accuracy against the
fp32 reference and its deviation from this host's vectors go into ``manifest.certified``.
The model files are unchanged, but the manifest is content, so the certified artifact is a
new version next to the old one (``latest`` moves to it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.artifact_layout import point_latest
from edge.host import AARCH64, host_kind
from edge.manifest import Measurement, Metrics, read_manifest
from optimize.isa import cpu_info

TARGETS = {"arm64": AARCH64}


def build_host_entry(metrics: Metrics) -> Measurement:
    """What the gate measured on the machine building the artifact."""
    import onnxruntime

    return Measurement.from_json(
        {
            "mean_cosine": metrics.mean_cosine,
            "min_cosine": metrics.min_cosine,
            "neighbour_agreement": metrics.neighbour_agreement,
            "texts_per_s": metrics.texts_per_s,
            "engine": f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider",
            "plan": "per-text",
            "measured_on": cpu_info(),
            "how": "accuracy gate on the build host",
        }
    )


def arm64_entry(report: dict[str, Any]) -> Measurement:
    return Measurement(
        mean_cosine=report["arm64_vs_fp32"]["mean_cosine"],
        min_cosine=report["arm64_vs_fp32"]["min_cosine"],
        deviation_from={
            report["build_host"].split(" ")[0]: {
                "mean_cosine": report["arm64_vs_this_host"]["mean_cosine"],
                "min_cosine": report["arm64_vs_this_host"]["min_cosine"],
                "max_abs_diff": report["arm64_vs_this_host"]["max_abs_diff"],
                "identical_rows": report["arm64_vs_this_host"]["identical_rows"],
            }
        },
        texts=report["texts"],
        engine="onnxruntime (manylinux aarch64 wheel of the Lambda asset)",
        plan=report["plan"],
        measured_on=f"qemu-aarch64 10 -cpu {report['emulated_cpu']} (emulated), Python "
        f"{report['guest']['python']}",
        handler=report["handler"],
        how="the arm64 Lambda asset executed under qemu-user",
    )


def certify_artifact(
    directory: Path, model_cfg: Any, targets: list[str], *, texts: int = 200
) -> tuple[Path, dict[str, Any]]:
    """Certify ``directory`` for each target; returns the new version's directory."""
    from optimize.emulation import EmulationError, certify_directory

    manifest = read_manifest(directory)
    certified = dict(manifest.certified) or {host_kind(): build_host_entry(manifest.metrics)}
    reports: dict[str, Any] = {}
    for target in targets:
        if target not in TARGETS:
            raise EmulationError(f"cannot certify {target!r}. Choices are: {'|'.join(TARGETS)}")
        report = certify_directory(directory, model_cfg, texts=texts)
        if not report["passed"]:
            raise EmulationError(
                f"{target} fails the accuracy gate or the handler check: "
                f"{report['arm64_vs_fp32']} {report['handler']}"
            )
        certified[TARGETS[target]] = arm64_entry(report)
        reports[target] = report
    new = replace(manifest, certified=certified).versioned()
    root = directory.parent
    work = Path(tempfile.mkdtemp(prefix=".certify-", dir=root))
    try:
        carried = [v.file for v in new.variants if (directory / v.file).is_file()]
        for name in sorted({*new.files, *carried}):
            shutil.copyfile(directory / name, work / name)
        from optimize.steps import write_manifest

        write_manifest(work, new)
        target_dir = root / new.version
        if not target_dir.exists():
            os.rename(work, target_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    point_latest(root, new.version)
    return target_dir, reports
