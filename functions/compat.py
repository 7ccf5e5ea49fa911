"""Routes in the dialects clients already speak, next to precast's own, in the one app.

- OpenAI ``POST /v1/embeddings``: what the ``openai`` SDK, LangChain and LlamaIndex send.
  ``input`` (a string or a list of strings), ``model`` (a served model's name),
  ``encoding_format`` (``float``, or ``base64``: little-endian float32, the SDK's default),
  ``dimensions`` (the model's own size, or one its manifest lists in ``truncate_dims``,
  set by ``[models.X] truncate_dims`` for Matryoshka-trained models: the first d values,
  renormalized; any other size is a 400),
  ``user`` (ignored). ``usage`` counts the tokens the model saw (after truncation).
  Errors carry OpenAI's ``message``, ``type``, ``param`` and ``code`` (plus precast's
  fields), so the SDK raises its usual ``BadRequestError`` / ``NotFoundError``.
- text-embeddings-inference ``POST /embed`` (``inputs``: a string or a list; ``normalize``
  and ``truncate`` accepted when they match the artifact; ``prompt_name``: one of the
  model's prompts) and ``GET /info``: what ``huggingface_hub.InferenceClient.feature_extraction``
  and TEI clients call. TEI serves one model: with several served, ``?model=NAME`` picks one.
- TEI ``POST /predict`` and ``POST /rerank``, the task routes: :mod:`functions.compat_tasks`.

Each route only translates shapes: its request is read and checked once here (the same
limits with the same 4xx), then answered by the one serving path,
:class:`functions.inference.ServingPath`, as ``/v1/models/{model}/predict`` is (cache
first, the same bit-identical vectors, the same metrics and cache-failure log).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.exceptions import InputLimitError
from edge.limits import check_texts
from edge.pooling import l2_normalize
from functions.body import check_content_type, check_unicode, parse_json, read_body
from functions.errors import request_error_body
from functions.exceptions import (
    ModelNotFoundError,
    RequestError,
    RequestValidationError,
    echo,
)
from functions.request_types import ENCODING_FORMATS

if TYPE_CHECKING:
    from edge.manifest import Manifest
    from edge.model import EdgeModel
    from functions.inference import ServingPath
    from functions.registry import ModelRegistry
    from functions.settings import Settings


def _openai_error(exc: RequestError | InputLimitError, param: str | None) -> JSONResponse:
    body: dict[str, Any]
    if isinstance(exc, InputLimitError):
        body = {"error": {"type": "input_limit", "message": str(exc), "limit": exc.limit}}
        status = 422
    else:
        body, status = request_error_body(exc), exc.status
    code = body["error"]["type"]
    extra: dict[str, Any] = {"param": param, "code": code}
    body["error"] |= extra
    if status in (400, 422):
        body["error"]["type"] = "invalid_request_error"
        body["error"]["precast_type"] = code
    return JSONResponse(body, status_code=status)


def texts_of(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int | list) for v in value):
        raise RequestValidationError(
            f"'{field}' holds token ids; this server embeds text: send a string or a list of "
            "strings",
            limit=field,
        )
    raise RequestValidationError(
        f"'{field}' must be a non-empty string or a non-empty list of strings", limit=field
    )


def allowed_dimensions(model: EdgeModel, dims: Any) -> int | None:
    """OpenAI's ``dimensions``: ``None`` (or the model's own size) keeps the vectors; a size
    the manifest lists in ``truncate_dims`` cuts them to it (renormalized); else a 400."""
    full = model.manifest.dim
    if dims is None or (dims == full and not isinstance(dims, bool)):
        return None
    allowed = model.manifest.truncate_dims
    if isinstance(dims, int) and not isinstance(dims, bool) and dims in allowed:
        return dims
    if allowed:
        choices = "|".join(str(d) for d in (full, *allowed))
        why = f"allows dimensions {choices} only"
    else:
        why = f"returns {full}-d embeddings and is not trained to be truncated; omit 'dimensions'"
    raise RequestValidationError(
        f"model {model.name!r} {why}",
        limit="dimensions",
        allowed=[full, *allowed],
        actual=dims,
    )


async def json_object(request: Request, settings: Settings) -> dict[str, Any]:
    """The request's body, which must be a JSON object (the dialects' common first step)."""
    check_content_type(request)
    body = await read_body(request, settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise RequestValidationError("the request body must be a JSON object")
    return payload


def tei_model(registry: ModelRegistry, request: Request) -> EdgeModel:
    """TEI serves one model: with several served, ``?model=NAME`` picks one."""
    names = registry.names()
    wanted = request.query_params.get("model")
    if wanted is None and len(names) == 1:
        return registry.get(names[0])
    if wanted is None:
        raise ModelNotFoundError(
            f"this server serves {len(names)} models; pick one with ?model=NAME. "
            f"Choices are: {'|'.join(names)}"
        )
    return registry.get(wanted)


def check_truncate(model: EdgeModel, payload: dict[str, Any]) -> None:
    truncate = payload.get("truncate")
    if truncate is not None and truncate is not model.manifest.truncate:
        raise RequestValidationError(
            f"model {model.name!r} {'truncates' if model.manifest.truncate else 'rejects'}"
            f" texts over {model.manifest.max_tokens} tokens; omit 'truncate'",
            limit="truncate",
            allowed=model.manifest.truncate,
            actual=truncate,
        )


def embedding_texts(
    model: EdgeModel, texts: list[str], prompt_name: str | None = None
) -> list[str]:
    """Texts to embed, checked against ``model``'s limits and prompted: the serving path's
    input."""
    return model.prompted(check_unicode(check_texts(texts, model.limits)), prompt_name)


class CompatEndpoints:
    def __init__(self, registry: ModelRegistry, settings: Settings, path: ServingPath) -> None:
        self.registry = registry
        self.settings = settings
        self.path = path

    async def vectors(self, model: EdgeModel, texts: list[str]) -> np.ndarray:
        """One row per checked, prompted text, through the serving path."""
        result = await self.path.serve(model, texts)
        return np.asarray(result.vectors, dtype=np.float32)

    # -- OpenAI ----------------------------------------------------------------------

    async def openai_embeddings(self, request: Request) -> Response:
        param: str | None = None
        try:
            payload = await json_object(request, self.settings)
            param = "model"
            name = payload.get("model")
            if not isinstance(name, str):
                raise RequestValidationError("'model' must name a served model", limit="model")
            model = self.registry.get(name)
            param = "encoding_format"
            fmt = payload.get("encoding_format") or "float"
            if fmt not in ENCODING_FORMATS:
                raise RequestValidationError(
                    f"encoding_format {echo(fmt)} is not supported. Choices are: "
                    f"{'|'.join(ENCODING_FORMATS)}",
                    limit="encoding_format",
                )
            param = "dimensions"
            dims = allowed_dimensions(model, payload.get("dimensions"))
            param = "input"
            texts = texts_of(payload.get("input"), "input")
            vectors = await self.vectors(model, embedding_texts(model, texts))
            if dims is not None:
                vectors = l2_normalize(vectors[:, :dims])
        except (RequestError, InputLimitError) as exc:
            return _openai_error(exc, param)
        tokens = sum(len(e.ids) for e in model.tokenizer.encode(texts))
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": (
                    base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
                    if fmt == "base64"
                    else v.tolist()
                ),
            }
            for i, v in enumerate(vectors)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # -- text-embeddings-inference -----------------------------------------------------

    async def tei_embed(self, request: Request) -> Response:
        model = tei_model(self.registry, request)
        payload = await json_object(request, self.settings)
        normalize = payload.get("normalize")
        if normalize is not None and normalize is not model.manifest.normalize:
            raise RequestValidationError(
                f"model {model.name!r} returns {'' if model.manifest.normalize else 'un'}"
                "normalized embeddings only; omit 'normalize'",
                limit="normalize",
                allowed=model.manifest.normalize,
                actual=normalize,
            )
        check_truncate(model, payload)
        prompt = payload.get("prompt_name")
        if prompt is not None and not isinstance(prompt, str):
            raise RequestValidationError("'prompt_name' must be a string", limit="prompt_name")
        texts = embedding_texts(model, texts_of(payload.get("inputs"), "inputs"), prompt)
        vectors = await self.vectors(model, texts)
        return JSONResponse(vectors.tolist())

    async def tei_info(self, request: Request) -> Response:
        model = tei_model(self.registry, request)
        m = model.manifest
        recipe = m.quantization.recipe or ""
        return JSONResponse(
            {
                "model_id": m.name,
                "model_sha": m.version,
                "model_dtype": "int8" if "int8" in str(recipe) else "float32",
                "model_type": _model_type(m),
                "max_concurrent_requests": self.settings.max_queue,
                "max_input_length": m.max_tokens,
                "max_batch_tokens": m.max_tokens * m.max_batch,
                "max_client_batch_size": m.max_batch,
                "auto_truncate": m.truncate,
                "tokenization_workers": 1,
                "version": "precast",
                "execution": model.plan.describe(),
            }
        )


def _model_type(m: Manifest) -> dict[str, Any]:
    """TEI's ``model_type``: embedding (with its pooling), classifier or reranker."""
    if m.task == "text-classification":
        id2label = dict(enumerate(m.labels))
        return {
            "classifier": {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}
        }
    if m.task == "text-ranking":
        return {"reranker": {"id2label": {0: "score"}, "label2id": {"score": 0}}}
    return {"embedding": {"pooling": m.pooling}}
