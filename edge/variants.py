"""Which variant of an artifact runs on this host, and why.

A manifest lists one or more variants (:class:`edge.manifest.VariantSpec`): model file,
engine, provider, precision, and per host kind what was measured there. :func:`rank` orders
the ones this host can run, from host facts that are passed in (so tests inject them):

1. an accelerator variant whose provider is requested and available (CUDA on Modal): a GPU
   beats any CPU variant; it is certified under :data:`edge.host.CUDA`;
2. CPU variants certified for this host kind, fastest measured *on this kind* first;
3. the default variant (``model.onnx`` on ONNX Runtime CPU), last and always.

A variant is skipped, with the reason recorded, when its file is not in this copy of the
artifact (a bundle or Lambda asset carries only what its target runs), its engine is not
installed, its provider is absent, or ``PRECAST_VARIANT`` names another one.
:func:`open_best` then opens the first that loads; one that fails to load (or whose
provider does not initialize) is skipped in turn, so the default ORT CPU variant is the
fallback (also when another variant fails its start-up smoke check: :mod:`edge.model`).
:class:`VariantChoice` says which ran and why (``model.variant``, ``precast info``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.engines import INSTALL_HINT, ONNXRUNTIME, installed_engines, open_engine
from edge.environment import PRECAST_ORT_PROVIDERS, PRECAST_VARIANT
from edge.exceptions import ArtifactError
from edge.host import CUDA, host_kind
from edge.manifest import Manifest, Measurement, VariantSpec, verify_variant_file

if TYPE_CHECKING:
    from edge.engines.protocol import EngineSession
    from edge.execution import ExecutionPlan
    from edge.session import SessionConfig

CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class HostFacts:
    """What decides the choice: host kind (ISA), ORT providers requested and available,
    engines installed."""

    kind: str
    available_providers: tuple[str, ...]
    requested_providers: tuple[str, ...]
    engines: frozenset[str]

    @classmethod
    def detect(cls, config: SessionConfig | None = None) -> HostFacts:
        import onnxruntime as ort

        requested = config.providers if config is not None else "auto"
        wanted = PRECAST_ORT_PROVIDERS.read() if requested == "auto" else tuple(requested)
        return cls(host_kind(), tuple(ort.get_available_providers()), wanted, installed_engines())

    def active(self, variant: VariantSpec) -> bool:
        if on_cpu(variant):
            return True
        provider = variant.provider
        return provider in self.available_providers and provider in self.requested_providers


def on_cpu(variant: VariantSpec) -> bool:
    """ORT's CPU provider, or another engine's CPU device (the only one edge drives)."""
    if variant.engine == ONNXRUNTIME:
        return variant.provider == CPU
    return variant.provider.upper() == "CPU"


@dataclass(frozen=True)
class VariantChoice:
    """The variant that runs, the host kind its certification is read under, and why."""

    variant: VariantSpec
    kind: str
    certified: bool
    measured: Measurement | None
    reason: str
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return self.variant.name

    def describe(self) -> str:
        v = self.variant
        text = f"{v.name} ({v.engine} {v.provider}, {v.precision}, {v.file}): {self.reason}"
        if not self.certified:
            text += f"; NOT certified for {self.kind} (never measured there)"
        if self.skipped:
            text += "; skipped: " + "; ".join(f"{n}: {why}" for n, why in self.skipped)
        return text

    def as_dict(self) -> dict[str, Any]:
        v = self.variant
        return {
            "name": v.name,
            "file": v.file,
            "engine": v.engine,
            "provider": v.provider,
            "precision": v.precision,
            "host_kind": self.kind,
            "certified": self.certified,
            "reason": self.reason,
            "skipped": dict(self.skipped),
        }


def certifications(manifest: Manifest, variant: VariantSpec) -> dict[str, Measurement]:
    """Host kind -> what was measured there, for one variant (the default variant's is the
    manifest's top-level ``certified``, see :mod:`edge.certification`)."""
    if variant.is_default and not variant.certified:
        from edge.certification import certified_kinds

        return certified_kinds(manifest)
    return dict(variant.certified)


def kind_for(variant: VariantSpec, facts: HostFacts) -> str:
    """The host kind a variant's certification is read under: :data:`CUDA` for a CUDA
    variant (its answers depend on the GPU's kernels), else this CPU's kind."""
    return CUDA if variant.provider == "CUDAExecutionProvider" else facts.kind


def _texts_per_s(measured: Measurement | None) -> float:
    value = measured.texts_per_s if measured is not None else None
    return float(value) if value is not None else 0.0


def _unavailable(variant: VariantSpec, facts: HostFacts, present: set[str]) -> str | None:
    if variant.file not in present:
        return f"{variant.file} is not in this copy (built for another target)"
    if variant.engine not in facts.engines:
        hint = INSTALL_HINT.get(variant.engine, "unknown to this runtime")
        return f"engine {variant.engine} is not installed ({hint})"
    if not facts.active(variant):
        if variant.provider not in facts.available_providers:
            here = ", ".join(facts.available_providers)
            return f"{variant.provider} is not available here ({here})"
        return f"{variant.provider} is not among the requested providers"
    return None


def rank(
    manifest: Manifest,
    facts: HostFacts,
    present: set[str],
    *,
    forced: str | None = None,
) -> tuple[list[tuple[VariantSpec, str]], list[tuple[str, str]]]:
    """(runnable variants best first, each with why; skipped ones with why)."""
    variants = manifest.variants
    if forced is not None and forced not in {v.name for v in variants}:
        names = "|".join(v.name for v in variants)
        raise ArtifactError(f"{PRECAST_VARIANT.name}={forced!r}: choices are {names}")
    skipped: list[tuple[str, str]] = []
    runnable: list[tuple[tuple[int, float], VariantSpec, str]] = []
    for v in variants:
        why_not = _unavailable(v, facts, present)
        if forced is not None and v.name != forced and not v.is_default:
            why_not = why_not or f"{PRECAST_VARIANT.name} asks for {forced}"
        if why_not is not None:
            skipped.append((v.name, why_not))
            continue
        kind = kind_for(v, facts)
        measured = certifications(manifest, v).get(kind)
        speed = _texts_per_s(measured)
        if forced == v.name:
            runnable.append(((0, 0.0), v, f"forced by {PRECAST_VARIANT.name}"))
        elif not on_cpu(v):
            runnable.append(((1, -speed), v, f"{v.provider} is active here"))
        elif measured is not None and not (v.is_default and forced is not None):
            why = f"certified on {kind}"
            why += f", {speed:.0f} texts/s measured there" if speed else ""
            runnable.append(((2, -speed), v, why))
        else:
            runnable.append(((3 if v.is_default else 4, -speed), v, "default (ORT CPU)"))
    runnable.sort(key=lambda item: item[0])
    ordered = [(v, why) for _, v, why in runnable]
    if sum(1 for key, _, _ in runnable if key[0] == 2) > 1 and runnable[0][0][0] == 2:
        ordered[0] = (ordered[0][0], "fastest " + ordered[0][1])
    return ordered, skipped


def open_best(
    directory: Path,
    manifest: Manifest,
    config: SessionConfig | None = None,
    *,
    facts: HostFacts | None = None,
) -> tuple[EngineSession, ExecutionPlan, VariantChoice]:
    """Open the best variant that loads here; falls back down :func:`rank`'s order."""
    here = facts or HostFacts.detect(config)
    present = {v.file for v in manifest.variants if (directory / v.file).is_file()}
    forced = (config.variant if config is not None else None) or PRECAST_VARIANT.read()
    ordered, skipped = rank(manifest, here, present, forced=forced)
    errors: list[str] = []
    for variant, why in ordered:
        try:
            if not variant.is_default:  # model.onnx was verified with the manifest's files
                verify_variant_file(directory, variant)
            session, plan = open_engine(
                variant.engine,
                directory / variant.file,
                config,
                provider=variant.provider,
                precision=variant.precision,
            )
        except Exception as exc:  # any engine failure: record it and fall back
            skipped.append((variant.name, f"failed to load: {exc}"))
            errors.append(f"{variant.name}: {exc}")
            continue
        kind = kind_for(variant, here)
        measured = certifications(manifest, variant).get(kind)
        if errors:
            why = f"fallback after {len(errors)} failed: {why}"
        choice = VariantChoice(variant, kind, measured is not None, measured, why, tuple(skipped))
        return session, plan, choice
    raise ArtifactError(
        f"{directory}: no variant of {manifest.name} {manifest.version} runs here: "
        + "; ".join(errors or [f"{n}: {why}" for n, why in skipped])
    )
