"""What a local model directory says about itself, read from its own files.

A sentence-transformers save (``modules.json`` with a Transformer module) is read as
sentence-transformers reads it: its modules decide the task (Transformer + Pooling embeds;
``config_sentence_transformers.json`` ``model_type = "CrossEncoder"`` scores pairs or
classifies by its labels) whatever head ``config.json`` ``architectures`` names, since
sentence-transformers loads the base model and never looks at it. A plain transformers
directory: ``*ForSequenceClassification`` (with ``id2label`` and ``problem_type``; one label
is a cross-encoder) classifies or ranks; a base model, a ``*ForMaskedLM`` /
``*ForPreTraining`` checkpoint (its base model is what loads) or no ``architectures`` embeds.
``1_Pooling/config.json``, a ``Normalize`` module and ``config_sentence_transformers.json``
give pooling, normalization and named prompts; ``sentence_bert_config.json`` (else
``tokenizer_config.json``) the length the model was used at. Stray files people copy along
(:func:`is_stray`: ``desktop.ini``, ``README.md``, ``.git*``) say nothing about the model.
``optimize`` builds from this, ``precast models add`` writes a config entry from it. A
directory that is not enough raises :class:`ModelSourceError` naming what is missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.manifest import POOLINGS, PROBLEM_TYPES
from optimize.exceptions import ModelSourceError
from precast.project.config import DEFAULT_MAX_TOKENS

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
MODULES = "modules.json"
ST_CONFIG = "config_sentence_transformers.json"
SBERT_CONFIG = "sentence_bert_config.json"
# heads whose checkpoint holds the base model under the model's prefix: AutoModel loads it
PRETRAINING_HEADS = ("ForMaskedLM", "ForPreTraining")
# sentence-transformers archetypes (config_sentence_transformers.json model_type)
ST_EMBEDDER, ST_CROSS_ENCODER = "SentenceTransformer", "CrossEncoder"
# files copied along with a model that say nothing about it: folder metadata of Windows and
# macOS, model cards; every name starting with "." (.git, .gitattributes, .cache) too
STRAY_NAMES = frozenset({"desktop.ini", "thumbs.db", "ehthumbs.db", ".ds_store"})
STRAY_SUFFIXES = (".md",)
# model types whose position ids start after the pad id (create_position_ids_from_input_ids)
PADDING_OFFSET_TYPES = ("roberta", "xlm-roberta", "camembert", "mpnet")
# what optimum's ONNX export and ORT's BERT fusions are tested with here (tests/models)
ARCHITECTURES = ("bert", "distilbert", "roberta", "xlm-roberta", "mpnet")
# sentence-transformers' pooling_mode_* flags -> our pooling names
_ST_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class SourceModel:
    path: Path
    model_type: str
    architecture: str
    task: str
    max_positions: int
    pad_token: str
    pad_id: int
    tokenizer_model: str  # WordPiece | BPE | Unigram | WordLevel
    sentence_transformers: bool = False
    pooling: str | None = None
    normalize: bool | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str = ""
    labels: tuple[str, ...] = ()
    problem_type: str = ""
    max_seq_length: int | None = None
    length_from: str = ""  # the file and key max_seq_length came from
    task_from: str = ""  # what decided the task
    weights: tuple[str, ...] = ()  # the checkpoint files, relative to path
    fp32_bytes: int = 0  # the weights at 4 bytes per parameter (0: unknown)

    def default_max_tokens(self) -> int:
        """``max_tokens`` this model is used at: its own length (sentence-transformers'
        rule), else precast's default, capped by the positions it embeds."""
        return min(self.max_positions, self.max_seq_length or DEFAULT_MAX_TOKENS)

    def detected(self) -> list[str]:
        """One line per fact, for ``precast models add`` to say what it found."""
        lines = [
            f"architecture: {self.model_type} ({self.architecture})",
            f"task: {self.task} ({self.task_from})",
            f"tokenizer: {self.tokenizer_model}, pad token {self.pad_token!r} (id {self.pad_id})",
            f"positions: {self.max_positions} tokens",
            "max tokens: "
            + (
                f"{self.max_seq_length} ({self.length_from})"
                if self.max_seq_length
                else f"not named by the model (precast's default {DEFAULT_MAX_TOKENS})"
            ),
        ]
        if self.fp32_bytes:
            lines.append(f"weights: {self.fp32_bytes / 1e6:.1f} MB in fp32")
        if self.task == "feature-extraction":
            origin = "sentence-transformers modules" if self.pooling else "default"
            lines.append(f"pooling: {self.pooling or 'mean'} ({origin})")
            lines.append(f"normalize: {bool(self.normalize)}")
            if self.prompts:
                named = ", ".join(f"{k}={v!r}" for k, v in sorted(self.prompts.items()))
                lines.append(f"prompts: {named}")
        if self.labels:
            lines.append(f"labels: {', '.join(self.labels)} ({self.problem_type})")
        return lines


