"""text-embeddings-inference's task routes, next to :mod:`functions.compat`'s embeddings.

- ``POST /predict`` (text-classification): ``inputs`` a string -> ``[{label, score}]`` best
  first, a list -> one such list per text; ``raw_scores`` only ``false`` (artifacts give
  probabilities). A body with ``parameters`` (``top_k``, ``function_to_apply``) is the
  Hugging Face Inference API's shape, what ``InferenceClient.text_classification`` sends:
  it gets a list per input, as that API answers. Through the hybrid path (cache first).
- ``POST /rerank`` (text-ranking): ``query`` + ``texts`` -> ``[{index, score}]`` best first
  (``return_text`` adds the text); scores are the cross-encoder's sigmoid. On the
  inference lane, without the cache (its key is one text, not a pair).

A route for another task than the model's is a 422 naming the task it needs.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.labels import top_labels
from edge.limits import check_texts
from functions.body import check_unicode
from functions.compat import CompatEndpoints, texts_of
from functions.exceptions import RequestValidationError

if TYPE_CHECKING:
    from edge.model import EdgeModel


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
    def __init__(self, compat: CompatEndpoints) -> None:
        self.compat = compat

    async def predict(self, request: Request) -> Response:
        model = self.compat.tei_model(request)
        _require_task(model, "text-classification", "/predict")
        payload = await self.compat.json_object(request)
        self.compat.check_truncate(model, payload)
        _no_raw_scores(payload)
        params = payload.get("parameters", {})
        if not isinstance(params, dict):
            raise RequestValidationError("'parameters' must be an object", limit="parameters")
        applied = params.get("function_to_apply")
        expected = "sigmoid" if model.manifest.multi_label else "softmax"
        if applied is not None and applied != expected:
            raise RequestValidationError(
                f"function_to_apply {applied!r}: model {model.name!r} gives {expected} "
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
                "'top_k' must be a positive integer", limit="top_k", actual=repr(top_k)
            )
        inputs = payload.get("inputs")
        probs = await self.compat.vectors(model, texts_of(inputs, "inputs"))
        labelled = [top_labels(model.manifest.labels, row, top_k) for row in probs]
        if isinstance(inputs, str) and "parameters" not in payload:
            return JSONResponse(labelled[0])
        return JSONResponse(labelled)

    async def rerank(self, request: Request) -> Response:
        model = self.compat.tei_model(request)
        _require_task(model, "text-ranking", "/rerank")
        payload = await self.compat.json_object(request)
        self.compat.check_truncate(model, payload)
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
        scores = await self.compat.ep.inference.run(partial(model.score_pairs, pairs))
        order = np.argsort(-scores, kind="stable")
        with_text = payload.get("return_text") is True
        return JSONResponse(
            [
                {"index": int(i), "score": float(scores[i])}
                | ({"text": texts[i]} if with_text else {})
                for i in order
            ]
        )
