"""The request bodies of the inference routes, declared once as types.

Each route's parser reads its body by these declarations (the field names it knows, the
choices an enum field allows), and :mod:`functions.openapi` derives each route's request
schema from the very same declarations, as text-embeddings-inference derives its schema
from its request structs. A field's value schema is exact for the model that serves it
(``maxLength`` = ``max_chars``, ``maxItems`` = ``max_batch``, ``prompt_name`` = the
model's prompts). Light on purpose: the Lambda host imports it at cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.limits import NON_BLANK_PATTERN

if TYPE_CHECKING:
    from edge.model import EdgeModel

Schema = dict[str, Any]
# A value's JSON schema for one served model (and the names of every served model).
ValueSchema = Callable[["EdgeModel", Sequence[str]], Schema]


@dataclass(frozen=True)
class Field:
    name: str
    value: ValueSchema
    required: bool = False
    # Whether a model takes this field at all (``prompt_name``: a model with prompts).
    applies: Callable[[EdgeModel], bool] = lambda _model: True


@dataclass(frozen=True)
class RequestType:
    """One request body: its fields; ``closed`` ones refuse any other field."""

    fields: tuple[Field, ...]
    closed: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def schema(self, model: EdgeModel, names: Sequence[str] = ()) -> Schema:
        """The JSON schema of this body for ``model`` (``names``: the served models)."""
        fields = [f for f in self.fields if f.applies(model)]
        out: Schema = {
            "type": "object",
            "required": [f.name for f in fields if f.required],
        }
        if self.closed:
            out["additionalProperties"] = False
        out["properties"] = {f.name: f.value(model, names) for f in fields}
        return out


# -- values ------------------------------------------------------------------------------


def text(model: EdgeModel, _names: Sequence[str] = ()) -> Schema:
    """One text: non-blank (``edge.limits.NON_BLANK_PATTERN``), at most ``max_chars``."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": model.limits.max_chars,
        "pattern": NON_BLANK_PATTERN,
    }


def texts(model: EdgeModel, _names: Sequence[str] = ()) -> Schema:
    """A list of 1 to ``max_batch`` texts."""
    return {
        "type": "array",
        "items": text(model),
        "minItems": 1,
        "maxItems": model.limits.max_batch,
    }


def text_or_texts(model: EdgeModel, _names: Sequence[str] = ()) -> Schema:
    return {"oneOf": [text(model), texts(model)]}


def sequences(model: EdgeModel, _names: Sequence[str] = ()) -> Schema:
    """TEI ``/predict`` ``inputs``: a text, one pair, or a batch of [text] / [text, text_pair]."""
    one = text(model)
    sequence = {"type": "array", "items": one, "minItems": 1, "maxItems": 2}
    batch = {
        "type": "array",
        "items": sequence,
        "minItems": 1,
        "maxItems": model.limits.max_batch,
    }
    return {"oneOf": [one, sequence, batch]}


def _enum(choices: Sequence[Any], kind: str = "string") -> ValueSchema:
    return lambda _model, _names: {"type": kind, "enum": list(choices)}


def _const(kind: str, value: Callable[[EdgeModel], Any]) -> ValueSchema:
    return lambda model, _names: {"type": kind, "const": value(model)}


def _plain(kind: str) -> ValueSchema:
    return lambda _model, _names: {"type": kind}


def _positive_int(nullable: bool = False) -> ValueSchema:
    kind: Any = ["integer", "null"] if nullable else "integer"
    return lambda _model, _names: {"type": kind, "minimum": 1}


def _served_models(_model: EdgeModel, names: Sequence[str]) -> Schema:
    return {"type": "string", "enum": list(names)}


def _prompts(model: EdgeModel, _names: Sequence[str]) -> Schema:
    return {"type": "string", "enum": sorted(model.manifest.prompts)}


def _dimensions(model: EdgeModel, _names: Sequence[str]) -> Schema:
    return {"type": "integer", "enum": [model.manifest.dim, *model.manifest.truncate_dims]}


def _has_prompts(model: EdgeModel) -> bool:
    return bool(model.manifest.prompts)


def _classifies(model: EdgeModel) -> bool:
    return model.manifest.task == "text-classification"


PROMPT_NAME = Field("prompt_name", _prompts, applies=_has_prompts)
TRUNCATE = Field("truncate", _const("boolean", lambda m: m.manifest.truncate))
RAW_SCORES = Field("raw_scores", _const("boolean", lambda _m: False))
ENCODING_FORMATS = ("float", "base64")

# -- precast's own route: {"inputs": [...]} or {"input": "..."} --------------------------

_OWN_OPTIONS = (PROMPT_NAME, Field("top_k", _positive_int(), applies=_classifies))
PREDICT_MANY = RequestType((Field("inputs", texts, required=True), *_OWN_OPTIONS), closed=True)
PREDICT_ONE = RequestType((Field("input", text, required=True), *_OWN_OPTIONS), closed=True)
# every field the parser knows, in the order its errors list them
PREDICT_KEYS = (PREDICT_MANY.names[0], PREDICT_ONE.names[0], *(f.name for f in _OWN_OPTIONS))

# -- OpenAI /v1/embeddings ---------------------------------------------------------------

OPENAI_EMBEDDINGS = RequestType(
    (
        Field("input", text_or_texts, required=True),
        Field("model", _served_models, required=True),
        Field("encoding_format", _enum(ENCODING_FORMATS)),
        Field("dimensions", _dimensions),
        Field("user", _plain("string")),
    )
)

# -- text-embeddings-inference -----------------------------------------------------------

TEI_EMBED = RequestType(
    (
        Field("inputs", text_or_texts, required=True),
        Field("normalize", _const("boolean", lambda m: m.manifest.normalize)),
        TRUNCATE,
        PROMPT_NAME,
    )
)


def _parameters(_model: EdgeModel, _names: Sequence[str]) -> Schema:
    """The Hugging Face Inference API's ``parameters`` object."""
    return {
        "type": "object",
        "properties": {
            "top_k": _positive_int(nullable=True)(_model, _names),
            "function_to_apply": {"type": ["string", "null"]},
        },
    }


TEI_PREDICT = RequestType(
    (
        Field("inputs", sequences, required=True),
        TRUNCATE,
        RAW_SCORES,
        Field("parameters", _parameters),
    )
)
TEI_RERANK = RequestType(
    (
        Field("query", text, required=True),
        Field("texts", texts, required=True),
        TRUNCATE,
        RAW_SCORES,
        Field("return_text", _plain("boolean")),
    )
)
