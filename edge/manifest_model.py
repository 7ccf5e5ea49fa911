"""The manifest.json document as one typed dataclass: the optimizer writes it, runtimes read it.

:class:`Manifest` is both directions of the contract: ``to_json()`` is what ``optimize``
writes, ``from_json()`` is what :func:`edge.manifest.read_manifest` validates (with
messages that name the file and the field), and the runtime reads its fields and
properties. Its open sections (:class:`Quantization`, :class:`Metrics`, :class:`SmokeSet`,
:class:`Source`, and per host kind a :class:`Measurement` in ``certified``) are typed
:class:`Section` objects; what this runtime does not know (a key a later precast adds)
is kept in their ``extra`` and the manifest's own, so reading and writing a manifest back
changes nothing. Its version is :func:`manifest_version`: a hash of the whole canonical
document except the version itself and ``created_at``, so any change of content is a new
version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Self

from edge.exceptions import ArtifactError

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
TASKS = ("feature-extraction", "text-classification", "text-ranking")
# sentence-transformers' pooling_mode names (1_Pooling/config.json), one spelling each
POOLINGS = ("mean", "cls", "max", "lasttoken")
# how a text-classification head's logits become probabilities (transformers' problem_type)
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification")
REQUIRED_FILES = ("model.onnx", "tokenizer.json")
DEFAULT_MODEL_FILE = REQUIRED_FILES[0]  # the ORT CPU variant every copy of an artifact carries
# What the version cannot hash: itself, and the moment of writing.
UNVERSIONED_FIELDS = ("version", "created_at")
Shape = tuple[str | int, ...]
# The smallest cosine between a host's answers and the manifest's smoke vectors that passes
# (``smoke.min_cosine``, which optimize writes; also what a smoke set without one asks for).
SMOKE_MIN_COSINE = 0.99


def canonical_json(doc: dict[str, Any]) -> bytes:
    """The manifest's canonical form: sorted keys, no whitespace, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_version(doc: dict[str, Any]) -> str:
    """16 hex of sha256 over the canonical manifest minus :data:`UNVERSIONED_FIELDS`. The
    manifest lists every file's sha256, so a change of any file or field is a new version."""
    content = {k: v for k, v in doc.items() if k not in UNVERSIONED_FIELDS}
    return hashlib.sha256(canonical_json(content)).hexdigest()[:16]


