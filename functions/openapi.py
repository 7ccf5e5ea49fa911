"""The OpenAPI 3.1 schema (no FastAPI/pydantic on the cold-start path).

Request bodies are derived from the types the parsers read them by
(:mod:`functions.request_types`); paths, responses and errors are written here. Each
served model gets its own predict path, so its limits are exact in the schema:
``maxItems`` = the model's ``max_batch``, ``maxLength`` = its ``max_chars``, and the body
cap (``max_body_bytes``) is stated in the request body's description and as
``x-max-body-bytes``. A text must hold a non-blank character: the pattern is
``edge.limits.NON_BLANK_PATTERN``, the rule ``check_texts`` applies. ``tests/functions``
checks the schema against the live limits, and fuzzes the app with it (schemathesis).
"""

from __future__ import annotations

from typing import Any

from edge.model import EdgeModel
from functions import request_types as types
from functions.registry import ModelRegistry
from functions.settings import Settings

API_VERSION = "1.0.0"
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    "400": "invalid_json: the body is not UTF-8 JSON (no BOM, no other encoding)",
    "404": "model_not_found / not_found",
    "405": "method_not_allowed",
    "413": "body_too_large: more than max_body_bytes, refused before parsing",
    "408": "body_timeout: the body did not arrive within body_timeout_s (streaming hosts)",
    "415": "unsupported_media_type: Content-Type is not application/json",
    "422": "input_limit (max_batch, max_chars, max_tokens, type, empty) or validation_error",
    "500": "internal_error: a server fault (logged); never a client mistake",
    "503": "overloaded: the inference queue is full; retry after Retry-After seconds",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {c: {"description": _ERRORS[c], **_json(_ERROR_REF)} for c in codes}


def _predict_request(model: EdgeModel, max_body: int) -> dict[str, Any]:
    lim = model.limits
    many, one = types.PREDICT_MANY.schema(model), types.PREDICT_ONE.schema(model)
    return {
        "required": True,
        "description": (
            f"Up to {lim.max_batch} texts of at most {lim.max_chars} characters each; the "
            f"whole body at most {max_body} bytes (413 otherwise, before parsing)."
        ),
        "x-max-body-bytes": max_body,
        **_json({"oneOf": [many, one]}),
    }


_LABELLED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["label", "score"],
        "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
    },
}


def _predict_response(model: EdgeModel) -> dict[str, Any]:
    dim = model.manifest.dim or None
    vector: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
    if dim:
        vector.update(minItems=dim, maxItems=dim)
    if model.manifest.task == "text-classification":
        vector = _LABELLED
    return {
        "type": "object",
        "required": ["model", "model_version", "predictions", "cached", "cache"],
        "properties": {
            "model": {"type": "string", "const": model.name},
            "model_version": {"type": "string"},
            "predictions": {"type": "array", "items": vector},
            "cached": {"type": "array", "items": {"type": "boolean"}},
            "cache": {
                "type": "object",
                "properties": {
                    "hits": {"type": "integer", "minimum": 0},
                    "misses": {"type": "integer", "minimum": 0},
                    "error": {"type": ["string", "null"]},
                },
            },
        },
    }


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "limit": {"type": ["string", "null"]},
                "allowed": {},
                "actual": {},
                "index": {"type": ["integer", "null"]},
            },
        }
    },
}


