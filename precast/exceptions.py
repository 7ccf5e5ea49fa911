"""Errors of the CLI and config layer."""

from __future__ import annotations

from edge.exceptions import PrecastError


class ConfigError(PrecastError):
    """precast.toml is missing, unreadable or has a bad key. The message names file and key."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        where = ""
        if path:
            where = f"{path}: "
        if key:
            where += f"[{key}] "
        super().__init__(f"{where}{message}")
        self.path = path
        self.key = key


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


class UncertifiedArtifactError(PrecastError):
    """An artifact is about to be deployed to a Lambda architecture it was never certified
    for; the message says how to certify it, or how to accept it uncertified."""

    def __init__(self, message: str, *, model: str, architecture: str) -> None:
        super().__init__(message)
        self.model = model
        self.architecture = architecture
