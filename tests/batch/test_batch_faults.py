"""Fault injection: S3 and DynamoDB go down, hang, throttle and leave keys unprocessed.

The job runs as a subprocess against moto_server through :mod:`tests.batch.fault_proxy`
(real HTTP on loopback). A fault is switched on at a chosen point of the job's own commit
sequence (``PRECAST_BATCH_PAUSE_AT``: the job waits there until the test has switched it),
stays on for that attempt, and is healed before AWS Batch's next attempt. Attempts follow
the job definition's rules (``batch.exit_codes.RETRIED_BY_AWS_BATCH`` within
``AWS_BATCH_ATTEMPTS``; tests/cdk checks the synthesized rules say the same). Every case
must end with output rows and cache contents bit-identical to an uninterrupted run.

Bit-identity holds because the recipe is batch-invariant on one host: on CPU every text
runs alone (``edge/execution.py``), so a cache miss recomputed live equals the cached
vector. Timeouts are short through the job's own settings (``PRECAST_BATCH_AWS_*``), not
by patching anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from batch.exit_codes import AWS_BATCH_ATTEMPTS, RETRIED_BY_AWS_BATCH, TEMPFAIL
from edge.environment import PRECAST_BATCH_AWS_ATTEMPTS, PRECAST_BATCH_AWS_TIMEOUT_S
from tests.batch.fault_proxy import Fault, FaultProxy
from tests.batch.job_io import JobProcess, batch_args, short_texts
from tests.batch.test_batch_s3_dynamodb import s3_rows, table_items

pytestmark = [pytest.mark.integration, pytest.mark.crash]  # storage faults at pause points
TABLE = "precast-faults"
SOURCE = "s3://inputs/texts.jsonl"
FLAGS = ("--checkpoint-every", "20", "--chunk-size", "10")
# The faulted attempt: one try per call, so a fault fails the attempt at its first call;
# a hung call fails when its read timeout fires. The timeout is long against a healthy
# moto_server's answer (milliseconds, and the attempt runs at normal speed up to its pause
# point before any fault is on), so a busy machine cannot make a healthy call time out.
QUICK_AWS = {PRECAST_BATCH_AWS_ATTEMPTS.name: "1", PRECAST_BATCH_AWS_TIMEOUT_S.name: "2"}
# The other attempts: patient enough that moto_server never times out by itself.
PATIENT_AWS = {PRECAST_BATCH_AWS_ATTEMPTS.name: "3", PRECAST_BATCH_AWS_TIMEOUT_S.name: "10"}


def records() -> list[dict[str, Any]]:
    """40 records in 2 intervals of 20; the second repeats the first one's texts (new ids),
    so it is an interval of cache hits."""
    texts = short_texts(20, offset=1200)
    return [{"id": f"f{i}", "text": t} for i, t in enumerate([*texts, *texts])]


@dataclass(frozen=True)
class Result:
    rows: list[tuple[Any, bytes]]
    cache: dict[str, tuple[str, bytes]]


@pytest.fixture(scope="module")
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint, hang_bound_s=30.0) as p:
        yield p


def prepare(endpoint: str) -> dict[str, Any]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for bucket in ("inputs", "outputs"):
        s3.create_bucket(Bucket=bucket)
    body = "".join(json.dumps(r) + "\n" for r in records()).encode()
    s3.put_object(Bucket="inputs", Key="texts.jsonl", Body=body)
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"s3": s3, "ddb": ddb}


def job_args(artifact: Path) -> list[str]:
    return batch_args(artifact, SOURCE, "s3://outputs/out/", f"dynamodb:{TABLE}", *FLAGS)


def result(aws: dict[str, Any]) -> Result:
    return Result(s3_rows(aws["s3"], "out/"), table_items(aws["ddb"], TABLE))


@pytest.fixture(scope="module")
def baseline(moto_endpoint: str, proxy: FaultProxy, artifact: Path) -> Result:
    """An uninterrupted run through the (healthy) proxy: what every faulted run must equal."""
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=5
    )  # loopback
    aws = prepare(moto_endpoint)
    job = JobProcess(job_args(artifact), {"AWS_ENDPOINT_URL": proxy.url, **PATIENT_AWS})
    assert job.finish() == 0, "".join(job.stderr)[-3000:]
    base = result(aws)
    assert len(base.rows) == 40 and len(base.cache) == 20
    return base


@pytest.fixture
def aws(moto_reset: str, proxy: FaultProxy, baseline: Result) -> Iterator[dict[str, Any]]:
    proxy.heal()
    yield prepare(moto_reset)
    proxy.heal()


def as_aws_batch(
    artifact: Path, proxy: FaultProxy, tmp_path: Path, *, fault: tuple[str, Fault], at: str
) -> tuple[list[int], list[JobProcess]]:
    """Attempts as AWS Batch makes them. The first attempt gets ``fault`` (service, fault),
    switched on at its pause point ``at``; it is healed once that attempt has ended, before
    the next."""
    env = {"AWS_ENDPOINT_URL": proxy.url}
    first = JobProcess(job_args(artifact), env | QUICK_AWS, pause_at=at, fifo_dir=tmp_path)
    assert first.wait_for("paused"), "".join(first.stderr)[-3000:]
    proxy.set(*fault)
    first.release()
    jobs, codes = [first], [first.finish()]
    proxy.heal()
    while codes[-1] in RETRIED_BY_AWS_BATCH and len(codes) < AWS_BATCH_ATTEMPTS:
        jobs.append(JobProcess(job_args(artifact), env | PATIENT_AWS))
        codes.append(jobs[-1].finish())
    return codes, jobs


OUTAGES = [
    # (service, fault, where it starts): each makes the first attempt exit 75
    ("s3", "down", "after_renew:2"),  # the second interval's part PUT finds no S3
    ("s3", "hang", "after_cache:1"),  # the first checkpoint PUT gets no answer
    ("dynamodb", "down", "after_checkpoint:1"),  # before the interval of cache hits
    ("dynamodb", "hang", "after_checkpoint:1"),
    ("dynamodb", "throttle", "after_checkpoint:1"),  # every call throttled
]


@pytest.mark.parametrize(
    ("service", "kind", "at"), OUTAGES, ids=[f"{s}-{k}" for s, k, _ in OUTAGES]
)
def test_an_outage_exits_75_and_the_retry_ends_bit_identical(
    aws: dict[str, Any],
    proxy: FaultProxy,
    baseline: Result,
    artifact: Path,
    tmp_path: Path,
    service: str,
    kind: str,
    at: str,
) -> None:
    """GIVEN S3 or DynamoDB going down, hanging (the read timeout fires) or throttling every
    call from a chosen commit step of the first attempt WHEN AWS Batch runs the job THEN
    the first attempt exits 75 without advancing past the failed interval, the second
    (storage healed) exits 0, and rows and cache are bit-identical to the uninterrupted
    run's: nothing lost, nothing doubled."""
    codes, jobs = as_aws_batch(artifact, proxy, tmp_path, fault=(service, Fault(kind)), at=at)
    assert codes == [TEMPFAIL, 0], "".join(jobs[0].stderr)[-3000:]
    what = {"down": "dropped", "hang": "held", "throttle": "throttled"}[kind]
    assert proxy.count(service, what) > 0
    (summary,) = jobs[0].named("summary")
    assert summary["status"] == "failed" and summary["exit_code"] == TEMPFAIL
    assert result(aws) == baseline


