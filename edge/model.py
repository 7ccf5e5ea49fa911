"""EdgeModel: a verified artifact, its tokenizer and an ORT session; ``predict(texts)``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from edge.batching import DEFAULT_MAX_BATCH, DEFAULT_TOKEN_BUDGET, plan_batches
from edge.certification import Certification, certification, require_certified
from edge.environment import PRECAST_REQUIRE_CERTIFIED
from edge.exceptions import ArtifactError, InputLimitError, OptionalDependencyError
from edge.execution import PER_TEXT, ExecutionPlan, ParallelRunner
from edge.limits import InputLimits, check_texts
from edge.manifest import Manifest, read_manifest, verify_files
from edge.pooling import l2_normalize, pool, sigmoid, softmax
from edge.session import SessionConfig
from edge.smoke import SmokeResult, require_smoke
from edge.tokenization import Encoded, TextTokenizer
from edge.variants import VariantChoice, certifications, open_best

if TYPE_CHECKING:
    from edge.engines.protocol import EngineSession

F32 = npt.NDArray[np.float32]
NO_PROMPT = ""  # prompt_name for texts that carry their prompt already (or want none)


class EdgeModel:
    """A loaded precast artifact. Thread-safe for concurrent ``predict`` calls (ORT is)."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        session: EngineSession,
        *,
        plan: ExecutionPlan | None = None,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        variant: VariantChoice | None = None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.session = session
        self.plan = plan or ExecutionPlan(PER_TEXT, workers=1, threads=1)
        self._runner = ParallelRunner(self.plan.workers)
        self.token_budget = token_budget
        self.smoke: SmokeResult | None = None  # set by load_directory's start-up check
        self.variant = variant  # which manifest variant runs and why (edge.variants)
        self.certification = certification(manifest)
        if variant is not None:
            kinds = tuple(sorted(certifications(manifest, variant.variant)))
            self.certification = Certification(
                variant.kind, variant.certified, kinds, variant.measured, variant.name
            )
        self.limits = InputLimits(
            max_batch=manifest.max_batch,
            max_chars=manifest.max_chars,
            max_tokens=manifest.max_tokens,
            truncate=manifest.truncate,
        )
        self.tokenizer = TextTokenizer(
            directory / "tokenizer.json", max_tokens=manifest.max_tokens, truncate=manifest.truncate
        )
        self._input_names = {i.name for i in session.get_inputs()}

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def computed_by(self) -> str:
        """What this model's answers are tagged with in the cache: host kind and plan (and
        the variant, when it is not the default one)."""
        tag = f"{self.certification.host_kind}/{self.plan.mode}"
        if self.variant is not None and not self.variant.variant.is_default:
            tag += f"/{self.variant.name}"
        return tag

    @property
    def certified(self) -> bool:
        """Whether the manifest certifies this host's kind (see :mod:`edge.certification`)."""
        return self.certification.certified

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def prompted(self, texts: list[str], prompt_name: str | None = None) -> list[str]:
        """``texts`` with the named prompt prefixed, as sentence-transformers does. ``None``:
        the manifest's default prompt (if any); :data:`NO_PROMPT`: none."""
        name = self.manifest.default_prompt_name if prompt_name is None else prompt_name
        if not name:
            return texts
        prompts = self.manifest.prompts
        if name not in prompts:
            choices = "|".join(sorted(prompts)) or "(this model defines none)"
            raise InputLimitError(
                f"prompt_name {name!r} is not one of this model's prompts. Choices are: {choices}",
                limit="prompt_name",
                allowed=sorted(prompts),
                actual=name,
            )
        prefix = prompts[name]
        return [prefix + t for t in texts]

    def predict(
        self,
        texts: Sequence[str],
        *,
        enforce_limits: bool = False,
        prompt_name: str | None = None,
        progress: bool = False,
    ) -> F32:
        """One row per text, in the caller's order: embeddings (n, dim) for
        feature-extraction, label probabilities (n, labels) for text-classification.

        Any number of texts of any length, like sentence-transformers' ``encode``: they run
        in the runtime's own batches, and a text over ``max_tokens`` is cut by tokens (or
        refused, when the manifest says ``truncate = false``). ``enforce_limits=True``
        applies the per-request limits a server enforces (``max_batch``, ``max_chars``);
        type and blank checks always apply. ``prompt_name`` picks one of the manifest's
        prompts (default: its ``default_prompt_name``). ``progress=True`` shows a tqdm bar
        of the texts done (tqdm is optional: imported only then; the rows are the same).
        """
        n = len(texts) if isinstance(texts, Sequence) else 1
        limits = self.limits if enforce_limits else self.limits_for(n, max_chars=sys.maxsize)
        checked = self.prompted(check_texts(texts, limits), prompt_name)
        if not progress:
            return self.predict_encoded(self.tokenizer.encode(checked))
        bar = _progress_bar(len(checked), self.name)
        try:
            return self.predict_encoded(self.tokenizer.encode(checked), on_rows=bar.update)
        finally:
            bar.close()

    def predict_pairs(self, pairs: Sequence[tuple[str, str]]) -> F32:
        """One row per (text, text_pair), encoded as one sequence by the tokenizer's own
        post-processor: a cross-encoder's score ``(n, 1)``, or a sentence-pair
        classifier's label probabilities ``(n, labels)``."""
        if self.manifest.task == "feature-extraction":
            raise ArtifactError(f"model {self.name!r} embeds single texts, not pairs")
        limits = self.limits_for(2 * len(pairs), max_chars=sys.maxsize)
        flat = check_texts([t for pair in pairs for t in pair], limits)
        checked = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        return self.predict_encoded(self.tokenizer.encode_pairs(checked))

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> F32:
        """text-ranking: a relevance score (n,) in [0, 1] (sigmoid of the cross-encoder's
        logit, as sentence-transformers' CrossEncoder) per (query, passage) pair."""
        if self.manifest.task != "text-ranking":
            raise ArtifactError(f"model {self.name!r} is {self.manifest.task}, not text-ranking")
        return np.ascontiguousarray(self.predict_pairs(pairs)[:, 0])

    def limits_for(self, n: int, *, max_chars: int | None = None) -> InputLimits:
        """This model's limits with room for ``n`` texts in one call."""
        return InputLimits(
            max_batch=max(n, 1),
            max_chars=self.limits.max_chars if max_chars is None else max_chars,
            max_tokens=self.limits.max_tokens,
            truncate=self.limits.truncate,
        )

    def predict_encoded(
        self, encoded: list[Encoded], *, on_rows: Callable[[int], object] | None = None
    ) -> F32:
        """Rows in ``encoded``'s order. On CPU each text runs alone, or with texts of its own
        length (batch-invariant, see :mod:`edge.execution`); on a GPU, in length-bucketed
        batches. ``on_rows(n)`` is called as rows are done (a progress bar); it changes no
        run's inputs."""
        if not encoded:
            raise ArtifactError("predict_encoded called with no inputs")
        lengths = [len(e.ids) for e in encoded]
        if self.plan.batch_invariant:
            groups = self.plan.groups(lengths)
            step = len(groups) if on_rows is None else DEFAULT_MAX_BATCH
            rows: list[F32] = []
            for start in range(0, len(groups), step):
                part = groups[start : start + step]
                rows += self._runner.map(lambda g: self._run([encoded[i] for i in g]), part)
                if on_rows is not None:
                    on_rows(sum(len(g) for g in part))
            if len(groups) == len(encoded):  # one text per run: rows are in input order
                return np.vstack(rows) if len(rows) > 1 else rows[0]
            grouped = np.empty((len(encoded), rows[0].shape[1]), dtype=np.float32)
            for group, vectors in zip(groups, rows, strict=True):
                grouped[group] = vectors
            return grouped
        out: F32 | None = None
        for batch in plan_batches(
            lengths, token_budget=self.token_budget, max_batch=DEFAULT_MAX_BATCH
        ):
            vectors = self._run([encoded[i] for i in batch])
            if out is None:
                out = np.empty((len(encoded), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
            if on_rows is not None:
                on_rows(len(batch))
        if out is None:
            raise ArtifactError("predict_encoded called with no inputs")
        return out

    def _run(self, batch: list[Encoded]) -> F32:
        width = max(len(e.ids) for e in batch)
        ids = np.full((len(batch), width), self.tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, enc in enumerate(batch):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:  # only what the graph declares
            types = np.zeros_like(ids)
            for row, enc in enumerate(batch):
                if enc.type_ids is not None:
                    types[row, : len(enc.type_ids)] = enc.type_ids
            feeds["token_type_ids"] = types
        (hidden,) = self.session.run([self.manifest.output], feeds)
        task = self.manifest.task
        if task != "feature-extraction":
            logits = np.asarray(hidden, dtype=np.float32)
            if task == "text-classification" and not self.manifest.multi_label:
                return softmax(logits)
            return sigmoid(logits)
        pooled = pool(np.asarray(hidden, dtype=np.float32), mask, self.manifest.pooling)
        return l2_normalize(pooled) if self.manifest.normalize else pooled


class _Bar(Protocol):
    def update(self, n: int) -> object: ...

    def close(self) -> None: ...


def _progress_bar(total: int, name: str) -> _Bar:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise OptionalDependencyError(
            "predict(progress=True) needs tqdm, which is not installed: pip install tqdm"
        ) from None
    bar: _Bar = tqdm(total=total, unit="text", desc=f"predict {name}")
    return bar


def load_directory(
    directory: Path,
    *,
    session_config: SessionConfig | None = None,
    verify: bool = True,
    smoke_test: bool = True,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
) -> EdgeModel:
    """Open an artifact directory: read the manifest, verify every file, create the session,
    and (``smoke_test``) check that this host reproduces the manifest's smoke vectors
    (:mod:`edge.smoke`; ``model.smoke`` holds the result)."""
    if not directory.is_dir():
        raise ArtifactError(f"{directory} is not a directory")
    manifest = read_manifest(directory)
    if verify:
        verify_files(directory, manifest)
    session, plan, variant = open_best(directory, manifest, session_config)
    model = EdgeModel(
        directory, manifest, session, plan=plan, token_budget=token_budget, variant=variant
    )
    if smoke_test:
        model = _smoke_checked(model, session_config)
    if PRECAST_REQUIRE_CERTIFIED.read():
        require_certified(manifest, model.certification)
    return model


def _smoke_checked(model: EdgeModel, session_config: SessionConfig | None) -> EdgeModel:
    """The start-up smoke check (:mod:`edge.smoke`). A non-default variant that fails it
    gives way to the default ORT CPU variant, which must pass."""
    from dataclasses import replace

    try:
        model.smoke = require_smoke(model)
        return model
    except ArtifactError as exc:
        failed, why = model.variant, str(exc)
        if failed is None or failed.variant.is_default:
            raise
    default = next(v for v in model.manifest.variants if v.is_default)
    cfg = replace(session_config or SessionConfig(), variant=default.name)
    session, plan, choice = open_best(model.directory, model.manifest, cfg)
    choice = replace(
        choice,
        reason=f"fallback: {failed.name} failed its start-up check",
        skipped=(*failed.skipped, (failed.name, f"failed its start-up check: {why}")),
    )
    fresh = EdgeModel(
        model.directory, model.manifest, session, plan=plan,
        token_budget=model.token_budget, variant=choice,
    )  # fmt: skip
    fresh.smoke = require_smoke(fresh)
    return fresh


def with_session(
    model: EdgeModel, session_config: SessionConfig, *, smoke_test: bool = True
) -> EdgeModel:
    """The same verified artifact and tokenizer on a new session (other providers or
    threads), e.g. the CUDA session a Modal container creates after restoring a memory
    snapshot taken on CPU. Files are not hashed again; the smoke check runs again, since
    the new session's kernels differ."""
    session, plan, variant = open_best(model.directory, model.manifest, session_config)
    fresh = EdgeModel(
        model.directory,
        model.manifest,
        session,
        plan=plan,
        token_budget=model.token_budget,
        variant=variant,
    )
    return _smoke_checked(fresh, session_config) if smoke_test else fresh
