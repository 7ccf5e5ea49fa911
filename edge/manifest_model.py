"""The manifest.json document as typed dataclasses: the optimizer writes one, runtimes read one.

:class:`ArtifactManifest` is both directions of the contract: ``to_json()`` is what
``optimize`` writes, ``from_json()`` is what :func:`edge.manifest.parse_manifest` validates
(with messages that name the file and the field). Its version is
:func:`manifest_version`: a hash of the whole canonical document except the version itself
and ``created_at``, so any change of content is a new version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

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


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    return value if isinstance(value, dict) else {}


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
    certified: dict[str, Any] = field(default_factory=dict)
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
            doc["certified"] = self.certified
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
            certified=_section(raw, "certified"),
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


@dataclass(frozen=True)
class ArtifactManifest:
    """Every field of manifest.json. The open sections (quantization, metrics, smoke, source)
    are JSON objects the optimizer fills and the runtime reads by key."""

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
    quantization: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    smoke: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    # host kind (edge.host) -> the accuracy measured there and its deviation from the others
    certified: dict[str, Any] = field(default_factory=dict)
    # model files and how they run (edge.variants picks one per host); empty: model.onnx only
    variants: tuple[VariantSpec, ...] = ()
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

    def content(self) -> dict[str, Any]:
        """The JSON document without ``version`` (what the version hashes, plus created_at)."""
        doc: dict[str, Any] = {
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
        optional = (
            "quantization",
            "metrics",
            "smoke",
            "source",
            "certified",
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
        if self.variants:
            doc["variants"] = [v.to_json() for v in self.variants]
        return doc

    def versioned(self) -> ArtifactManifest:
        """This manifest with its version set to the hash of its content."""
        return replace(self, version=manifest_version(self.content()))

    def to_json(self) -> dict[str, Any]:
        return {**self.content(), "version": self.version}

    @classmethod
    def from_json(cls, raw: Any, where: str = "manifest.json") -> ArtifactManifest:
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
            quantization=_section(raw, "quantization"),
            metrics=_section(raw, "metrics"),
            smoke=_section(raw, "smoke"),
            source=_section(raw, "source"),
            certified=_section(raw, "certified"),
            variants=_variants(raw, files, where),
            created_at=str(raw.get("created_at", "")),
            precast_version=str(raw.get("precast_version", "")),
            format_version=fmt,
            prompts=_prompts(raw, where),
            default_prompt_name=str(raw.get("default_prompt_name", "")),
            labels=_labels(raw, where),
            problem_type=_problem_type(raw, task, where),
            truncate_dims=_truncate_dims(raw, where),
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
