"""The fenced code blocks of README.md and docs/*.md, and the marker that says how each is
tested.

A shell or Python block is preceded (on the lines just before its fence, among other HTML
comments) by exactly one marker:

    <!-- docs-test: run -->                            tests/docs/test_docs_blocks.py runs it
    <!-- docs-test: covered-by tests/x.py::test_y -->  that test runs the equivalent
    <!-- docs-test: skip <reason> -->                  not runnable here, and why

Placeholders in a ``run`` block are filled from the real build (``<version>``: the sample
artifact's version; ``<bucket>``/``<ModelStoreBucket>``: a bucket in moto_server).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CHECKED_LANGUAGES = {"bash", "sh", "shell", "console", "python"}
SHELL_LANGUAGES = CHECKED_LANGUAGES - {"python"}
MARKER = re.compile(r"<!--\s*docs-test:\s*(run|skip|covered-by)\b\s*(.*?)\s*-->")
_FENCE = re.compile(r"^```(\S*)\s*$")
# an unlabelled block that starts like a command must say what it is (```bash or ```text)
_COMMAND_START = re.compile(r"^(\$ |precast |\.venv/bin/|python |make |pip |npx |aws )")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    markers: tuple[tuple[str, str], ...]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def kind(self) -> str:
        return self.markers[0][0] if len(self.markers) == 1 else ""

    @property
    def argument(self) -> str:
        return self.markers[0][1] if len(self.markers) == 1 else ""


def _markers_before(lines: list[str], fence: int) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    i = fence - 1
    while i >= 0 and lines[i].strip().startswith("<!--") and lines[i].strip().endswith("-->"):
        match = MARKER.search(lines[i])
        if match:
            found.append((match.group(1), match.group(2)))
        i -= 1
    return tuple(found)


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, lang = i, match.group(1)
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            i += 1
        body = "\n".join(lines[start + 1 : i]) + "\n"
        out.append(Block(path, start + 1, lang, body, _markers_before(lines, start)))
        i += 1
    return out


def all_blocks() -> list[Block]:
    return [b for path in DOCS for b in blocks(path)]


def checked_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in CHECKED_LANGUAGES]


def looks_like_commands(block: Block) -> bool:
    first = next((line for line in block.text.splitlines() if line.strip()), "")
    return bool(_COMMAND_START.match(first))


def shell_script(block: Block) -> str:
    """The commands of a shell block (a console block: its ``$`` lines and continuations)."""
    if block.lang != "console":
        return block.text
    out: list[str] = []
    continuing = False
    for line in block.text.splitlines():
        if line.startswith("$ "):
            out.append(line[2:])
        elif continuing:
            out.append(line)
        else:
            continue
        continuing = line.rstrip().endswith("\\")
    return "\n".join(out) + "\n"


def command_lines(block: Block) -> list[list[str]]:
    """Every ``precast`` / ``python -m batch`` invocation in a shell block, as argv after the
    program name, with placeholders (``...``, ``<x>``) and optional ``[...]`` groups made
    parseable. Used to check each against the real parser."""
    joined = re.sub(r"\\\n\s*", " ", shell_script(block))
    found: list[list[str]] = []
    for line in joined.splitlines():
        for part in re.split(r"&&|;|\|\||(?<!\|)\|(?!\|)", line):
            words = _words(part)
            if not words:
                continue
            if words[0].endswith("precast"):
                found.append(["precast", *words[1:]])
            elif words[0] in ("python", "python3") and words[1:3] == ["-m", "batch"]:
                found.append(["python -m batch", *words[3:]])
    return found


def _words(command: str) -> list[str]:
    command = command.strip().rstrip("&").strip()
    command = re.sub(r"\[(--[^\]]*)\]", r"\1", command)  # optional groups: [--deadline 900]
    command = re.sub(r"<[^<>\s]+>", "X", command).replace("...", "X")
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return []
