""".dockerignore: the repository-root build context leaves out what CDK's context leaves out."""

from __future__ import annotations

import re

from docs_support import REPO

from cdk.images import REPO_CONTEXT_EXCLUDES


def _patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_is_the_cdk_context_exclude_list() -> None:
    """GIVEN .dockerignore and cdk/images.py's REPO_CONTEXT_EXCLUDES WHEN compared THEN the
    same patterns: `docker build -f batch/Dockerfile .` by hand sends what `cdk deploy`
    sends (no .venv/, dist/, keys, caches)."""
    patterns = _patterns()
    assert sorted(patterns) == sorted(REPO_CONTEXT_EXCLUDES)
    assert {".venv", "dist", ".precast"} <= set(patterns)


def test_nothing_the_images_copy_is_ignored() -> None:
    """GIVEN the COPY sources of batch/Dockerfile WHEN matched against .dockerignore THEN
    none is excluded (edge/, batch/ and the artifact under artifacts/ reach the image)."""
    dockerfile = (REPO / "batch" / "Dockerfile").read_text(encoding="utf-8")
    sources = re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE)
    assert sources, "no COPY in batch/Dockerfile"
    tops = {s.replace("${ARTIFACT}", "artifacts").split("/")[0] for s in sources}
    assert tops == {"edge", "batch", "artifacts"}
    assert not tops & set(_patterns())
