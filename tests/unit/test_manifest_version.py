"""The artifact version is the hash of the whole canonical manifest (minus version, created_at).

Before, it hashed the files and five settings, so a change of ``limits`` or of the smoke set
kept the version with a different manifest, and ``precast optimize`` kept the old artifact.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.exceptions import ArtifactError
from edge.manifest import (
    UNVERSIONED_FIELDS,
    Manifest,
    manifest_version,
    parse_manifest,
    read_manifest,
    version_matches,
)

Path_ = tuple[Any, ...]


def leaves(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return "changed"  # None, {} or []


def edit(doc: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = changed(node[path[-1]])
    return out


@pytest.fixture(scope="module")
def manifest(sample_artifact: Path) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((sample_artifact / "manifest.json").read_text())
    return raw


def test_the_built_artifact_is_named_by_its_manifest_hash(sample_artifact: Path) -> None:
    m = read_manifest(sample_artifact)
    assert version_matches(m) and sample_artifact.name == m.version


def test_changing_any_manifest_field_changes_the_version(manifest: dict[str, Any]) -> None:
    """GIVEN the real sample manifest WHEN any one leaf (limits, smoke vectors, a file's
    sha256, a metric, the recipe, ...) changes THEN the version changes; changing only
    version or created_at does not."""
    base = manifest_version(manifest)
    paths = [p for p in leaves(manifest) if p[0] not in UNVERSIONED_FIELDS]
    assert len(paths) > 100  # every smoke-vector component, file digest, metric...
    same = [p for p in paths if manifest_version(edit(manifest, p)) == base]
    assert same == []
    for field in UNVERSIONED_FIELDS:
        assert manifest_version(edit(manifest, (field,))) == base
    assert manifest_version({**manifest, "new_field": 1}) != base


def test_key_order_and_whitespace_do_not_change_the_version(manifest: dict[str, Any]) -> None:
    reordered = json.loads(json.dumps(dict(reversed(list(manifest.items())))))
    assert manifest_version(reordered) == manifest_version(manifest)


def test_a_limits_change_gets_a_new_artifact_directory(manifest: dict[str, Any]) -> None:
    """GIVEN [models.X.limits] max_chars changed THEN the manifest's version, and so the
    artifact's directory, differ: optimize can no longer keep the old artifact for it."""
    edited = copy.deepcopy(manifest)
    edited["limits"]["max_chars"] = manifest["limits"]["max_chars"] // 2
    assert manifest_version(edited) != manifest_version(manifest)


def test_the_typed_model_reads_and_writes_the_same_document(manifest: dict[str, Any]) -> None:
    """GIVEN the manifest the optimizer wrote WHEN read into Manifest and written
    back THEN the document is unchanged and its version is the model's own hash: one typed
    model serves both directions of the contract."""
    doc = Manifest.from_json(manifest, "sample")
    assert doc.to_json() == manifest
    assert doc.versioned().version == manifest["version"]
    assert parse_manifest(manifest) == doc


def test_reading_names_the_broken_field() -> None:
    with pytest.raises(ArtifactError, match="x.json: manifest has no 'format_version'"):
        Manifest.from_json({}, "x.json")


def test_fields_a_later_precast_adds_are_kept(manifest: dict[str, Any]) -> None:
    """GIVEN a manifest with keys this runtime does not know (top-level, in a section, in a
    certification entry) and a known key holding a value of another type WHEN read and
    written back THEN the document is unchanged and its version still matches: the typed
    sections keep what they do not understand in ``extra``."""
    later = copy.deepcopy(manifest)
    later["new_field"] = {"x": 1}
    later["smoke"]["per_text"] = [0.5]
    later["quantization"]["recipe"] = 7
    kind = next(iter(later["certified"]))
    later["certified"][kind]["new_measure"] = True
    later["version"] = manifest_version(later)
    doc = parse_manifest(later)
    assert doc.to_json() == later and version_matches(doc)
    assert doc.extra == {"new_field": {"x": 1}} and doc.smoke.extra == {"per_text": [0.5]}
    assert doc.quantization.recipe is None and doc.quantization.extra == {"recipe": 7}
    assert doc.certified[kind].extra == {"new_measure": True}
