"""Errors of the project library: the config loader, the Lambda asset check, the cost model.

They join the one hierarchy rooted in :class:`edge.exceptions.PrecastError`, so the CLI and
the CDK app report them as they report every other precast error.
"""

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


class UncertifiedArtifactError(PrecastError):
    """An artifact is about to be deployed to a Lambda architecture it was never certified
    for; the message says how to certify it, or how to accept it uncertified."""

    def __init__(self, message: str, *, model: str, architecture: str) -> None:
        super().__init__(message)
        self.model = model
        self.architecture = architecture


class CostInputError(PrecastError):
    """A benchmark result the cost model needs is missing or malformed; the message names
    the file and the benchmark command that writes it."""
