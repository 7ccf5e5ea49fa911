"""Which host kinds an artifact is certified for, and whether this host is one of them.

``manifest.certified`` maps a host kind (:mod:`edge.host`) to what the accuracy gate
measured *there* (mean and worst cosine to the fp32 reference, the engine and execution
plan) and, for kinds certified after the build host, the deviation from it. ``optimize``
certifies the host it runs on; ``precast optimize MODEL --certify arm64`` adds aarch64 by
running the real arm64 Lambda asset under qemu. Older manifests without the field count as
certified for the kind their ``metrics.measured_on`` names.

A host of another kind still loads the artifact (its start-up smoke check guards against
garbage), but ``model.certified`` is False, the health check and ``/healthz`` say so, and
``PRECAST_REQUIRE_CERTIFIED=true`` turns that into an :class:`ArtifactError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.exceptions import ArtifactError
from edge.host import (
    AARCH64,
    X86_AVX2,
    X86_AVX512_VNNI,
    X86_OTHER,
    describe_host,
    host_kind,
    kind_of,
)
from edge.manifest import Manifest, Measurement

# The host kinds each Lambda architecture runs on. arm64 Lambda is Graviton (aarch64).
# x86_64 Lambda promises no CPU generation, so at deploy time (``precast package``, ``cdk
# synth``) an artifact certified on any x86_64 kind counts for it; on the running host,
# ``model.certified`` and ``/healthz`` still name the exact kind, and
# ``PRECAST_REQUIRE_CERTIFIED`` refuses a kind that was never measured.
LAMBDA_ARCHITECTURE_KINDS: dict[str, tuple[str, ...]] = {
    "arm64": (AARCH64,),
    "x86_64": (X86_AVX512_VNNI, X86_AVX2, X86_OTHER),
}


@dataclass(frozen=True)
class Certification:
    host_kind: str
    certified: bool
    certified_kinds: tuple[str, ...]
    measured: Measurement | None  # what the manifest says was measured on this kind
    variant: str = ""  # the manifest variant this is about (edge.variants); "" before variants

    def describe(self) -> str:
        kinds = ", ".join(self.certified_kinds) or "none"
        which = f"variant {self.variant} " if self.variant else ""
        if self.certified:
            return f"{which}certified for {self.host_kind} (certified kinds: {kinds})"
        return (
            f"{which}NOT certified for {self.host_kind} (never measured there); "
            f"certified kinds: {kinds}"
        )


def certified_kinds(manifest: Manifest) -> dict[str, Measurement]:
    """Host kind -> what was measured there: the manifest's ``certified``, or for older
    manifests the kind ``metrics.measured_on`` names, with those metrics."""
    if manifest.certified:
        return dict(manifest.certified)
    measured = manifest.metrics.measured_on
    if measured and measured.get("machine"):
        kind = kind_of(str(measured["machine"]), list(measured.get("isa") or []))
        return {kind: Measurement.from_json(manifest.metrics.to_json())}
    return {}


def kinds_for_architecture(manifest: Manifest, architecture: str) -> tuple[str, ...]:
    """The certified host kinds (sorted) a Lambda ``architecture`` can run the artifact on;
    empty if none: nothing was measured on that architecture."""
    wanted = LAMBDA_ARCHITECTURE_KINDS[architecture]
    return tuple(sorted(k for k in certified_kinds(manifest) if k in wanted))


def certification(manifest: Manifest, kind: str | None = None) -> Certification:
    kinds = certified_kinds(manifest)
    here = kind or host_kind()
    return Certification(here, here in kinds, tuple(sorted(kinds)), kinds.get(here))


def require_certified(manifest: Manifest, cert: Certification) -> None:
    if not cert.certified:
        raise ArtifactError(
            f"{manifest.name} {manifest.version} is not certified for this host, "
            f"{describe_host()} (certified: {', '.join(cert.certified_kinds) or 'none'}), and "
            "PRECAST_REQUIRE_CERTIFIED is set. Certify it on this kind of host (`precast "
            "optimize MODEL` here, or `--certify arm64` for aarch64) or unset the variable."
        )
