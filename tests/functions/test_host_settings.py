"""Settings resolve: explicit argument, then environment variable, then default."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.exceptions import SettingsError
from functions.settings import (
    DEFAULT_MAX_BODY_BYTES,
    ENV_ARTIFACT_DIR,
    ENV_CACHE_TTL_S,
    ENV_CACHE_URL,
    ENV_MAX_BODY_BYTES,
    ENV_MICRO_BATCH,
    ENV_MODELS_DIR,
    ENV_WRITE_BACK,
    artifacts_in,
    resolve_settings,
)


def _artifact(root: Path, name: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "manifest.json").write_text("{}")
    return d


def test_argument_beats_environment_beats_default(tmp_path: Path) -> None:
    """GIVEN an env var and an argument for the same setting WHEN resolved THEN the argument
    wins; without the argument the env var wins; without both, the default."""
    env = {
        ENV_ARTIFACT_DIR: str(tmp_path / "env-artifact"),
        ENV_MAX_BODY_BYTES: "1000",
        ENV_WRITE_BACK: "false",
        ENV_CACHE_URL: "sqlite:/tmp/x.sqlite",
    }
    s = resolve_settings(environ=env, max_body_bytes=5, artifact_dirs=(tmp_path / "arg",))
    assert s.max_body_bytes == 5
    assert s.artifact_dirs == (tmp_path / "arg",)
    assert s.write_back is False
    assert s.cache_url == "sqlite:/tmp/x.sqlite"
    s = resolve_settings(environ=env)
    assert s.max_body_bytes == 1000
    assert s.artifact_dirs == (tmp_path / "env-artifact",)
    s = resolve_settings(environ={ENV_ARTIFACT_DIR: "a"})
    assert s.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert s.write_back is True and s.micro_batch is False and s.cache_url is None


@pytest.mark.parametrize("raw", ["", "none", "off", " None "])
def test_cache_can_be_switched_off(raw: str) -> None:
    """GIVEN PRECAST_CACHE_URL empty or 'none' WHEN resolved THEN no cache."""
    assert resolve_settings(environ={ENV_ARTIFACT_DIR: "a", ENV_CACHE_URL: raw}).cache_url is None


def test_ttl_zero_means_no_expiry() -> None:
    """GIVEN PRECAST_CACHE_TTL_S=0 vs 60 WHEN resolved THEN None vs 60.0."""
    assert (
        resolve_settings(environ={ENV_ARTIFACT_DIR: "a", ENV_CACHE_TTL_S: "0"}).cache_ttl_s is None
    )
    ttl = resolve_settings(environ={ENV_ARTIFACT_DIR: "a", ENV_CACHE_TTL_S: "60"}).cache_ttl_s
    assert ttl == 60.0


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        (ENV_MICRO_BATCH, "maybe", "Choices are: true|false"),
        (ENV_MAX_BODY_BYTES, "lots", "is not an integer"),
        (ENV_MAX_BODY_BYTES, "0", "must be >= 1"),
        (ENV_CACHE_TTL_S, "-5", "must be >= 0"),
    ],
)
def test_bad_values_name_the_variable(name: str, raw: str, message: str) -> None:
    """GIVEN a malformed env var WHEN resolved THEN SettingsError names it and what is allowed."""
    with pytest.raises(SettingsError, match=message) as info:
        resolve_settings(environ={ENV_ARTIFACT_DIR: "a", name: raw})
    assert name in str(info.value)


def test_models_dir_reads_the_optimize_layout_and_plain_dirs(tmp_path: Path) -> None:
    """GIVEN <model>/latest -> version dir and a plain <name>/manifest.json WHEN resolved
    THEN both artifacts are served."""
    version = _artifact(tmp_path / "minilm", "abc123")
    (tmp_path / "minilm" / "latest").write_text("abc123\n")
    plain = _artifact(tmp_path, "other")
    (tmp_path / "empty").mkdir()
    s = resolve_settings(environ={ENV_MODELS_DIR: str(tmp_path)})
    assert s.artifact_dirs == (version, plain)
    assert artifacts_in(version) == (version,)


def test_nothing_to_serve_says_what_to_set(tmp_path: Path) -> None:
    """GIVEN no artifact anywhere WHEN resolved THEN the error names both variables."""
    with pytest.raises(SettingsError, match=f"{ENV_ARTIFACT_DIR}.*{ENV_MODELS_DIR}"):
        resolve_settings(environ={})
    with pytest.raises(SettingsError, match="no artifacts under"):
        resolve_settings(environ={ENV_MODELS_DIR: str(tmp_path)})
