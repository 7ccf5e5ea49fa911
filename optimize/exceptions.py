"""Errors of the build: a model precast cannot read, a budget no recipe meets.

They join the one hierarchy rooted in :class:`edge.exceptions.PrecastError`. A bad setting
in precast.toml is a :class:`precast.project.exceptions.ConfigError`, wherever it is found.
"""

from __future__ import annotations

from edge.exceptions import PrecastError


class AccuracyBudgetError(PrecastError):
    """No quantization recipe met the accuracy budget; ``report`` holds every score."""

    def __init__(self, message: str, *, report: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.report = report


class ModelSourceError(PrecastError):
    """A model directory precast cannot build: the message names the missing file or field."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
