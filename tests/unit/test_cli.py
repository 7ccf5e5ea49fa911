"""The precast command line: help that teaches, errors that say what to do."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from precast.cli import COMMAND_MODULES, build_parser, main

EXPECTED_COMMANDS = {
    *("demo", "models", "optimize", "info", "keys", "bundle", "batch", "edge", "serve"),
    *("package", "cost", "config"),
}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_module_registers_its_command() -> None:
    """GIVEN the parser WHEN its subcommands are listed THEN they are exactly the commands
    the README documents, one per module (a module that stops registering fails here)."""
    commands = _subcommands(build_parser())
    assert set(commands) == EXPECTED_COMMANDS
    assert len(commands) == len(COMMAND_MODULES)
    assert set(_subcommands(commands["batch"])) >= {"run"}
    assert set(_subcommands(commands["edge"])) >= {"update"}


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN --help WHEN printed THEN every subcommand appears in the usage's choices line
    (not merely somewhere in the description) with its one-line help."""
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    commands = _subcommands(build_parser())
    listing = out[out.index("COMMAND") :]
    for name in commands:
        assert f"\n    {name} " in listing or f"\n    {name}\n" in listing, name
    assert "precast.toml" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: precast" in capsys.readouterr().out


def test_optimize_without_model_says_what_to_pass(
    capsys: pytest.CaptureFixture[str], repo_root: Path
) -> None:
    assert main(["--config", str(repo_root / "precast.toml"), "optimize"]) == 1
    assert "name a model" in capsys.readouterr().err


def test_bad_config_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "precast.toml"
    bad.write_text("[models.x]\nsource = 3\n")
    assert main(["--config", str(bad), "optimize", "x"]) == 1
    err = capsys.readouterr().err
    assert "[models.x.source]" in err and "must be str" in err


def test_unknown_model_lists_choices(capsys: pytest.CaptureFixture[str], repo_root: Path) -> None:
    assert main(["--config", str(repo_root / "precast.toml"), "optimize", "bert"]) == 1
    assert "Choices are: minilm" in capsys.readouterr().err


def test_parser_builds_without_heavy_imports() -> None:
    """`precast --help` stays fast: building the parser imports no ML or AWS stack.
    A fresh interpreter, since other tests in this process load torch on purpose."""
    import subprocess
    import sys

    heavy = ("torch", "transformers", "optimum", "onnxruntime", "boto3", "aws_cdk", "modal")
    probe = (
        "import sys; from precast.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"building the parser imported: {done.stdout.strip()}"
