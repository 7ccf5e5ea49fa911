"""Every shell and Python block in README.md and docs/ is run here, names the test that runs
its equivalent, or says why it cannot run here; every `precast` command shown parses."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from docs_support import (
    REPO,
    SHELL_LANGUAGES,
    Block,
    all_blocks,
    checked_blocks,
    command_lines,
    looks_like_commands,
    shell_script,
)

RUN_BLOCKS = [b for b in checked_blocks() if b.kind == "run"]
# a block that builds a Lambda asset (pip installs wheels for the platform) takes ~20 s
RUN_PARAMS = [
    pytest.param(b, id=b.where, marks=[pytest.mark.slow] if "package lambda" in b.text else [])
    for b in RUN_BLOCKS
]
BUCKET = "docs-test-bucket"
ACCESS_LOG_BUCKET = "docs-test-access-logs"


def test_every_shell_and_python_block_says_how_it_is_tested() -> None:
    """GIVEN every ```bash/sh/console/python block of README.md and docs/*.md WHEN the lines
    before its fence are read THEN there is exactly one docs-test marker (run, covered-by or
    skip with a reason): a new block without one fails here."""
    problems = [
        f"{b.where}: {len(b.markers)} docs-test markers (need exactly one)"
        for b in checked_blocks()
        if len(b.markers) != 1
    ]
    problems += [
        f"{b.where}: `skip` without a reason"
        for b in checked_blocks()
        if b.kind == "skip" and len(b.argument) < 10
    ]
    assert not problems, "\n".join(problems)


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_covered_by_names_tests_that_exist() -> None:
    """GIVEN a `covered-by tests/x.py::test_y[, ...]` marker WHEN resolved THEN each file
    exists and defines that test (renaming or deleting the test fails here)."""
    problems = []
    for block in (b for b in checked_blocks() if b.kind == "covered-by"):
        refs = [r.strip() for r in block.argument.split(",") if r.strip()]
        if not refs:
            problems.append(f"{block.where}: covered-by names no test")
        for ref in refs:
            file, _, name = ref.partition("::")
            path = REPO / file
            if not (file.startswith("tests/") and path.is_file()):
                problems.append(f"{block.where}: {file} is not a test file")
            elif name and name.split("[")[0] not in _test_names(path):
                problems.append(f"{block.where}: {file} has no {name}")
    assert not problems, "\n".join(problems)


def test_unlabelled_blocks_are_not_commands() -> None:
    """GIVEN a fence with no language WHEN its first line looks like a command THEN fail:
    commands are fenced as bash/sh/console so that the marker rule applies to them."""
    unlabelled = [b.where for b in all_blocks() if b.lang == "" and looks_like_commands(b)]
    assert not unlabelled, f"label these blocks (```bash, or ```text for output): {unlabelled}"


def _parse_error(prog: str, argv: list[str]) -> str | None:
    from batch.__main__ import build_parser as batch_parser
    from precast.cli import build_parser

    parser = build_parser() if prog == "precast" else batch_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            return err.getvalue().strip().splitlines()[-1]
    return None


def test_every_documented_command_line_parses() -> None:
    """GIVEN every `precast ...` and `python -m batch ...` line in any shell block (run or
    not; placeholders made concrete) WHEN given to the real argparse parser THEN it parses:
    a renamed or removed subcommand or option in the docs fails here."""
    problems = []
    seen = 0
    for block in (b for b in checked_blocks() if b.lang in SHELL_LANGUAGES):
        for argv in command_lines(block):
            seen += 1
            error = _parse_error(argv[0], argv[1:])
            if error:
                problems.append(f"{block.where}: {' '.join(argv)}\n    {error}")
    assert seen > 20, "the docs' command lines were not found"
    assert not problems, "\n".join(problems)


def test_a_stale_option_in_a_doc_block_would_fail() -> None:
    """GIVEN a block naming an option precast does not have WHEN checked like the docs
    THEN the parser reports it (the check above is not vacuous)."""
    block = Block(REPO / "README.md", 1, "bash", "precast serve --no-such-flag\n", ())
    (argv,) = command_lines(block)
    assert "--no-such-flag" in (_parse_error(argv[0], argv[1:]) or "")


# --- running the `run` blocks -------------------------------------------------------------


@pytest.fixture
def project(
    repo_root: Path, sample_artifact: Path, tmp_path: Path, moto_reset: str
) -> tuple[Path, dict[str, str]]:
    """A private project directory as a user has it after `make install`: the repo's
    precast.toml (keys, dist and cache local to the directory), `artifacts/` holding the
    built sample, `.venv/`, a small `texts.jsonl`; and a versioned bucket (plus an
    access-log bucket) in moto_server for `s3://` commands."""
    text = (repo_root / "precast.toml").read_text(encoding="utf-8")
    text = re.sub(r"\[project\]\n(?:[^\[\n].*\n)*", "[project]\n", text, count=1)
    (tmp_path / "precast.toml").write_text(text, encoding="utf-8")
    (tmp_path / "artifacts").symlink_to(sample_artifact.parent.parent)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "texts.jsonl").write_text(
        '{"id": 1, "text": "Return the number of items in a container."}\n'
        '{"id": 2, "text": "Open file and return a stream."}\n',
        encoding="utf-8",
    )
    s3 = boto3.client("s3", endpoint_url=moto_reset)
    for bucket in (BUCKET, ACCESS_LOG_BUCKET):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for version in (b"1", b"2"):  # two versions of one object, as a used stack has
            s3.put_object(Bucket=bucket, Key="s3-access/old.log", Body=version)
    s3.put_bucket_acl(Bucket=ACCESS_LOG_BUCKET, ACL="log-delivery-write")
    s3.put_bucket_logging(
        Bucket=BUCKET,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": ACCESS_LOG_BUCKET, "TargetPrefix": "s3-access/"}
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECAST_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_ENDPOINT_URL"] = moto_reset
    return tmp_path, env


def _fill(text: str, sample_artifact: Path) -> str:
    return (
        text.replace("<version>", sample_artifact.name)
        .replace("<ModelStoreBucket>", BUCKET)
        .replace("<bucket>", BUCKET)
        .replace("<AccessLogBucket>", ACCESS_LOG_BUCKET)
    )


@pytest.mark.integration
@pytest.mark.parametrize("block", RUN_PARAMS)
def test_run_block(
    block: Block, project: tuple[Path, dict[str, str]], sample_artifact: Path
) -> None:
    """GIVEN a block marked `run` WHEN executed in a private project (shell: bash -e; python:
    the venv's interpreter) with its placeholders filled from the real build THEN it exits
    0, and what it says it makes exists."""
    cwd, env = project
    if block.lang == "python":
        cmd = [sys.executable, "-c", _fill(block.text, sample_artifact)]
    else:
        script = _fill(shell_script(block), sample_artifact)
        cmd = ["bash", "-e", "-o", "pipefail", "-c", script]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{block.where} failed:\n{done.stdout}\n{done.stderr}"
    if "<ModelStoreBucket>" in block.text and "object_versions" in block.text:  # teardown
        s3 = boto3.client("s3")
        store = s3.list_object_versions(Bucket=BUCKET)
        assert not store.get("Versions") and not store.get("DeleteMarkers")
        # moto_server, like S3, logs the deletes themselves into the access-log bucket (the
        # doc's "logs keep arriving"): what was there before is gone, new log lines are not
        logs = s3.list_object_versions(Bucket=ACCESS_LOG_BUCKET, Prefix="s3-access/old.log")
        assert not logs.get("Versions") and not logs.get("DeleteMarkers")
    for expected in re.findall(r"#\s*((?:dist|out|\.precast)/[\w./-]*\w/?)", block.text):
        assert (cwd / expected).exists(), f"{block.where} says it makes {expected}"
