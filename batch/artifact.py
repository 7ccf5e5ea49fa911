"""The artifact a batch job runs: its version fixed when the job starts, the model loaded
once, on first use, and refused if the artifact changed underneath the job since."""

from __future__ import annotations

from pathlib import Path

from batch.settings import ENV_MODEL, JobSettingsError
from edge.exceptions import ArtifactError
from edge.manifest import read_manifest
from edge.model import EdgeModel


class JobArtifact:
    def __init__(self, artifact: str, expected_model: str | None) -> None:
        self.path = artifact
        self._model: EdgeModel | None = None
        if Path(artifact).is_dir():
            manifest = read_manifest(Path(artifact))
            name, version = manifest.name, manifest.version
        else:  # a bundle: verified and unpacked first
            self._model = self._open(expected_version=None)
            name, version = self._model.name, self._model.version
        if expected_model is not None and name != expected_model:
            raise JobSettingsError(
                f"{ENV_MODEL}={expected_model!r} but {artifact} holds model "
                f"{name!r}: the image carries the wrong artifact"
            )
        self.version = version

    def model(self) -> EdgeModel:
        if self._model is None:
            self._model = self._open(expected_version=self.version)
        return self._model

    def _open(self, *, expected_version: str | None) -> EdgeModel:
        import edge

        model = edge.load(self.path)
        if expected_version is not None and model.version != expected_version:
            raise ArtifactError(
                f"{self.path} now holds version {model.version}, not "
                f"{expected_version} as when the job started; rerun the job"
            )
        return model
