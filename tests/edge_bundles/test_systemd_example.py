"""The shipped systemd unit + timer parse, and the unit's command is one precast accepts."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from precast.cli import build_parser

SYSTEMD = Path(__file__).resolve().parents[2] / "docs" / "examples" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((SYSTEMD / name).read_text(encoding="utf-8"))
    return parser


def test_systemd_service_runs_a_valid_precast_edge_update() -> None:
    """GIVEN docs/examples/systemd/precast-edge-update.service
    WHEN its sections are parsed and its ExecStart is parsed by precast's own CLI parser
    THEN it is a oneshot service whose command is `precast edge update` with a source,
    install dir, trusted root, pinned model and deadline that the parser accepts."""
    unit = _unit("precast-edge-update.service")
    assert unit["Service"]["Type"] == "oneshot"
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0].endswith("/precast") and argv[1:3] == ["edge", "update"]
    args = build_parser().parse_args(argv[1:])
    assert (args.model, args.root, args.deadline) == ("minilm", "/etc/precast/root.json", 900.0)


def test_systemd_timer_triggers_periodically() -> None:
    """GIVEN the timer WHEN parsed THEN it repeats (OnUnitActiveSec), jitters, installs into
    timers.target, and is named after the service it starts."""
    timer = _unit("precast-edge-update.timer")
    assert timer["Timer"]["OnUnitActiveSec"] and timer["Timer"]["RandomizedDelaySec"]
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert (SYSTEMD / "precast-edge-update.service").is_file()
