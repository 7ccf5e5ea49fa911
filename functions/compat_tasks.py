"""text-embeddings-inference's task routes, next to :mod:`functions.compat`'s embeddings.

- ``POST /predict`` (text-classification), ``inputs`` as TEI reads them: a string, or
  ``["text"]``, is one text and ``["text", "text_pair"]`` ONE sentence pair, each answered
  ``[{label, score}]`` best first; a batch is a list of lists, ``[["a"], ["b", "c"], ...]``
  (one text or one pair each), answered with one such list per item. Any other shape (a
  flat list of 3+ strings, an inner list of 3) is a 422 saying what TEI accepts.
  ``raw_scores`` only ``false`` (artifacts give probabilities). A body with ``parameters``
  (``top_k``, ``function_to_apply``) is the Hugging Face Inference API's shape, what
  ``InferenceClient.text_classification`` sends: it gets a list per input, as that API
  answers.
- ``POST /rerank`` (text-ranking): ``query`` + ``texts`` -> ``[{index, score}]`` best first
  (``return_text`` adds the text); scores are the cross-encoder's sigmoid.

A request is read and checked once here; its texts and pairs, in one list, are answered
by the one serving path (:class:`functions.inference.ServingPath`: cache first, each pair
under its own key, :func:`edge.hybrid.item_key`; a fully cached request skips the
inference lane; the same metrics and cache-failure log as every route).

A route for another task than the model's is a 422 naming the task it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.exceptions import InputLimitError
from edge.labels import top_labels
from edge.limits import check_texts
from functions.body import check_unicode
from functions.compat import check_truncate, json_object, tei_model
from functions.exceptions import RequestValidationError, echo

if TYPE_CHECKING:
    from edge.hybrid import Item  # one TEI "sequence": a text, or a (text, text_pair)
    from edge.model import EdgeModel
    from functions.inference import ServingPath
    from functions.registry import ModelRegistry
    from functions.settings import Settings

PREDICT_SHAPES = (
    'a string, a pair ["text", "text_pair"], or a batch of texts and pairs '
    '[["text"], ["text", "text_pair"], ...]'
)


def predict_inputs(value: Any) -> tuple[list[Item], bool]:
    """TEI's ``/predict`` ``inputs`` -> the sequences and whether it was a batch."""
    if isinstance(value, str):
        return [value], False
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) > 2:
            raise RequestValidationError(
                f"'inputs' is a flat list of {len(value)} strings; TEI reads a flat list as "
                f"one text or one pair. Send {PREDICT_SHAPES}",
                limit="inputs",
                actual=len(value),
            )
        return [value[0] if len(value) == 1 else (value[0], value[1])], False
    if not isinstance(value, list) or not value:
        raise RequestValidationError(f"'inputs' must be {PREDICT_SHAPES}", limit="inputs")
    items: list[Item] = []
    for i, v in enumerate(value):
        if not (isinstance(v, list) and len(v) in (1, 2) and all(isinstance(x, str) for x in v)):
            raise RequestValidationError(
                f'inputs[{i}] must be ["text"] or ["text", "text_pair"]; the batch is '
                f"{PREDICT_SHAPES}",
                limit="inputs",
                actual=echo(v),
            )
        items.append(v[0] if len(v) == 1 else (v[0], v[1]))
    return items, True


def checked_items(model: EdgeModel, items: list[Item]) -> list[Item]:
    """``items`` checked once against ``model``'s limits: ``max_batch`` counts items, every
    text (each half of a pair too) is checked as a text."""
    if len(items) > model.limits.max_batch:
        raise InputLimitError(
            f"{len(items)} inputs in one call; the limit is "
            f"max_batch={model.limits.max_batch}. Split the request.",
            limit="max_batch",
            allowed=model.limits.max_batch,
            actual=len(items),
        )
    flat = [t for item in items for t in ((item,) if isinstance(item, str) else item)]
    check_unicode(check_texts(flat, model.limits_for(len(flat))))
    return items


def _require_task(model: EdgeModel, task: str, route: str) -> None:
    if model.manifest.task != task:
        raise RequestValidationError(
            f"{route} needs a {task} model; {model.name!r} is {model.manifest.task}",
            limit="task",
            allowed=task,
            actual=model.manifest.task,
        )


def _no_raw_scores(payload: dict[str, Any]) -> None:
    if payload.get("raw_scores") not in (None, False):
        raise RequestValidationError(
            "raw_scores: this artifact returns probabilities only; omit it or send false",
            limit="raw_scores",
            allowed=False,
            actual=payload.get("raw_scores"),
        )


class TaskEndpoints:
    def __init__(self, registry: ModelRegistry, settings: Settings, path: ServingPath) -> None:
        self.registry = registry
        self.settings = settings
        self.path = path

    async def predict(self, request: Request) -> Response:
        model = tei_model(self.registry, request)
        payload = await json_object(request, self.settings)  # a bad body is 400 whatever the model
        _require_task(model, "text-classification", "/predict")
        check_truncate(model, payload)
        _no_raw_scores(payload)
        params = payload.get("parameters", {})
        if not isinstance(params, dict):
            raise RequestValidationError("'parameters' must be an object", limit="parameters")
        applied = params.get("function_to_apply")
        expected = "sigmoid" if model.manifest.multi_label else "softmax"
        if applied is not None and applied != expected:
            raise RequestValidationError(
                f"function_to_apply {echo(applied)}: model {model.name!r} gives {expected} "
                "probabilities only",
                limit="function_to_apply",
                allowed=expected,
                actual=applied,
            )
        top_k = params.get("top_k")
        if top_k is not None and (
            isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
        ):
            raise RequestValidationError(
                "'top_k' must be a positive integer", limit="top_k", actual=echo(top_k)
            )
        items, batched = predict_inputs(payload.get("inputs"))
        probs = (await self.path.serve(model, checked_items(model, items))).vectors
        labelled = [top_labels(model.manifest.labels, row, top_k) for row in probs]
        if not batched and "parameters" not in payload:
            return JSONResponse(labelled[0])
        return JSONResponse(labelled)

    async def rerank(self, request: Request) -> Response:
        model = tei_model(self.registry, request)
        payload = await json_object(request, self.settings)  # a bad body is 400 whatever the model
        _require_task(model, "text-ranking", "/rerank")
        check_truncate(model, payload)
        _no_raw_scores(payload)
        query = payload.get("query")
        if not isinstance(query, str):
            raise RequestValidationError("'query' must be a string", limit="query")
        texts = payload.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise RequestValidationError(
                "'texts' must be a non-empty list of strings", limit="texts"
            )
        # max_batch bounds the passages; the query is checked like any text
        checked = check_unicode(check_texts([query, *texts], model.limits_for(len(texts) + 1)))
        check_texts(texts, model.limits)
        pairs = [(checked[0], t) for t in checked[1:]]
        scores = (await self.path.serve(model, pairs)).vectors[:, 0]
        order = np.argsort(-scores, kind="stable")
        with_text = payload.get("return_text") is True
        return JSONResponse(
            [
                {"index": int(i), "score": float(scores[i])}
                | ({"text": texts[i]} if with_text else {})
                for i in order
            ]
        )
