"""docs/cli.md documents every command and option; README lists every Makefile target."""

from __future__ import annotations

import argparse
import re

from docs_support import REPO

from precast import cli_reference


def test_cli_reference_is_current() -> None:
    """GIVEN docs/cli.md WHEN compared with the rendering of the live parsers THEN equal
    (regenerate: `python -m precast.cli_reference --write`)."""
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert text == cli_reference.render(), "run: python -m precast.cli_reference --write"


def test_every_option_of_every_command_is_documented_with_help() -> None:
    """GIVEN every (sub)command of `precast` and `python -m batch` WHEN its arguments are
    listed THEN each has a help text and appears in its command's section of docs/cli.md."""
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    problems = []
    count = 0
    for top, parser in cli_reference.parsers():
        for prog, sub in cli_reference.walk(parser, top):
            match = re.search(rf"^#+ `{re.escape(prog)}`\n(.*?)(?=^#+ |\Z)", text, re.M | re.S)
            if not match:
                problems.append(f"no section for {prog}")
                continue
            for action in cli_reference.documented_actions(sub):
                count += 1
                names = action.option_strings or [action.metavar or action.dest]
                if not action.help:
                    problems.append(f"{prog} {names[0]}: no help text")
                if not all(f"`{n}" in match.group(1) for n in names):
                    problems.append(f"{prog} {names[0]}: not in docs/cli.md")
    assert count > 80
    assert not problems, "\n".join(problems)


def test_the_issue_s_undocumented_options_are_now_in_the_reference() -> None:
    """GIVEN the options issue 18 found in no doc WHEN docs/cli.md is read THEN each is there."""
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for section, option in [
        ("precast", "--config"),
        ("precast optimize", "--rebuild"),
        ("precast keys", "--out"),
        ("precast bundle", "--key"),
        ("precast edge update", "--allow-downgrade"),
        ("precast serve", "--batch-wait-ms"),
        ("precast package", "--no-zip"),
        ("precast demo", "model"),
    ]:
        body = text.split(f"`{section}`\n", 1)[1].split("\n#", 1)[0]
        assert f"`{option}" in body, (section, option)


def test_readme_lists_every_makefile_target() -> None:
    """GIVEN the Makefile WHEN its .PHONY targets are compared with the `## help` targets
    and README's make table THEN every target has help and a README row."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    helped = {name for name, _ in cli_reference.make_targets()}
    assert phony == helped, phony ^ helped
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    regenerate = "run: python -m precast.cli_reference --write"
    assert cli_reference.render_readme(readme) == readme, regenerate
    for name in phony:
        assert f"| `make {name}` |" in readme


def test_a_new_option_without_a_doc_row_fails() -> None:
    """GIVEN a parser with an extra option WHEN rendered THEN the rendering differs from the
    checked-in reference (so adding an option without regenerating fails the test above)."""
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--brand-new", help="something new")
    assert "`--brand-new BRAND_NEW`" in "\n".join(cli_reference._section("x", parser))