def _require(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in raw:
        raise ArtifactError(f"{where}: manifest has no {key!r}")
    value = raw[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ArtifactError(f"{where}: manifest {key!r} has the wrong type ({value!r})")
    return value


_ABSENT = object()
_NUMBER = (int, float)


def _fits(value: Any, kind: type | tuple[type, ...]) -> bool:
    """Whether a JSON value has the type ``kind`` (a bool is no number)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def _key(
    kind: type | tuple[type, ...],
    load: Callable[[Any], Any] | None = None,
    dump: Callable[[Any], Any] | None = None,
) -> Any:
    """A section field read from the JSON key of its name: absent (None) unless the value
    has the type ``kind`` and ``load`` (if any) accepts it (returns not ``_ABSENT``)."""
    return field(default=None, metadata={"json": kind, "load": load, "dump": dump})


@dataclass(frozen=True, kw_only=True)
class Section:
    """A JSON object of the manifest: each key this runtime knows is a typed field (None:
    absent), and ``extra`` keeps the rest as read (keys a later precast adds, or a known key
    with a value of another type), so that writing the manifest back changes nothing."""

    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> Self:
        if not isinstance(raw, dict):
            return cls()
        known = {f.name: f.metadata for f in fields(cls) if "json" in f.metadata}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            meta = known.get(key)
            loaded = _ABSENT
            if meta is not None and _fits(value, meta["json"]):
                loaded = meta["load"](value) if meta["load"] else value
            if loaded is _ABSENT:
                extra[key] = value
            else:
                values[key] = loaded
        return cls(**values, extra=extra)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if "json" in f.metadata and value is not None:
                doc[f.name] = f.metadata["dump"](value) if f.metadata["dump"] else value
        return {**doc, **self.extra}

    def __bool__(self) -> bool:
        """Whether the section has any key (an empty one is not written)."""
        return bool(self.to_json())


@dataclass(frozen=True, kw_only=True)
class Quantization(Section):
    """How the model file was quantized: the winning recipe and why, every candidate's
    scores and verdict, the graph's op counts and fusions (written by ``optimize``)."""

    recipe: str | None = _key(str)
    settings: dict[str, Any] | None = _key(dict)
    reason: str | None = _key(str)
    budget_met: bool | None = _key(bool)
    candidates: dict[str, dict[str, Any]] | None = _key(dict)
    op_counts: dict[str, int] | None = _key(dict)
    variants: dict[str, dict[str, Any]] | None = _key(dict)  # the extra variants' verdicts
    fusions: dict[str, Any] | None = _key(dict)


@dataclass(frozen=True, kw_only=True)
class GateScores(Section):
    """What an accuracy gate measured against the fp32 reference (mean/min cosine,
    neighbour agreement, the task's own measures), the speed and size, and where."""

    mean_cosine: float | None = _key(_NUMBER)
    min_cosine: float | None = _key(_NUMBER)
    neighbour_agreement: float | None = _key(_NUMBER)
    texts_per_s: float | None = _key(_NUMBER)
    size_bytes: int | None = _key(int)
    top1_agreement: float | None = _key(_NUMBER)
    max_probability_change: float | None = _key(_NUMBER)
    kendall_tau: float | None = _key(_NUMBER)


@dataclass(frozen=True, kw_only=True)
class Metrics(GateScores):
    """The winner's scores on the held-out set, measured on the build host."""

    eval_set: str | None = _key(str)
    reference: str | None = _key(str)
    measured_on: dict[str, Any] | None = _key(dict)  # optimize.isa.cpu_info()


@dataclass(frozen=True, kw_only=True)
class Measurement(GateScores):
    """What was measured on one host kind (an entry of ``certified``): the accuracy, the
    engine and plan that ran, and for a kind certified after the build host, the
    deviation from it (:mod:`edge.certification`, :mod:`optimize.certify`)."""

    engine: str | None = _key(str)
    plan: str | None = _key(str)
    how: str | None = _key(str)
    texts: int | None = _key(int)
    measured_on: dict[str, Any] | str | None = _key((dict, str))
    deviation_from: dict[str, Any] | None = _key(dict)
    handler: dict[str, Any] | None = _key(dict)


def _strings(value: list[Any]) -> Any:
    return tuple(value) if all(isinstance(x, str) for x in value) else _ABSENT


def _rows(value: list[Any]) -> Any:
    return tuple(tuple(r) for r in value) if all(isinstance(r, list) for r in value) else _ABSENT


def _lists(rows: tuple[tuple[float, ...], ...]) -> list[list[float]]:
    return [list(r) for r in rows]


@dataclass(frozen=True, kw_only=True)
class SmokeSet(Section):
    """Known texts and the vectors the artifact gave for them on the build host, each run
    alone: every host's start-up check (:mod:`edge.smoke`) and health check."""

    texts: tuple[str, ...] | None = _key(list, _strings, list)
    vectors: tuple[tuple[float, ...], ...] | None = _key(list, _rows, _lists)
    min_cosine: float | None = _key(_NUMBER)

    @property
    def required(self) -> float:
        """The smallest row cosine that passes: ``min_cosine``, else :data:`SMOKE_MIN_COSINE`."""
        return float(self.min_cosine) if self.min_cosine is not None else SMOKE_MIN_COSINE


@dataclass(frozen=True, kw_only=True)
class Source(Section):
    """What the artifact was built from: the model's path, the input fingerprint that
    ``optimize`` reuses an artifact by, and the tools' versions."""

    path: str | None = _key(str)
    fingerprint: str | None = _key(str)
    tools: dict[str, str] | None = _key(dict)


def _certified(raw: Any) -> dict[str, Measurement]:
    """Host kind -> :class:`Measurement`; an entry that is no JSON object is no measurement."""
    if not isinstance(raw, dict):
        return {}
    return {k: Measurement.from_json(v) for k, v in raw.items() if isinstance(v, dict)}


def _certified_json(certified: dict[str, Measurement]) -> dict[str, Any]:
    return {k: m.to_json() for k, m in certified.items()}


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: Shape

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, raw: Any, *, default_name: str = "") -> TensorSpec:
        if not isinstance(raw, dict):  # early manifests listed input names only
            return cls(str(raw), "int64", ("batch", "sequence"))
        name = str(raw.get("name", default_name))
        return cls(name, str(raw.get("dtype", "float32")), tuple(raw.get("shape", [])))


@dataclass(frozen=True)
class LimitsSpec:
    max_batch: int = 64
    max_chars: int = 8192
    truncate: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"max_batch": self.max_batch, "max_chars": self.max_chars, "truncate": self.truncate}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> LimitsSpec:
        if not isinstance(raw, dict):
            raise ArtifactError(f"{where}: manifest 'limits' must be an object")
        return cls(
            max_batch=int(raw.get("max_batch", 64)),
            max_chars=int(raw.get("max_chars", 8192)),
            truncate=bool(raw.get("truncate", True)),
        )


