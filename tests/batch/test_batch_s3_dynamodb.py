"""On AWS's APIs: S3 input/output/checkpoints and the DynamoDB cache, against a real
moto_server over HTTP (the ``moto_endpoint`` fixture points AWS_ENDPOINT_URL at it)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.crashpoints import ENV_CRASH_AT
from batch.exceptions import InputChangedError
from batch.job import run_job
from batch.parts import decode_part
from batch.s3 import S3Storage
from batch.settings import JobSettings
from edge.cache.base import cache_key
from tests.batch.job_io import KILL, JobProcess, batch_args, run_to_end, short_texts

pytestmark = pytest.mark.integration
TABLE = "precast-cache"


@pytest.fixture
def aws(moto_reset: str) -> dict[str, Any]:
    s3 = boto3.client("s3", endpoint_url=moto_reset)
    for bucket in ("inputs", "outputs"):
        s3.create_bucket(Bucket=bucket)
    ddb = boto3.client("dynamodb", endpoint_url=moto_reset)
    for table in (TABLE, f"{TABLE}-2"):
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return {"s3": s3, "ddb": ddb}


def put_jsonl(s3: Any, key: str, rows: list[dict[str, Any]]) -> str:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    s3.put_object(Bucket="inputs", Key=key, Body=body)
    return f"s3://inputs/{key}"


def s3_rows(s3: Any, prefix: str, shard: int = 0) -> list[tuple[Any, bytes]]:
    """Rows of the parts listed in the shard's _SUCCESS marker under ``prefix``."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="outputs", Prefix=prefix)["Contents"]]
    (marker_key,) = [k for k in keys if k.endswith(f"_SUCCESS-{shard:05d}.json")]
    marker = json.loads(s3.get_object(Bucket="outputs", Key=marker_key)["Body"].read())
    run_prefix = marker_key.rsplit("/", 1)[0]
    rows: list[tuple[Any, bytes]] = []
    for name in marker["parts"]:
        data = s3.get_object(Bucket="outputs", Key=f"{run_prefix}/{name}")["Body"].read()
        ids, vectors = decode_part(name.rsplit(".", 1)[-1], data)
        rows.extend((i, v.astype("<f4").tobytes()) for i, v in zip(ids, vectors, strict=True))
    return sorted(rows, key=lambda r: (str(r[0]), r[1]))


def table_items(ddb: Any, table: str) -> dict[str, tuple[str, bytes]]:
    items: dict[str, tuple[str, bytes]] = {}
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        for it in page["Items"]:
            items[it["pk"]["S"]] = (it["model_version"]["S"], bytes(it["vector"]["B"]))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run(artifact: Path, **kwargs: Any) -> dict[str, Any]:
    log = io.StringIO()
    code = run_job(JobSettings(artifact=str(artifact), **kwargs), log_stream=log, out=io.StringIO())
    assert code == 0, log.getvalue()[-2000:]
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    (summary,) = [e for e in events if e["event"] == "summary"]
    return summary


def test_s3_in_s3_out_fills_dynamodb_and_second_run_skips(
    aws: dict[str, Any], artifact: Path, sample_model: Any
) -> None:
    """GIVEN JSONL on S3 and an empty DynamoDB table WHEN the job runs with S3 output and an
    S3 checkpoint prefix THEN S3 holds one row per record, DynamoDB one entry per text whose
    vector equals the output row; a second run into a new prefix infers nothing."""
    texts = short_texts(60)
    source = put_jsonl(
        aws["s3"], "minilm/texts.jsonl", [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]
    )
    common = {
        "input": source,
        "cache_url": f"dynamodb:{TABLE}",
        "checkpoint_every": 25,
        "chunk_size": 25,
    }
    first = run(
        artifact, output="s3://outputs/minilm/", checkpoint="s3://outputs/checkpoints/", **common
    )
    assert (first["predicted"], first["cache_written"], first["parts"]) == (60, 60, 3)
    rows = dict(s3_rows(aws["s3"], "minilm/"))
    assert sorted(rows) == sorted(f"t{i}" for i in range(60))
    ckpts = aws["s3"].list_objects_v2(Bucket="outputs", Prefix="checkpoints/")["Contents"]
    assert [o["Key"].rsplit("/", 1)[-1] for o in ckpts] == ["checkpoint-00000.json"]
    items = table_items(aws["ddb"], TABLE)
    assert len(items) == 60
    for i, text in enumerate(texts):
        version, vector = items[cache_key(sample_model.version, text)]
        assert version == sample_model.version and vector == rows[f"t{i}"]

    second = run(artifact, output="s3://outputs/again/", **common)
    assert (second["predicted"], second["skipped_cached"], second["cache_written"]) == (0, 60, 0)
    assert dict(s3_rows(aws["s3"], "again/")) == rows