def _compat_paths(registry: ModelRegistry, settings: Settings) -> dict[str, Any]:
    """OpenAI ``/v1/embeddings`` and text-embeddings-inference ``/embed`` + ``/info``
    (functions/compat.py); the limits are the first served model's."""
    names = registry.names()
    first = registry.models[names[0]]
    errors = _errors("400", "404", "405", "408", "413", "415", "422", "500", "503")
    vector = {"type": "array", "items": {"type": "number"}}
    openai_request = types.OPENAI_EMBEDDINGS.schema(first, names)
    openai_response = {
        "type": "object",
        "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array"},
            "model": {"type": "string"},
            "usage": {"type": "object"},
        },
    }
    tei_request = types.TEI_EMBED.schema(first, names)
    tei_predict_request = types.TEI_PREDICT.schema(first, names)
    rerank_request = types.TEI_RERANK.schema(first, names)
    ranked = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["index", "score"],
            "properties": {"index": {"type": "integer"}, "score": {"type": "number"}},
        },
    }
    model_query = [{"name": "model", "in": "query", "required": False, "schema": {"enum": names}}]
    max_body = settings.max_body_bytes
    return {
        "/v1/embeddings": {
            "post": {
                "summary": "OpenAI-compatible embeddings (the `openai` SDK, LangChain, ...)",
                "requestBody": {
                    "required": True,
                    "x-max-body-bytes": max_body,
                    **_json(openai_request),
                },
                "responses": {"200": {"description": "embeddings", **_json(openai_response)}}
                | errors,
            }
        },
        "/embed": {
            "post": {
                "summary": "text-embeddings-inference /embed (huggingface_hub InferenceClient)",
                "parameters": model_query,
                "requestBody": {
                    "required": True,
                    "x-max-body-bytes": max_body,
                    **_json(tei_request),
                },
                "responses": {
                    "200": {
                        "description": "one vector per input",
                        **_json({"type": "array", "items": vector}),
                    }
                }
                | errors,
            }
        },
        "/predict": {
            "post": {
                "summary": "text-embeddings-inference /predict: label + score, best first "
                "(text-classification models; InferenceClient.text_classification)",
                "parameters": model_query,
                "requestBody": {
                    "required": True,
                    "x-max-body-bytes": max_body,
                    **_json(tei_predict_request),
                },
                "responses": {
                    "200": {
                        "description": "labels per input (a list per input for a list)",
                        **_json({"oneOf": [_LABELLED, {"type": "array", "items": _LABELLED}]}),
                    }
                }
                | errors,
            }
        },
        "/rerank": {
            "post": {
                "summary": "text-embeddings-inference /rerank: passages by relevance to the "
                "query (text-ranking models)",
                "parameters": model_query,
                "requestBody": {
                    "required": True,
                    "x-max-body-bytes": max_body,
                    **_json(rerank_request),
                },
                "responses": {"200": {"description": "best first", **_json(ranked)}} | errors,
            }
        },
        "/info": {
            "get": {
                "summary": "text-embeddings-inference /info",
                "parameters": model_query,
                "responses": {"200": {"description": "model info", **_json({"type": "object"})}}
                | _errors("404"),
            }
        },
    }


def build_openapi(
    registry: ModelRegistry, settings: Settings, *, metrics: bool = False
) -> dict[str, Any]:
    """The schema; ``metrics=True`` adds ``GET /metrics`` (hosts that serve Prometheus)."""
    names = registry.names()
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA, "ModelSummary": {"type": "object"}}
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness and served model versions",
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/openapi.json": {
            "get": {"summary": "This schema", "responses": {"200": {"description": "OpenAPI 3.1"}}}
        },
        "/v1/models": {
            "get": {
                "summary": "Manifest summaries of every served model",
                "responses": {"200": {"description": "models"}},
            }
        },
        "/v1/models/{model}": {
            "get": {
                "summary": "One model's manifest summary (version, dim, limits, metrics)",
                "parameters": [
                    {
                        "name": "model",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": names},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "summary",
                        **_json({"$ref": "#/components/schemas/ModelSummary"}),
                    },
                    **_errors("404"),
                },
            }
        },
    }
    if metrics:
        paths["/metrics"] = {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        }
    for name in names:
        model = registry.models[name]
        schemas[f"PredictRequest.{name}"] = _predict_request(model, settings.max_body_bytes)
        schemas[f"PredictResponse.{name}"] = _predict_response(model)
        paths[f"/v1/models/{name}/predict"] = {
            "post": {
                "summary": f"Embed texts with {name} (cache first, live for the misses)",
                "requestBody": {"$ref": f"#/components/requestBodies/PredictRequest.{name}"},
                "responses": {
                    "200": {
                        "description": "one vector per input, in order",
                        **_json({"$ref": f"#/components/schemas/PredictResponse.{name}"}),
                    },
                    **_errors("400", "404", "405", "408", "413", "415", "422", "500", "503"),
                },
            }
        }
    paths.update(_compat_paths(registry, settings))
    bodies = {k: schemas.pop(k) for k in [k for k in schemas if k.startswith("PredictRequest.")]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "precast inference API", "version": API_VERSION},
        "paths": paths,
        "components": {"schemas": schemas, "requestBodies": bodies},
    }