def _plain_name(name: str) -> bool:
    return not ("/" in name or "\\" in name or name.startswith("."))


@dataclass(frozen=True)
class VariantSpec:
    """One model file of an artifact and how it runs: engine, provider, precision, and per
    host kind (:mod:`edge.host`) what was measured there (accuracy vs fp32, texts/s).

    The default variant (``file == "model.onnx"``, ONNX Runtime on the CPU) is listed in
    ``files`` and is certified by the manifest's top-level ``certified``; its ``certified``
    here stays empty so that fact lives once. Other variants' files are listed here only,
    with their own sha256: a copy of the artifact (bundle, Lambda asset) may leave them out.
    """

    name: str
    file: str
    sha256: str
    size: int
    engine: str = "onnxruntime"  # edge.engines: onnxruntime | openvino
    provider: str = "CPUExecutionProvider"  # ORT provider, or the engine's device ("CPU")
    precision: str = "int8"  # fp32 | fp16 | bf16 | int8
    recipe: str = ""
    certified: dict[str, Measurement] = field(default_factory=dict)
    # this variant's answers to manifest.smoke's texts (the default's are in manifest.smoke)
    smoke: tuple[tuple[float, ...], ...] = ()

    @property
    def is_default(self) -> bool:
        return self.file == DEFAULT_MODEL_FILE

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "engine": self.engine,
            "provider": self.provider,
            "precision": self.precision,
            "recipe": self.recipe,
        }
        if self.certified:
            doc["certified"] = _certified_json(self.certified)
        if self.smoke:
            doc["smoke"] = [list(row) for row in self.smoke]
        return doc

    @classmethod
    def from_json(cls, raw: Any, where: str) -> VariantSpec:
        if not isinstance(raw, dict):
            raise ArtifactError(f"{where}: each of manifest 'variants' must be an object")
        name = _require(raw, "name", str, where)
        file = _require(raw, "file", str, where)
        if not _plain_name(file):
            raise ArtifactError(f"{where}: variant {name!r} file {file!r} must be a plain name")
        return cls(
            name=name,
            file=file,
            sha256=_require(raw, "sha256", str, where),
            size=int(raw.get("size", -1)),
            engine=str(raw.get("engine", "onnxruntime")),
            provider=str(raw.get("provider", "CPUExecutionProvider")),
            precision=str(raw.get("precision", "int8")),
            recipe=str(raw.get("recipe", "")),
            certified=_certified(raw.get("certified")),
            smoke=tuple(tuple(float(x) for x in row) for row in raw.get("smoke", [])),
        )


def _variants(
    raw: dict[str, Any], files: dict[str, FileEntry], where: str
) -> tuple[VariantSpec, ...]:
    """The ``variants`` list (absent in single-file manifests: empty)."""
    listed = raw.get("variants", [])
    if not isinstance(listed, list):
        raise ArtifactError(f"{where}: manifest 'variants' must be a list")
    variants = tuple(VariantSpec.from_json(v, where) for v in listed)
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ArtifactError(f"{where}: variant names must be unique ({names})")
    for v in variants:
        if v.file in files and files[v.file].sha256 != v.sha256:
            raise ArtifactError(
                f"{where}: variant {v.name!r} sha256 differs from files[{v.file!r}]"
            )
    if variants and not any(v.is_default for v in variants):
        raise ArtifactError(f"{where}: variants list none for {DEFAULT_MODEL_FILE!r}")
    return variants


def _files(raw: dict[str, Any], where: str) -> dict[str, FileEntry]:
    files: dict[str, FileEntry] = {}
    for name, entry in _require(raw, "files", dict, where).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ArtifactError(f"{where}: files[{name!r}] needs sha256 and size")
        if not _plain_name(name):
            raise ArtifactError(f"{where}: files[{name!r}] must be a plain file name")
        files[name] = FileEntry(sha256=entry["sha256"], size=int(entry.get("size", -1)))
    for needed in REQUIRED_FILES:
        if needed not in files:
            raise ArtifactError(f"{where}: manifest lists no {needed!r}")
    return files


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    value: str = _require(raw, key, str, where)
    if value not in choices:
        raise ArtifactError(f"{where}: {key} {value!r} not supported ({'|'.join(choices)})")
    return value


def default_variant_name(precision: str) -> str:
    return f"cpu-{precision}"