def test_throttling_a_third_and_unprocessed_keys_heal_within_the_attempt(
    aws: dict[str, Any], proxy: FaultProxy, baseline: Result, artifact: Path
) -> None:
    """GIVEN 30 % of the distinct S3 and DynamoDB requests throttled on their first try
    (the real SlowDown / ProvisionedThroughputExceededException answers) and every
    BatchGetItem answer leaving half its found keys in UnprocessedKeys WHEN the job runs
    THEN botocore's retries absorb the throttling, the held-back keys are asked again
    (bounded) and any left are logged and counted as live computations: one attempt,
    exit 0, rows and cache bit-identical to the uninterrupted run."""
    proxy.set("s3", Fault("throttle", share=0.3))
    proxy.set("dynamodb", Fault("throttle", share=0.3), Fault("unprocessed"))
    job = JobProcess(job_args(artifact), {"AWS_ENDPOINT_URL": proxy.url, **PATIENT_AWS})
    assert job.finish() == 0, "".join(job.stderr)[-3000:]
    assert proxy.count("dynamodb", "throttled") > 0 and proxy.count("s3", "throttled") > 0
    assert proxy.count("dynamodb", "unprocessed") > 1  # the held-back keys were asked again
    (summary,) = job.named("summary")
    left = sum(e["keys"] for e in job.named("cache_keys_unprocessed"))
    assert summary["skipped_cached"] + left == 20 and summary["predicted"] == 20 + left
    assert result(aws) == baseline
