"""Run one shard of a batch precompute: resume, stream, infer, commit, summarize.

``run_job(settings) -> exit code`` (see :mod:`batch.exit_codes`). Steps:

1. Identify the run (model version + input objects + shard count + fields + format) and
   its directory ``<output>/run-<id>/``. A ``_SUCCESS`` marker there: nothing to do.
2. Load the checkpoint, if any, and stream this shard's records from its position.
3. Per chunk: validate (rejects), look up the cache, infer the misses (edge's hybrid
   path), buffer. Per interval: commit part -> rejects -> cache -> checkpoint.
4. On SIGTERM/SIGINT: commit after the current chunk and exit 128+signal.
5. At the end: check the error budget, write the summary, then the marker.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from batch import crashpoints, exit_codes
from batch.backends import storage_for
from batch.checkpoint import Checkpoint, CommittedPart, load_checkpoint, save_checkpoint
from batch.chunks import ChunkProcessor, RecoveredPart, group_chunks, interval_end
from batch.exceptions import (
    DamagedCheckpointError,
    ErrorBudgetExceededError,
    TransientStorageError,
)
from batch.input_digest import InputDigest
from batch.interrupts import StopSignal, stop_on_signals
from batch.interval import Committer, Interval, elapsed_since
from batch.layout import RunLayout, run_id_of, run_identity
from batch.lease import LeaseHeldError, LeaseLostError, ShardLease
from batch.logs import JobLog
from batch.marker import check_error_budget, damaged_marker_parts, marker_bytes, read_marker
from batch.metrics import attempt_counts, batch_emf
from batch.parts import decode_part, require_pyarrow
from batch.readers import hashes_content, iter_records, resolve_inputs
from batch.settings import ENV_MODEL, JobSettings, JobSettingsError
from batch.summary import build_summary, encode_summary, format_summary
from edge.cache import PredictionCache, open_cache
from edge.cache.clients import batch_profile
from edge.exceptions import ArtifactError, CacheUnavailableError, PrecastError
from edge.manifest import read_manifest
from edge.model import EdgeModel


def run_job(
    settings: JobSettings, *, log_stream: TextIO | None = None, out: TextIO | None = None
) -> int:
    log = JobLog(str(settings.shard), stream=log_stream)
    try:
        return ShardRun(settings, log, out if out is not None else sys.stdout).run()
    except TransientStorageError as exc:  # before the run started (listing inputs, marker)
        code = exit_codes.TEMPFAIL
        log.event("error", error=str(exc), kind=type(exc).__name__, exit_code=code)
        print(f"error: {exc}", file=out if out is not None else sys.stdout, flush=True)
        return code
    except PrecastError as exc:
        log.event("error", error=str(exc), kind=type(exc).__name__, exit_code=exit_codes.FAILED)
        raise
    finally:
        log.close()


class ShardRun:
    def __init__(self, settings: JobSettings, log: JobLog, out: TextIO) -> None:
        self.settings = settings
        self.log = log
        self.out = out
        self.started = time.monotonic()
        self.inputs = storage_for(settings.input)
        self.outputs = storage_for(settings.output)
        self.checkpoints = storage_for(settings.checkpoint) if settings.checkpoint else self.outputs
        self.files, self.input_format = resolve_inputs(self.inputs, settings.input)
        self.model: EdgeModel | None = None
        self.distrusted_seq: int | None = None  # a damaged part's seq: never recovered from
        self.unprocessed_seen = 0  # cache keys left unprocessed, already logged
        self.version = self._model_version()
        output_format = settings.output_format or self.input_format
        self.identity = run_identity(
            model_version=self.version,
            inputs=self.files,
            shards=settings.shard.count,
            id_field=settings.id_field,
            text_field=settings.text_field,
            output_format=output_format,
        )
        self.layout = RunLayout(
            settings.output,
            run_id_of(self.identity),
            settings.shard,
            output_format,
            settings.checkpoint,
        )

    def run(self) -> int:
        marker = read_marker(self.outputs, self.layout)
        if marker is not None:
            damaged = damaged_marker_parts(self.outputs, self.layout, marker)
            if not damaged:
                return self._already_complete(marker)
            self._note_damaged_complete_run(damaged)
        self.lease = ShardLease(
            self.checkpoints, self.layout.lease, ttl_s=self.settings.lease_ttl_s
        )
        try:
            self.lease.acquire()
        except LeaseHeldError as exc:  # another attempt is alive: touch nothing, retry later
            return self._fenced("lease_held", exc)
        if self.lease.took_over is not None:
            self.log.event("lease_taken_over", previous=self.lease.took_over.describe())
        try:
            return self._run_leased()
        except LeaseLostError as exc:  # fenced off mid-run: write nothing more, not even a summary
            return self._fenced("lease_lost", exc)
        finally:
            self._release_lease()

    def _release_lease(self) -> None:
        """Best effort: a lease left behind is taken over by the next attempt (same AWS Batch
        job, or a dead process on this host) or expires."""
        try:
            self.lease.release()
        except TransientStorageError as exc:
            self.log.event("lease_release_failed", error=str(exc))

    def _fenced(self, event: str, exc: Exception) -> int:
        code = exit_codes.TEMPFAIL
        self.log.event(event, error=str(exc), exit_code=code)
        print(f"shard {self.settings.shard}: {exc}", file=self.out, flush=True)
        return code

    def _run_leased(self) -> int:
        s = self.settings
        ckpt = self._load_checkpoint()
        resumed = ckpt is not None
        if not resumed:
            self._note_unfinished_runs()
        if ckpt is None:
            chunk = min(s.chunk_size, s.checkpoint_every)
            ckpt = Checkpoint(self.layout.run_id, str(s.shard), s.checkpoint_every, chunk)
        base_elapsed = ckpt.elapsed_s
        self.counts_at_start = replace(ckpt.counts)  # this attempt's metrics are the difference
        ckpt.attempts += 1
        status, code, error = "complete", exit_codes.OK, None
        if ckpt.done:  # a complete run's part damaged since (found against its marker)
            self._rewind_if_damaged(ckpt, "rerun")
        try:
            if not ckpt.done:
                status, code = self._process_with_cache(ckpt, resumed, base_elapsed)
            if status == "complete":
                check_error_budget(ckpt.counts, s.error_budget)
        except LeaseLostError:
            raise  # fenced off: run() stops without writing a summary
        except ErrorBudgetExceededError as exc:
            status, code, error = "failed", exit_codes.ERROR_BUDGET, str(exc)
        except CacheUnavailableError as exc:  # checkpoint not advanced: a retry redoes it
            status, code, error = "failed", exit_codes.CACHE_UNAVAILABLE, str(exc)
        except TransientStorageError as exc:  # S3 down or throttled: the same, for storage
            status, code, error = "failed", exit_codes.TEMPFAIL, str(exc)
        except PrecastError as exc:  # storage, input format, a cache that rejects writes
            status, code, error = "failed", exit_codes.FAILED, str(exc)
        ckpt.elapsed_s = elapsed_since(self.started, base_elapsed)
        return self._finish(ckpt, status, code, error)

    def _note_unprocessed(self, cache: PredictionCache | None, seq: int) -> None:
        """Keys the cache left unprocessed (DynamoDB UnprocessedKeys after its retries) were
        computed live: identical vectors (per-text execution), but logged and counted."""
        total = int(getattr(cache, "unprocessed_misses", 0) or 0)
        new = total - self.unprocessed_seen
        if new > 0:
            self.unprocessed_seen = total
            self.log.event("cache_keys_unprocessed", keys=new, total=total, seq=seq)

    def _note_cache_retry(self, seq: int, round_no: int, left: int, error: str) -> None:
        self.log.event("cache_write_retry", seq=seq, round=round_no, entries=left, error=error)

    def _note_unfinished_runs(self) -> None:
        """A new run next to older unfinished ones (input or model changed): say so once."""
        from batch.gc import unfinished_others

        others = unfinished_others(self.settings.output, self.layout.run_id, self.outputs)
        if others:
            self.log.event(
                "older_unfinished_runs",
                runs=others,
                hint=f"`precast batch gc {self.settings.output}` lists them (--delete removes)",
            )

    def _load_checkpoint(self) -> Checkpoint | None:
        """The checkpoint, if usable. A damaged one (bad JSON or hash, a resume offset that is
        not a record boundary) is discarded with a logged event: the shard restarts, and since
        every name is deterministic and cache entries immutable, nothing is lost or doubled."""
        s, layout = self.settings, self.layout
        try:
            ckpt = load_checkpoint(self.checkpoints, layout.checkpoint, layout.run_id, str(s.shard))
            if ckpt is not None:
                self._check_boundary(ckpt)
            return ckpt
        except DamagedCheckpointError as exc:
            self.log.event("checkpoint_discarded", reason=str(exc), checkpoint=layout.checkpoint)
            return None

    def _check_boundary(self, ckpt: Checkpoint) -> None:
        pos = ckpt.position
        if pos.file > len(self.files) or (pos.file == len(self.files) and pos.offset):
            raise DamagedCheckpointError(f"resume file {pos.file} is past the input's files")
        if self.input_format != "jsonl" or pos.offset == 0 or pos.file == len(self.files):
            return
        obj = self.files[pos.file]
        if pos.offset > obj.size:
            raise DamagedCheckpointError(f"resume offset {pos.offset} is past {obj.uri}'s end")
        if pos.offset == obj.size:
            return  # the last line may end without a newline
        stream = self.inputs.open_stream(obj, pos.offset - 1)
        try:
            before = stream.read(1)
        finally:
            stream.close()
        if before != b"\n":
            raise DamagedCheckpointError(
                f"resume offset {pos.offset} in {obj.uri} is not at the start of a line"
            )

    def _first_damaged_part(self, ckpt: Checkpoint) -> CommittedPart | None:
        """Re-read every committed part; the first whose size or sha256 differs, if any."""
        for part in ckpt.parts:
            if not part.matches(self.outputs.read_bytes(self.layout.part(part.seq))):
                return part
        return None

    def _rewind_if_damaged(self, ckpt: Checkpoint, when: str) -> bool:
        damaged = self._first_damaged_part(ckpt)
        if damaged is None:
            return False
        self.log.event(
            "part_damaged",
            part=damaged.name,
            seq=damaged.seq,
            found_at=when,
            action=f"recomputing from interval {damaged.seq}",
        )
        ckpt.rewind_to(damaged)
        self.distrusted_seq = damaged.seq
        return True

    def _process_with_cache(
        self, ckpt: Checkpoint, resumed: bool, base_elapsed: float
    ) -> tuple[str, int]:
        cache_url = self.settings.cache_url
        cache = open_cache(cache_url, batch_profile()) if cache_url else None
        try:
            with stop_on_signals() as stop:
                self._rewind_if_damaged(ckpt, "resume")
                while True:
                    self._process(ckpt, cache, stop, resumed=resumed, base_elapsed=base_elapsed)
                    if stop.requested and not ckpt.done:
                        break
                    if not self._rewind_if_damaged(ckpt, "completion"):
                        break
                    resumed = True
        finally:
            if cache is not None:
                cache.close()
        if stop.requested and not ckpt.done:
            code = stop.exit_code
            self.log.event("interrupted", seq=ckpt.seq, records=ckpt.counts.read, exit_code=code)
            return "interrupted", code
        return "complete", exit_codes.OK

    def _process(
        self,
        ckpt: Checkpoint,
        cache: PredictionCache | None,
        stop: StopSignal,
        *,
        resumed: bool,
        base_elapsed: float,
    ) -> None:
        s, layout = self.settings, self.layout
        require_pyarrow()
        model = self._load_model()
        self.log.event(
            "start",
            run_id=layout.run_id,
            run_dir=layout.run_dir,
            input=s.input,
            files=len(self.files),
            format=self.input_format,
            output_format=layout.output_format,
            model_version=self.version,
            cache=s.cache_url,
            skip_cached=s.skip_cached,
            attempt=ckpt.attempts,
            resume_seq=ckpt.seq if resumed else None,
            resume_record=ckpt.position.record if resumed else None,
            checkpoint_every=ckpt.interval,
            chunk=ckpt.chunk,
        )
        recovered = self._recover(ckpt.seq)  # a killed attempt may have written it
        committer = Committer(
            layout=layout,
            output=self.outputs,
            checkpoints=self.checkpoints,
            cache=cache,
            model_version=self.version,
            dim=model.manifest.dim,
            recovering_seq=ckpt.seq,
            on_retry=self._note_cache_retry,
        )
        processor = ChunkProcessor(
            model,
            cache,
            id_field=s.id_field,
            text_field=s.text_field,
            skip_cached=s.skip_cached,
            ttl_s=s.ttl_s,
        )
        digest = InputDigest() if hashes_content(self.input_format, self.files) else None
        records = iter_records(
            self.inputs,
            self.files,
            self.input_format,
            s.shard,
            ckpt.position,
            id_field=s.id_field,
            text_field=s.text_field,
            digest=digest,
            expected=ckpt.input_sha256,
        )
        self.log.start_progress(s.progress, initial=ckpt.counts.read)
        first_seq = ckpt.seq
        interval = Interval(ckpt.seq, interval_end(ckpt.next_index, ckpt.interval))
        for chunk in group_chunks(records, ckpt.interval, ckpt.chunk):
            result = processor.process(chunk, recovered if interval.seq == first_seq else None)
            if recovered is not None and recovered.refused:
                self.log.event(
                    "part_discarded",
                    part=layout.part(first_seq),
                    seq=first_seq,
                    reason="its rows differ from what this host computes (written by another "
                    "host kind or plan): recomputed",
                )
                recovered = None
            if result.cache_error:
                self.log.event("cache_read_error", error=result.cache_error, seq=interval.seq)
            self._note_unprocessed(cache, interval.seq)
            interval.add(result, next_index=chunk[-1].index + 1, position=chunk[-1].after)
            interval.input_sha256 = digest.digests() if digest is not None else []
            self.log.advance(len(chunk))
            crashpoints.reached("after_chunk")
            if interval.full or stop.requested:
                self._commit(committer, interval, ckpt, base_elapsed)
                # Checked after the commit too: a signal may arrive while it runs.
                if stop.requested:
                    self.log.event("stop_requested", signal=stop.name, seq=interval.seq)
                    return
                interval = Interval(ckpt.seq, interval_end(ckpt.next_index, ckpt.interval))
        if interval.results:
            self._commit(committer, interval, ckpt, base_elapsed)
        if self._first_damaged_part(ckpt) is not None:
            return  # not done: the caller rewinds to the damaged part and goes on
        self._check_inputs_unchanged()
        ckpt.done = True
        if digest is not None:
            ckpt.input_sha256 = digest.full()  # every file, read to its end
        ckpt.elapsed_s = elapsed_since(self.started, base_elapsed)
        save_checkpoint(self.checkpoints, layout.checkpoint, ckpt)

    def _check_inputs_unchanged(self) -> None:
        """At completion: every input still has the size and tag it had when the job began
        (an edit made while the job read it changes a local file's ctime, an object's ETag)."""
        from batch.exceptions import InputChangedError

        for obj in self.files:
            now = self.inputs.info(obj.uri)
            if (now.size, now.tag) != (obj.size, obj.tag):
                raise InputChangedError(
                    f"{obj.uri} changed while the job was reading it (size or "
                    f"{'ETag' if obj.content_tagged else 'mtime/ctime/inode'} differ); rerun "
                    "the job: a changed input starts a new run"
                )

    def _commit(
        self, committer: Committer, interval: Interval, ckpt: Checkpoint, base_elapsed: float
    ) -> None:
        self.lease.renew()  # fenced: a taken-over attempt stops here, before writing
        crashpoints.reached("after_renew")
        elapsed = elapsed_since(self.started, base_elapsed)
        counts = committer.commit(interval, ckpt, elapsed_s=elapsed)
        self.log.event(
            "checkpoint",
            seq=interval.seq,
            part=self.layout.part_name(interval.seq),
            records=ckpt.counts.read,
            predicted=ckpt.counts.predicted,
            cached=ckpt.counts.cached,
            rejected=ckpt.counts.rejected,
            interval_records=counts.read,
            cache_written=counts.written,
        )

    def _finish(self, ckpt: Checkpoint, status: str, code: int, error: str | None) -> int:
        """Write the summary (and the marker if complete), log and print it; the exit code."""

        def summarize() -> dict[str, Any]:
            return build_summary(
                status=status,
                exit_code=code,
                layout=self.layout,
                ckpt=ckpt,
                model_version=self.version,
                input_uri=self.settings.input,
                error_budget=self.settings.error_budget,
                attempt_s=time.monotonic() - self.started,
                error=error,
            )

        summary = summarize()
        try:
            self.outputs.write_bytes(self.layout.summary, encode_summary(summary))
            if status == "complete":
                marker = marker_bytes(self.layout, ckpt, self.identity, summary)
                self.outputs.write_bytes(self.layout.marker, marker)
        except PrecastError as exc:
            # S3 unavailable: still transient (a retry writes them); anything else is ours
            transient = isinstance(exc, TransientStorageError)
            if not (transient and code in exit_codes.RETRIED_BY_AWS_BATCH):
                code = exit_codes.TEMPFAIL if transient else exit_codes.FAILED
            status = "interrupted" if code == exit_codes.INTERRUPTED else "failed"
            error = f"{error + '; ' if error else ''}could not write the summary/marker: {exc}"
            summary = summarize()
        if error:
            self.log.event("error", error=error, exit_code=code)
        self.log.event("summary", **summary)
        self.log.event(
            "metrics", **batch_emf(summary, attempt_counts(self.counts_at_start, ckpt.counts))
        )
        print(format_summary(summary), file=self.out, flush=True)
        return code

    def _note_damaged_complete_run(self, damaged: list[str]) -> None:
        """A complete run whose parts no longer match its marker (truncated, overwritten,
        missing): recompute them from the checkpoint (or the whole shard without one)."""
        self.log.event(
            "complete_run_damaged",
            run_id=self.layout.run_id,
            parts=damaged,
            action="recomputing the damaged parts, then rewriting the marker",
        )
        print(
            f"shard {self.settings.shard} of run {self.layout.run_id} was complete, but "
            f"{len(damaged)} part(s) no longer match its marker ({', '.join(damaged[:5])}"
            f"{', ...' if len(damaged) > 5 else ''}): recomputing them",
            file=self.out,
            flush=True,
        )

    def _already_complete(self, marker: dict[str, Any]) -> int:
        self.log.event("already_complete", run_id=self.layout.run_id, run_dir=self.layout.run_dir)
        print(
            f"shard {self.settings.shard} of run {self.layout.run_id} is already complete",
            file=self.out,
        )
        if marker.get("summary"):
            print(format_summary(marker["summary"]), file=self.out, flush=True)
        return exit_codes.OK

    def _recover(self, seq: int) -> RecoveredPart | None:
        """Rows a killed attempt wrote for interval ``seq`` before its checkpoint, if they
        decode; a damaged or distrusted part is discarded (logged) and recomputed."""
        uri = self.layout.part(seq)
        data = self.outputs.read_bytes(uri)
        if data is None:
            return None
        if seq == self.distrusted_seq:
            return None
        try:
            ids, vectors = decode_part(self.layout.output_format, data)
        except Exception as exc:  # noqa: BLE001 - any undecodable part is recomputed, not fatal
            self.log.event("part_discarded", part=uri, seq=seq, reason=f"{type(exc).__name__}")
            return None
        return RecoveredPart(ids, vectors)

    def _model_version(self) -> str:
        path = Path(self.settings.artifact)
        if path.is_dir():
            manifest = read_manifest(path)
            name, version = manifest.name, manifest.version
        else:  # a bundle: verified and unpacked first
            model = self._load_model()
            name, version = model.name, model.version
        if self.settings.model is not None and name != self.settings.model:
            raise JobSettingsError(
                f"{ENV_MODEL}={self.settings.model!r} but {self.settings.artifact} holds model "
                f"{name!r}: the image carries the wrong artifact"
            )
        return version

    def _load_model(self) -> EdgeModel:
        if self.model is None:
            import edge

            self.model = edge.load(self.settings.artifact)
            expected = getattr(self, "version", self.model.version)
            if self.model.version != expected:
                raise ArtifactError(
                    f"{self.settings.artifact} now holds version {self.model.version}, not "
                    f"{expected} as when the job started; rerun the job"
                )
        return self.model
