"""What a local model directory says about itself, read from its own files.

transformers' ``config.json`` gives the architecture, the head (``*ForSequenceClassification``
with ``id2label`` and ``problem_type``; one label is a cross-encoder), the positions the
model can embed and its pad token; sentence-transformers' ``modules.json``,
``1_Pooling/config.json``, a ``Normalize`` module and ``config_sentence_transformers.json``
give pooling, normalization and named prompts. ``optimize`` builds from this,
``precast models add`` writes a config entry from it. A directory that is not enough
raises :class:`ModelSourceError` naming what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.manifest import POOLINGS, PROBLEM_TYPES
from precast.exceptions import ModelSourceError

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
MODULES = "modules.json"
ST_CONFIG = "config_sentence_transformers.json"
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

    def detected(self) -> list[str]:
        """One line per fact, for ``precast models add`` to say what it found."""
        lines = [
            f"architecture: {self.model_type} ({self.architecture})",
            f"task: {self.task}",
            f"tokenizer: {self.tokenizer_model}, pad token {self.pad_token!r} (id {self.pad_id})",
            f"positions: {self.max_positions} tokens",
        ]
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


def _task(config: dict[str, Any], where: str) -> str:
    archs = config.get("architectures") or []
    head = str(archs[0]) if archs else ""
    if head.endswith("ForSequenceClassification"):  # one label: a cross-encoder's score
        return "text-ranking" if len(config.get("id2label") or {}) == 1 else "text-classification"
    if head and not head.endswith("Model"):
        raise ModelSourceError(
            f"config.json architecture {head!r} is not an encoder precast serves: it needs a "
            "base model (…Model) or a …ForSequenceClassification head",
            path=where,
        )
    return "feature-extraction"


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


def _sentence_transformers(directory: Path) -> dict[str, Any]:
    """pooling, normalize, prompts and max_seq_length from the ST files, if present."""
    if not (directory / MODULES).is_file():
        return {}
    modules = json.loads((directory / MODULES).read_text(encoding="utf-8"))
    out: dict[str, Any] = {"sentence_transformers": True, "normalize": False}
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
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
        st = json.loads((directory / ST_CONFIG).read_text(encoding="utf-8"))
        prompts = {k: v for k, v in (st.get("prompts") or {}).items() if v}
        out["prompts"] = prompts
        default = st.get("default_prompt_name") or ""
        out["default_prompt_name"] = default if default in prompts else ""
    if (directory / "sentence_bert_config.json").is_file():
        sb = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
        if isinstance(sb.get("max_seq_length"), int):
            out["max_seq_length"] = sb["max_seq_length"]
    return out


def inspect_source(directory: Path) -> SourceModel:
    """Read ``directory``'s files; :class:`ModelSourceError` names what is missing."""
    where = str(directory)
    if not directory.is_dir():
        raise ModelSourceError("is not a directory", path=where)
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
    task = _task(config, where)
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
    st = _sentence_transformers(directory) if task == "feature-extraction" else {}
    if "max_seq_length" not in st and (directory / "tokenizer_config.json").is_file():
        tc = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
        limit = tc.get("model_max_length")
        if isinstance(limit, int) and 0 < limit < 1_000_000:  # unset is a huge sentinel
            st["max_seq_length"] = limit
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
        **st,
    )