# the top-level keys this runtime knows; the others are kept in Manifest.extra
_KNOWN_KEYS = frozenset(
    {
        "format_version", "name", "version", "task", "dim", "inputs", "outputs", "embedding",
        "pooling", "normalize", "max_tokens", "limits", "files", "quantization", "metrics",
        "smoke", "source", "certified", "variants", "created_at", "precast_version",
        "prompts", "default_prompt_name", "labels", "problem_type", "truncate_dims",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Manifest:
    """manifest.json, every field typed: what ``optimize`` writes and every runtime reads.
    ``extra`` keeps top-level keys this runtime does not know (a later precast's), so a
    manifest read and written back, and its version, are unchanged."""

    name: str
    task: str
    dim: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    pooling: str
    normalize: bool
    max_tokens: int
    limits: LimitsSpec
    files: dict[str, FileEntry] = field(default_factory=dict)
    quantization: Quantization = field(default_factory=Quantization)
    metrics: Metrics = field(default_factory=Metrics)
    smoke: SmokeSet = field(default_factory=SmokeSet)
    source: Source = field(default_factory=Source)
    # host kind (edge.host) -> the accuracy measured there and its deviation from the others
    # (the default variant's certification, see edge.certification)
    certified: dict[str, Measurement] = field(default_factory=dict)
    # the manifest's ``variants``: model files and how they run (edge.variants picks one per
    # host); empty: model.onnx only (``variants`` then implies the default one)
    listed_variants: tuple[VariantSpec, ...] = ()
    created_at: str = ""
    precast_version: str = ""
    version: str = ""
    format_version: int = FORMAT_VERSION
    # feature-extraction: named prompts (sentence-transformers' config) and the default one
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str = ""
    # text-classification: label names by class index, and softmax vs sigmoid
    labels: tuple[str, ...] = ()
    problem_type: str = ""
    # feature-extraction: the smaller sizes a caller may ask for (OpenAI ``dimensions``):
    # the first d values, renormalized. Only when the config says the model allows it
    # (Matryoshka-trained); written only when set, so older manifests keep their version.
    truncate_dims: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output(self) -> str:
        """The name of the model output the runtime reads."""
        return self.outputs[0].name

    @property
    def max_batch(self) -> int:
        return self.limits.max_batch

    @property
    def max_chars(self) -> int:
        return self.limits.max_chars

    @property
    def truncate(self) -> bool:
        return self.limits.truncate

    @property
    def multi_label(self) -> bool:
        """Sigmoid per label (multi-label) instead of softmax over labels."""
        return self.problem_type == "multi_label_classification"

    @property
    def variants(self) -> tuple[VariantSpec, ...]:
        """The listed variants; a single-file manifest has one, ONNX Runtime CPU on
        ``model.onnx`` (its precision from the quantization recipe)."""
        if self.listed_variants:
            return self.listed_variants
        entry = self.files[DEFAULT_MODEL_FILE]
        recipe = self.quantization.recipe or ""
        precision = "fp32" if recipe.startswith("fp32") else "int8"
        return (
            VariantSpec(
                default_variant_name(precision),
                DEFAULT_MODEL_FILE,
                entry.sha256,
                entry.size,
                precision=precision,
                recipe=recipe,
            ),
        )

    def summary(self) -> dict[str, Any]:
        """What the HTTP API shows for a model: stable, small, no file list."""
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "dim": self.dim,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_tokens": self.max_tokens,
            "truncate": self.truncate,
            **({"prompts": dict(self.prompts)} if self.prompts else {}),
            **({"labels": list(self.labels)} if self.labels else {}),
            "limits": {"max_batch": self.max_batch, "max_chars": self.max_chars},
            "quantization": self.quantization.recipe,
            "metrics": self.metrics.to_json(),
            "certified_hosts": sorted(self.certified),
            "variants": [v.name for v in self.variants],
            "created_at": self.created_at or None,
        }

    def content(self) -> dict[str, Any]:
        """The JSON document without ``version`` (what the version hashes, plus created_at)."""
        doc: dict[str, Any] = {
            **self.extra,
            "format_version": self.format_version,
            "name": self.name,
            "task": self.task,
            "dim": self.dim,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "embedding": {"dtype": "float32", "shape": ["batch", self.dim]},
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_tokens": self.max_tokens,
            "limits": self.limits.to_json(),
            "files": {n: e.to_json() for n, e in sorted(self.files.items())},
        }
        sections = {
            "quantization": self.quantization,
            "metrics": self.metrics,
            "smoke": self.smoke,
            "source": self.source,
        }
        doc.update({k: section.to_json() for k, section in sections.items() if section})
        if self.certified:
            doc["certified"] = _certified_json(self.certified)
        optional = (
            "created_at",
            "precast_version",
            "prompts",
            "default_prompt_name",
            "problem_type",
        )
        doc.update({k: getattr(self, k) for k in optional if getattr(self, k)})
        if self.labels:
            doc["labels"] = list(self.labels)
        if self.truncate_dims:
            doc["truncate_dims"] = list(self.truncate_dims)
        if self.listed_variants:
            doc["variants"] = [v.to_json() for v in self.listed_variants]
        return doc

    def versioned(self) -> Manifest:
        """This manifest with its version set to the hash of its content."""
        return replace(self, version=manifest_version(self.content()))

    def to_json(self) -> dict[str, Any]:
        return {**self.content(), "version": self.version}

    @classmethod
    def from_json(cls, raw: Any, where: str = "manifest.json") -> Manifest:
        """Validate a decoded manifest.json. Raises :class:`ArtifactError` naming the field."""
        if not isinstance(raw, dict):
            raise ArtifactError(f"{where}: manifest must be a JSON object")
        fmt = _require(raw, "format_version", int, where)
        if fmt not in SUPPORTED_FORMAT_VERSIONS:
            raise ArtifactError(
                f"{where}: format_version {fmt} is not supported by this runtime "
                f"(supported: {SUPPORTED_FORMAT_VERSIONS}); upgrade precast on this device"
            )
        task = _choice(raw, "task", TASKS, where)
        pooling = _choice(raw, "pooling", POOLINGS, where)
        files = _files(raw, where)
        limits = LimitsSpec.from_json(raw.get("limits", {}), where)
        inputs = _require(raw, "inputs", list, where)
        outputs = _require(raw, "outputs", list, where)
        if not outputs or not isinstance(outputs[0], dict):
            raise ArtifactError(f"{where}: manifest 'outputs' must list at least one output")
        return cls(
            name=_require(raw, "name", str, where),
            version=_require(raw, "version", str, where),
            task=task,
            dim=int(raw.get("dim", 0)),
            inputs=tuple(TensorSpec.from_json(i) for i in inputs),
            outputs=tuple(
                TensorSpec.from_json(o, default_name="last_hidden_state")
                for o in outputs
                if isinstance(o, dict)
            ),
            pooling=pooling,
            normalize=bool(raw.get("normalize", True)),
            max_tokens=_require(raw, "max_tokens", int, where),
            limits=limits,
            files=files,
            quantization=Quantization.from_json(raw.get("quantization")),
            metrics=Metrics.from_json(raw.get("metrics")),
            smoke=SmokeSet.from_json(raw.get("smoke")),
            source=Source.from_json(raw.get("source")),
            certified=_certified(raw.get("certified")),
            listed_variants=_variants(raw, files, where),
            created_at=str(raw.get("created_at", "")),
            precast_version=str(raw.get("precast_version", "")),
            format_version=fmt,
            prompts=_prompts(raw, where),
            default_prompt_name=str(raw.get("default_prompt_name", "")),
            labels=_labels(raw, where),
            problem_type=_problem_type(raw, task, where),
            truncate_dims=_truncate_dims(raw, where),
            extra={k: v for k, v in raw.items() if k not in _KNOWN_KEYS},
        )


def _prompts(raw: dict[str, Any], where: str) -> dict[str, str]:
    prompts = raw.get("prompts", {})
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()
    ):
        raise ArtifactError(f"{where}: manifest 'prompts' must map names to strings")
    default = raw.get("default_prompt_name", "")
    if default and default not in prompts:
        raise ArtifactError(f"{where}: default_prompt_name {default!r} is not in 'prompts'")
    return dict(prompts)


def _truncate_dims(raw: dict[str, Any], where: str) -> tuple[int, ...]:
    dims = raw.get("truncate_dims", [])
    dim = raw.get("dim", 0)
    if not isinstance(dims, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 < d < dim for d in dims
    ):
        raise ArtifactError(
            f"{where}: manifest 'truncate_dims' must list sizes between 1 and dim - 1 ({dim})"
        )
    return tuple(dims)


def _labels(raw: dict[str, Any], where: str) -> tuple[str, ...]:
    labels = raw.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ArtifactError(f"{where}: manifest 'labels' must be a list of strings")
    if raw.get("task") == "text-classification" and not labels:
        raise ArtifactError(f"{where}: a text-classification manifest needs 'labels'")
    return tuple(labels)


def _problem_type(raw: dict[str, Any], task: str, where: str) -> str:
    if task != "text-classification":
        return ""
    return _choice(
        {"problem_type": raw.get("problem_type", PROBLEM_TYPES[0])},
        "problem_type",
        PROBLEM_TYPES,
        where,
    )
