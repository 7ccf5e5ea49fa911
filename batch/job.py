"""Run one shard of a batch precompute: resume, stream, infer, commit, summarize.

``run_job(settings) -> exit code`` (see :mod:`batch.exit_codes`). Steps:

1. Identify the run (model version + input objects + shard count + fields + format) and
   its directory ``<output>/run-<id>/``. A ``_SUCCESS`` marker there whose parts all
   verify: nothing to do.
2. Load the checkpoint, if any, and stream this shard's records from its position
   (:mod:`batch.resume`: the checks, the rewind to a damaged part, recovered rows).
3. Per chunk: validate (rejects), look up the cache, infer the misses (edge's hybrid
   path), buffer. Per interval: commit part -> rejects -> cache -> checkpoint.
4. On SIGTERM/SIGINT: commit after the current chunk and exit 128+signal.
5. At the end: check the error budget, write the summary, then the marker
   (:mod:`batch.finish`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import TextIO

from batch import crashpoints, exit_codes
from batch.artifact import JobArtifact
from batch.backends import storage_for
from batch.checkpoint import Checkpoint, Counts, save_checkpoint
from batch.chunks import ChunkProcessor, group_chunks, interval_end
from batch.exceptions import TransientStorageError
from batch.finish import Finish, failure_code
from batch.interrupts import StopSignal, stop_on_signals
from batch.interval import Committer, Interval, elapsed_since
from batch.layout import RunLayout, run_id_of, run_identity
from batch.lease import LeaseHeldError, LeaseLostError, ShardLease
from batch.logs import JobLog
from batch.marker import check_error_budget
from batch.parts import require_pyarrow
from batch.readers import resolve_inputs
from batch.resume import Resume
from batch.settings import JobSettings
from edge.cache import PredictionCache, open_cache
from edge.cache.clients import batch_profile
from edge.exceptions import PrecastError


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
    """One attempt at one shard: holds the run's identity and the lease, streams the shard
    from where :class:`Resume` says, commits each interval, and hands the end to
    :class:`Finish`."""

    def __init__(self, settings: JobSettings, log: JobLog, out: TextIO) -> None:
        self.settings = settings
        self.log = log
        self.out = out
        self.started = time.monotonic()
        self.inputs = storage_for(settings.input)
        self.outputs = storage_for(settings.output)
        self.checkpoints = storage_for(settings.checkpoint) if settings.checkpoint else self.outputs
        self.files, self.input_format = resolve_inputs(self.inputs, settings.input)
        self.artifact = JobArtifact(settings.artifact, settings.model)
        self.version = self.artifact.version
        self.counts_at_start = Counts()  # the checkpoint's totals when this attempt began
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
        self.lease = ShardLease(self.checkpoints, self.layout.lease, ttl_s=settings.lease_ttl_s)
        self.resume = Resume(
            inputs=self.inputs,
            files=self.files,
            input_format=self.input_format,
            outputs=self.outputs,
            checkpoints=self.checkpoints,
            layout=self.layout,
            log=log,
            out=out,
        )
        self.finish = Finish(
            settings=settings,
            layout=self.layout,
            identity=self.identity,
            version=self.version,
            outputs=self.outputs,
            log=log,
            out=out,
            started=self.started,
        )

    def run(self) -> int:
        marker = self.resume.complete_marker()
        if marker is not None:
            return self.finish.already_complete(marker)
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
        ckpt = self.resume.load_checkpoint()
        resumed = ckpt is not None
        if ckpt is None:
            self.resume.note_unfinished_runs()
            chunk = min(s.chunk_size, s.checkpoint_every)
            ckpt = Checkpoint(self.layout.run_id, str(s.shard), s.checkpoint_every, chunk)
        base_elapsed = ckpt.elapsed_s
        self.counts_at_start = replace(ckpt.counts)  # this attempt's metrics are the difference
        ckpt.attempts += 1
        status, code, error = "complete", exit_codes.OK, None
        if ckpt.done:  # a complete run's part damaged since (found against its marker)
            self.resume.rewind_if_damaged(ckpt, "rerun")
        try:
            if not ckpt.done:
                status, code = self._process_with_cache(ckpt, resumed, base_elapsed)
            if status == "complete":
                check_error_budget(ckpt.counts, s.error_budget)
        except LeaseLostError:
            raise  # fenced off: run() stops without writing a summary
        except PrecastError as exc:  # the error budget, cache, storage, input format
            status, code, error = "failed", failure_code(exc), str(exc)
        ckpt.elapsed_s = elapsed_since(self.started, base_elapsed)
        return self.finish.finish(ckpt, self.counts_at_start, status, code, error)

    def _process_with_cache(
        self, ckpt: Checkpoint, resumed: bool, base_elapsed: float
    ) -> tuple[str, int]:
        cache_url = self.settings.cache_url
        cache = open_cache(cache_url, batch_profile()) if cache_url else None
        try:
            with stop_on_signals() as stop:
                self.resume.rewind_if_damaged(ckpt, "resume")
                while True:
                    self._process(ckpt, cache, stop, resumed=resumed, base_elapsed=base_elapsed)
                    if stop.requested and not ckpt.done:
                        break
                    if not self.resume.rewind_if_damaged(ckpt, "completion"):
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
        model = self.artifact.model()
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
        recovered = self.resume.recover(ckpt.seq)  # a killed attempt may have written it
        committer = Committer(
            layout=layout,
            output=self.outputs,
            checkpoints=self.checkpoints,
            cache=cache,
            model_version=self.version,
            dim=model.manifest.dim,
            recovering_seq=ckpt.seq,
            on_retry=self.log.cache_write_retry,
        )
        processor = ChunkProcessor(
            model,
            cache,
            id_field=s.id_field,
            text_field=s.text_field,
            skip_cached=s.skip_cached,
            ttl_s=s.ttl_s,
        )
        records, digest = self.resume.records(ckpt, id_field=s.id_field, text_field=s.text_field)
        self.log.start_progress(s.progress, initial=ckpt.counts.read)
        first_seq = ckpt.seq
        interval = Interval(ckpt.seq, interval_end(ckpt.next_index, ckpt.interval))
        for chunk in group_chunks(records, ckpt.interval, ckpt.chunk):
            result = processor.process(chunk, recovered if interval.seq == first_seq else None)
            if recovered is not None and recovered.refused:
                self.resume.note_refused(first_seq)
                recovered = None
            if result.cache_error:
                self.log.event("cache_read_error", error=result.cache_error, seq=interval.seq)
            self.log.cache_keys_unprocessed(cache, interval.seq)
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
        if self.resume.first_damaged_part(ckpt) is not None:
            return  # not done: the caller rewinds to the damaged part and goes on
        self.resume.check_inputs_unchanged()
        ckpt.done = True
        if digest is not None:
            ckpt.input_sha256 = digest.full()  # every file, read to its end
        ckpt.elapsed_s = elapsed_since(self.started, base_elapsed)
        save_checkpoint(self.checkpoints, layout.checkpoint, ckpt)

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