def test_parquet_on_s3_is_read_by_ranges(aws: dict[str, Any], artifact: Path) -> None:
    """GIVEN a Parquet file with several row groups on S3 WHEN the job reads it THEN every
    row is embedded once and written as Parquet to S3."""
    sink = io.BytesIO()
    texts = short_texts(45, offset=300)
    pq.write_table(pa.table({"id": list(range(45)), "text": texts}), sink, row_group_size=10)
    aws["s3"].put_object(Bucket="inputs", Key="t.parquet", Body=sink.getvalue())
    summary = run(
        artifact, input="s3://inputs/t.parquet", output="s3://outputs/pq/", checkpoint_every=20
    )
    assert summary["output_rows"] == 45
    rows = s3_rows(aws["s3"], "pq/")
    assert sorted(r[0] for r in rows) == list(range(45))
    assert all(len(v) == 384 * 4 for _, v in rows)


def test_input_replaced_during_a_read_is_detected(aws: dict[str, Any]) -> None:
    """GIVEN an input object that is overwritten after the job looked at it WHEN the job
    reads it THEN it stops with InputChangedError instead of mixing two versions."""
    uri = put_jsonl(aws["s3"], "moving.jsonl", [{"id": 1, "text": "old"}])
    storage = S3Storage()
    info = storage.info(uri)
    put_jsonl(aws["s3"], "moving.jsonl", [{"id": 1, "text": "new"}, {"id": 2, "text": "more"}])
    with pytest.raises(InputChangedError, match="changed"):
        storage.open_stream(info, 0).read(10)


