"""Issue 23's "done when": a base-size save (12 x 768) of every architecture precast serves,
whose ``config.json`` names the head it was pre-trained with (``MPNetForMaskedLM``,
``BertForPreTraining``...) as real saves do, goes through ``precast models add`` unedited
and ``precast optimize`` with the defaults that wrote, to an artifact: the fused graph has
one attention node per layer and the recipe table has a winner.

One deviation, for random weights only: a randomly initialised model embeds every text
almost alike, so nearest neighbours are near-ties that any rounding flips; the gate's
neighbour-agreement rule is switched off (as :func:`tiny_models.tiny_gate` does). Every
other setting is what ``models add`` wrote.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import base_models
import pytest
from test_models_fusions import FUSED

from edge.artifact_layout import latest_artifact
from edge.manifest import read_manifest
from precast.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("arch", [s.name for s in base_models.BASE])
def test_a_base_size_save_goes_from_models_add_to_an_artifact(
    arch: str, base_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN a base-size save naming a pre-training head WHEN `precast models add` then
    `precast optimize` run with what add wrote THEN the artifact's fused graph holds the
    architecture's fusions (attention included) and a recipe won within the budget."""
    config = tmp_path / "precast.toml"
    assert (
        main(["--config", str(config), "models", "add", arch, "--source", str(base_sources[arch])])
        == 0
    )
    written = tomllib.loads(config.read_text())["models"][arch]
    assert written["task"] == "feature-extraction"  # the head named is not what decides
    with config.open("a", encoding="utf-8") as fh:  # the random-weights deviation, only
        fh.write(f"[models.{arch}.accuracy]\nmin_neighbour_agreement = 0.0\n")
    assert main(["--config", str(config), "optimize", arch]) == 0
    manifest = read_manifest(latest_artifact(tmp_path / "artifacts", arch))
    quantization = manifest.to_json()["quantization"]
    fused = quantization["fusions"]["fused"]["fused"]
    assert {op: fused.get(op, 0) for op in FUSED[arch]} == FUSED[arch], fused
    assert quantization["budget_met"] is True
    winner = quantization["recipe"]
    assert (
        winner in quantization["candidates"] and not quantization["candidates"][winner]["failures"]
    )
    assert manifest.max_tokens == base_models.POSITIONS  # the save's own max_seq_length