def _json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelSourceError(f"has no {path.name} ({what})", path=str(path.parent)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelSourceError(f"{path.name} is unreadable: {exc}", path=str(path.parent)) from None
    if not isinstance(doc, dict):
        raise ModelSourceError(f"{path.name} is not a JSON object", path=str(path.parent))
    return doc


def is_stray(relative: Path) -> bool:
    """A file that says nothing about the model (``desktop.ini``, ``README.md``, ``.git/…``):
    detection and the build fingerprint both leave it out."""
    return (
        any(part.startswith(".") for part in relative.parts)
        or relative.name.lower() in STRAY_NAMES
        or relative.suffix.lower() in STRAY_SUFFIXES
    )


def model_files(directory: Path) -> list[Path]:
    """Every file of ``directory`` that can matter to the model, sorted, strays left out
    (hidden folders such as ``.git`` are not walked)."""
    out: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            if not is_stray(path.relative_to(directory)):
                out.append(path)
    return sorted(out)


def _by_labels(config: dict[str, Any]) -> str:
    """A sequence-classification head: one label is a cross-encoder's score."""
    return "text-ranking" if len(config.get("id2label") or {}) == 1 else "text-classification"


def _task(config: dict[str, Any], st_kind: str | None, where: str) -> tuple[str, str]:
    """(task, what decided it): the sentence-transformers modules when the directory is
    such a save, else ``config.json`` ``architectures``."""
    archs = config.get("architectures") or []
    head = str(archs[0]) if archs else ""
    if st_kind == ST_CROSS_ENCODER:
        return _by_labels(config), "a sentence-transformers CrossEncoder"
    if st_kind == ST_EMBEDDER:
        return "feature-extraction", "sentence-transformers modules"
    if head.endswith("ForSequenceClassification"):
        return _by_labels(config), f"config.json {head}"
    if not head:
        return "feature-extraction", "config.json names no head: its base model"
    if head.endswith("Model"):
        return "feature-extraction", f"config.json {head}"
    if head.endswith(PRETRAINING_HEADS):
        return "feature-extraction", f"config.json {head}: its base model"
    raise ModelSourceError(
        f"config.json architecture {head!r} is not an encoder precast serves: it needs a "
        "base model (…Model, or a …ForMaskedLM / …ForPreTraining checkpoint, whose base "
        "model is what loads), a …ForSequenceClassification head, or a sentence-transformers "
        "save (modules.json); re-save the encoder with AutoModel.save_pretrained or "
        "SentenceTransformer.save",
        path=where,
    )


def _pad(directory: Path, config: dict[str, Any], tokenizer: dict[str, Any]) -> tuple[str, int]:
    """The pad token from the tokenizer's own files: its padding block, its
    tokenizer_config.json / special_tokens_map.json, or the model's pad_token_id."""
    padding = tokenizer.get("padding")
    if isinstance(padding, dict) and "pad_token" in padding:
        return str(padding["pad_token"]), int(padding["pad_id"])
    vocab = {t["content"]: int(t["id"]) for t in tokenizer.get("added_tokens", [])}
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = directory / name
        if path.is_file():
            token = json.loads(path.read_text(encoding="utf-8")).get("pad_token")
            if isinstance(token, dict):
                token = token.get("content")
            if isinstance(token, str) and token in vocab:
                return token, vocab[token]
    pad_id = config.get("pad_token_id")
    by_id = {v: k for k, v in vocab.items()}
    if isinstance(pad_id, int) and pad_id in by_id:
        return by_id[pad_id], pad_id
    raise ModelSourceError(
        "names no pad token: tokenizer.json has no padding block, tokenizer_config.json / "
        "special_tokens_map.json no pad_token, config.json no pad_token_id among the "
        "tokenizer's special tokens",
        path=str(directory),
    )


def _st_kind(directory: Path) -> str | None:
    """The sentence-transformers archetype of a save whose ``modules.json`` has a
    Transformer module (None: not such a save). Its ``sentence_bert_config.json``
    ``transformer_task = "sequence-classification"`` is a CrossEncoder too."""
    if not (directory / MODULES).is_file():
        return None
    where = str(directory)
    modules = _modules(directory)
    transformers = [m for m in modules if _kind(m) == "Transformer"]
    if not transformers:
        kinds = ", ".join(_kind(m) for m in modules) or "no modules"
        raise ModelSourceError(
            f"modules.json has {kinds} but no Transformer module; precast runs a "
            "Transformer (+ Pooling, Normalize)",
            path=where,
        )
    if str(transformers[0].get("path", "")) not in ("", "."):
        sub = transformers[0]["path"]
        raise ModelSourceError(
            f"modules.json keeps its Transformer in {sub}/ (an older sentence-transformers "
            "layout); re-save it with `SentenceTransformer(DIR).save(NEW_DIR)` and add NEW_DIR",
            path=where,
        )
    st = _json(directory / ST_CONFIG, "") if (directory / ST_CONFIG).is_file() else {}
    kind = str(st.get("model_type") or ST_EMBEDDER)
    if kind not in (ST_EMBEDDER, ST_CROSS_ENCODER):
        raise ModelSourceError(
            f"{ST_CONFIG} says model_type {kind!r}; precast serves a sentence-transformers "
            f"{ST_EMBEDDER} (dense embeddings) or {ST_CROSS_ENCODER}",
            path=where,
        )
    sbert = _json(directory / SBERT_CONFIG, "") if (directory / SBERT_CONFIG).is_file() else {}
    if sbert.get("transformer_task") == "sequence-classification":
        kind = ST_CROSS_ENCODER
    return kind


def _modules(directory: Path) -> list[dict[str, Any]]:
    try:
        modules = json.loads((directory / MODULES).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelSourceError(f"{MODULES} is unreadable: {exc}", path=str(directory)) from None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelSourceError(f"{MODULES} is not a list of modules", path=str(directory))
    return modules


def _kind(module: dict[str, Any]) -> str:
    return str(module.get("type", "")).rsplit(".", 1)[-1]


def _sentence_transformers(directory: Path) -> dict[str, Any]:
    """pooling, normalize and prompts from an embedder's sentence-transformers files."""
    out: dict[str, Any] = {"sentence_transformers": True, "normalize": False}
    for module in _modules(directory):
        kind = _kind(module)
        if kind == "Pooling":
            cfg = _json(directory / module["path"] / "config.json", "the Pooling module's config")
            mode = cfg.get("pooling_mode")
            modes = (
                [mode] if isinstance(mode, str) else [n for f, n in _ST_FLAGS.items() if cfg.get(f)]
            )
            if len(modes) != 1 or modes[0] not in POOLINGS:
                raise ModelSourceError(
                    f"{module['path']}/config.json pools with {modes or 'nothing'}; precast "
                    f"supports exactly one of {'|'.join(POOLINGS)}",
                    path=str(directory),
                )
            if cfg.get("include_prompt") is False:
                raise ModelSourceError(
                    f"{module['path']}/config.json excludes the prompt from pooling "
                    "(include_prompt=false), which precast does not reproduce",
                    path=str(directory),
                )
            out["pooling"] = modes[0]
        elif kind == "Normalize":
            out["normalize"] = True
        elif kind not in ("Transformer", "Pooling", "Normalize"):
            raise ModelSourceError(
                f"modules.json has a {kind} module; precast runs Transformer, Pooling and "
                "Normalize only",
                path=str(directory),
            )
    if (directory / ST_CONFIG).is_file():
        st = _json(directory / ST_CONFIG, "")
        prompts = {k: v for k, v in (st.get("prompts") or {}).items() if v}
        out["prompts"] = prompts
        default = st.get("default_prompt_name") or ""
        out["default_prompt_name"] = default if default in prompts else ""
    return out


def _length(directory: Path) -> dict[str, Any]:
    """The length the model is used at, as sentence-transformers takes it:
    ``sentence_bert_config.json`` ``max_seq_length``, else the tokenizer's
    ``model_max_length`` (unset there is a huge sentinel)."""
    for name, key in (
        (SBERT_CONFIG, "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        if (directory / name).is_file():
            value = _json(directory / name, "").get(key)
            if isinstance(value, int) and 0 < value < 1_000_000:
                return {"max_seq_length": value, "length_from": f"{name} {key}"}
    return {}


def _weights(directory: Path) -> tuple[tuple[str, ...], int]:
    """(checkpoint files, fp32 bytes): safetensors headers give every tensor's shape, so the
    size is the fp32 export's whatever dtype the file holds; a .bin counts as it is."""
    files = [p for p in model_files(directory) if p.parent == directory]
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    chosen = safetensors or [
        p for p in files if p.name.startswith("pytorch_model") and p.suffix == ".bin"
    ]
    if not chosen:
        raise ModelSourceError(
            "has no PyTorch weights (model.safetensors, model-*-of-*.safetensors or "
            "pytorch_model.bin); save the model with save_pretrained",
            path=str(directory),
        )
    total = 0
    for path in chosen:
        if path.suffix != ".safetensors":
            total += path.stat().st_size
            continue
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            for name in fh.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                count = 1
                for d in fh.get_slice(name).get_shape():
                    count *= int(d)
                total += 4 * count
    return tuple(str(p.relative_to(directory)) for p in chosen), total


def inspect_source(directory: Path) -> SourceModel:
    """Read ``directory``'s files; :class:`ModelSourceError` names what is missing."""
    where = str(directory)
    if not directory.is_dir():
        raise ModelSourceError("is not a directory", path=where)
    st_kind = _st_kind(directory)
    config = _json(directory / CONFIG, "the transformers model config")
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ModelSourceError("config.json has no model_type", path=where)
    if model_type not in ARCHITECTURES:
        raise ModelSourceError(
            f"model_type {model_type!r} is not supported. Choices are: {'|'.join(ARCHITECTURES)}",
            path=where,
        )
    tokenizer = _json(
        directory / TOKENIZER,
        "a fast tokenizer file; save the tokenizer with "
        "a transformers fast tokenizer's save_pretrained",
    )
    task, task_from = _task(config, st_kind, where)
    weights, fp32_bytes = _weights(directory)
    pad_token, pad_id = _pad(directory, config, tokenizer)
    positions = int(config.get("max_position_embeddings", 512))
    if model_type in PADDING_OFFSET_TYPES:
        positions -= pad_id + 1
    labels: tuple[str, ...] = ()
    problem_type = ""
    if task == "text-classification":
        id2label = config.get("id2label") or {}
        if not id2label:
            raise ModelSourceError("config.json has no id2label for its labels", path=where)
        labels = tuple(str(id2label[k]) for k in sorted(id2label, key=int))
        problem_type = config.get("problem_type") or PROBLEM_TYPES[0]
        if problem_type not in PROBLEM_TYPES:
            raise ModelSourceError(
                f"problem_type {problem_type!r} is not a classification; choices are "
                f"{'|'.join(PROBLEM_TYPES)}",
                path=where,
            )
    st = _sentence_transformers(directory) if st_kind == ST_EMBEDDER else {}
    archs = config.get("architectures") or [model_type]
    return SourceModel(
        path=directory,
        model_type=model_type,
        architecture=str(archs[0]),
        task=task,
        max_positions=positions,
        pad_token=pad_token,
        pad_id=pad_id,
        tokenizer_model=str(tokenizer.get("model", {}).get("type", "unknown")),
        labels=labels,
        problem_type=problem_type,
        task_from=task_from,
        weights=weights,
        fp32_bytes=fp32_bytes,
        **st,
        **_length(directory),
    )