@pytest.mark.slow
def test_kill_during_a_dynamodb_batch_write_resumes_exactly(
    aws: dict[str, Any], artifact: Path
) -> None:
    """GIVEN an AWS Batch array child (index from AWS_BATCH_JOB_ARRAY_INDEX, --shards 2)
    killed with SIGKILL after half of an interval's DynamoDB writes WHEN it is retried
    THEN its S3 output and DynamoDB entries equal those of an uninterrupted child."""
    texts = short_texts(160, offset=900)
    source = put_jsonl(aws["s3"], "big.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    env = {"AWS_BATCH_JOB_ARRAY_INDEX": "1"}
    flags = ("--shards", "2", "--checkpoint-every", "20", "--chunk-size", "10")

    def args(prefix: str, table: str) -> list[str]:
        return batch_args(artifact, source, f"s3://outputs/{prefix}/", f"dynamodb:{table}", *flags)

    run_to_end(args("base", TABLE), env)
    killed = JobProcess(args("crash", f"{TABLE}-2"), {**env, ENV_CRASH_AT: "mid_cache:2"})
    assert killed.finish() == -KILL
    partial = table_items(aws["ddb"], f"{TABLE}-2")
    assert 20 < len(partial) < 40  # one interval plus half of the next
    run_to_end(args("crash", f"{TABLE}-2"), env)
    base_rows, crash_rows = s3_rows(aws["s3"], "base/", 1), s3_rows(aws["s3"], "crash/", 1)
    assert sorted(r[0] for r in base_rows) == list(range(1, 160, 2))
    assert crash_rows == base_rows
    assert table_items(aws["ddb"], f"{TABLE}-2") == table_items(aws["ddb"], TABLE)
    assert np.frombuffer(base_rows[0][1], dtype="<f4").shape == (384,)


def test_s3_compare_and_swap_backs_the_shard_lease(aws: dict[str, Any]) -> None:
    """GIVEN moto_server's S3 WHEN a lease object is created twice and replaced with a stale
    and with the current ETag THEN S3's conditional writes refuse the second create and the
    stale replace (If-None-Match / If-Match over HTTP) and accept the current one."""
    from batch.s3 import S3Storage

    store = S3Storage(aws["s3"])
    uri = "s3://outputs/leases/lease-00000.json"
    first = store.write_if(uri, b"a", None)
    assert first is not None
    assert store.write_if(uri, b"b", None) is None
    second = store.write_if(uri, b"c", first)
    assert second is not None and second != first
    assert store.write_if(uri, b"d", first) is None
    assert store.read_tagged(uri) == (b"c", second)


def test_half_the_keys_left_unprocessed_are_counted_and_change_no_row(
    aws: dict[str, Any], artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a filled DynamoDB cache that (as under load) leaves every other key of each
    BatchGetItem in UnprocessedKeys, every time WHEN the job reruns over the same input into
    a new output THEN the unprocessed keys are logged and counted (cache_keys_unprocessed),
    computed live, and every row is bit-identical to the first run's (per-text execution:
    a recomputed vector is the cached one)."""
    from edge.cache.clients import RetryProfile
    from edge.cache.dynamodb import DynamoDBCache

    texts = short_texts(80)
    source = put_jsonl(aws["s3"], "half/texts.jsonl", [{"id": f"h{i}", "text": t}
                                                       for i, t in enumerate(texts)])  # fmt: skip
    common = {"input": source, "cache_url": f"dynamodb:{TABLE}", "checkpoint_every": 40}
    run(artifact, output="s3://outputs/half-first/", **common)
    first = dict(s3_rows(aws["s3"], "half-first/"))

    real_from_url = DynamoDBCache.from_url

    def leaky(url: str, retry: RetryProfile) -> DynamoDBCache:
        cache = real_from_url(url, retry)
        cache._sleep = lambda s: None  # its backoff between retries; the count is what matters

        def hold_back_half(parsed: dict[str, Any], **kwargs: Any) -> None:
            items = parsed.get("Responses", {}).get(cache.table, [])
            kept, held = items[::2], items[1::2]
            parsed["Responses"][cache.table] = kept
            if held:
                keys = [{"pk": i["pk"]} for i in held]
                parsed["UnprocessedKeys"] = {cache.table: {"Keys": keys}}

        cache.client.meta.events.register("after-call.dynamodb.BatchGetItem", hold_back_half)
        return cache

    monkeypatch.setattr(DynamoDBCache, "from_url", staticmethod(leaky))
    log = io.StringIO()
    settings = JobSettings(artifact=str(artifact), output="s3://outputs/half-again/", **common)
    assert run_job(settings, log_stream=log, out=io.StringIO()) == 0
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    unprocessed = [e for e in events if e["event"] == "cache_keys_unprocessed"]
    assert unprocessed and unprocessed[-1]["total"] == sum(e["keys"] for e in unprocessed) > 0
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert summary["predicted"] == unprocessed[-1]["total"] > 0
    assert dict(s3_rows(aws["s3"], "half-again/")) == first


def test_a_complete_run_whose_part_was_overwritten_on_s3_is_repaired_on_rerun(
    aws: dict[str, Any], artifact: Path
) -> None:
    """GIVEN a complete run on S3 WHEN one of its parts is overwritten with bytes of the same
    size (a bad sync) and the job runs again THEN it re-reads the parts, finds that one
    against the marker's digests, recomputes it, and the rows equal the first run's."""
    texts = short_texts(50, offset=1200)
    source = put_jsonl(
        aws["s3"], "repair.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)]
    )
    common = {"input": source, "output": "s3://outputs/repair/", "checkpoint_every": 20}
    run(artifact, **common)
    rows = s3_rows(aws["s3"], "repair/")
    keys = [
        o["Key"] for o in aws["s3"].list_objects_v2(Bucket="outputs", Prefix="repair/")["Contents"]
    ]
    (part_key,) = [k for k in keys if k.endswith("part-00000-000001.jsonl")]
    data = aws["s3"].get_object(Bucket="outputs", Key=part_key)["Body"].read()
    at = next(i for i in range(len(data) // 2, len(data)) if chr(data[i]).isdigit())
    flipped = data[:at] + (b"7" if data[at : at + 1] != b"7" else b"3") + data[at + 1 :]
    aws["s3"].put_object(Bucket="outputs", Key=part_key, Body=flipped)
    assert aws["s3"].get_object(Bucket="outputs", Key=part_key)["Body"].read() != data
    log = io.StringIO()
    code = run_job(JobSettings(artifact=str(artifact), **common), log_stream=log, out=io.StringIO())
    assert code == 0, log.getvalue()[-2000:]
    events = [json.loads(line)["event"] for line in log.getvalue().splitlines()]
    assert "complete_run_damaged" in events and "already_complete" not in events
    assert s3_rows(aws["s3"], "repair/") == rows
