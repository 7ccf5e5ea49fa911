"""Fixtures for bundle, signing and updater tests: keys, real bundles of the sample artifact,
variants of it (other versions, broken smoke vectors, bad manifests) and update channels.

Variants share the sample's model.onnx/tokenizer.json through hard links (read-only use)
and differ only in manifest.json, so building one costs a tar write, not a model build.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, SSlibKey

from edge import signing
from edge.bundle import read_bundle_info
from edge.bundle_writer import build_bundle
from edge.channel_repository import ChannelRepository
from edge.manifest import MANIFEST_NAME

MODEL = "minilm"  # the sample artifact's name: what devices in these tests pin


@dataclass(frozen=True)
class KeyPair:
    """A channel's keys (one per role, in ``directory``); ``seed`` is the targets signer,
    which signs bundle.sig, and ``public`` its public key (as the one-key trusted list)."""

    directory: Path
    signers: dict[str, list[CryptoSigner]]

    @property
    def seed(self) -> CryptoSigner:
        return self.signers["targets"][0]

    @property
    def public(self) -> list[SSlibKey]:
        return [self.seed.public_key]

    @property
    def public_path(self) -> Path:
        return self.directory / "targets.pub"

    @property
    def private_path(self) -> Path:
        return self.directory / "targets.key"


def _keypair(directory: Path) -> KeyPair:
    return KeyPair(directory, signing.generate_role_keys(directory))


def root_of(channel: Path) -> Path:
    """The root a device is provisioned with: the channel's first root version."""
    return channel / "metadata" / "1.root.json"


def add_to_channel(channel: Path, bundle: Path, keys: KeyPair, **repo: Any) -> None:
    """Make ``bundle`` the channel's target for its model (creating the channel if new)."""
    r = ChannelRepository(channel, **repo)
    if not r.exists():
        r.create({k: [s.public_key for s in v] for k, v in keys.signers.items()}, keys.signers)
    info = read_bundle_info(bundle, keys.public)
    custom = {"name": info.name, "version": info.version, "created_at": info.created_at}
    r.add_bundle(bundle, info.name, custom, keys.signers)


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return _keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return _keypair(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture(scope="session")
def good_bundle(
    sample_artifact: Path, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The sample artifact as `precast bundle` ships it (gzip), in a read-only-use dir."""
    return build_bundle(sample_artifact, keypair.seed, tmp_path_factory.mktemp("good"))


@pytest.fixture
def bundle_copy(good_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the good bundle that a test may damage or extract next to."""
    dest = tmp_path / "bundle" / good_bundle.name
    dest.parent.mkdir()
    shutil.copyfile(good_bundle, dest)
    return dest


VariantFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def make_variant(sample_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> VariantFactory:
    """``make_variant(version, smoke_scale=1.0, edit=None) -> artifact dir``.

    ``smoke_scale=-1`` flips the smoke vectors (a correctly signed bundle whose health check
    must fail); ``edit(manifest_dict)`` may change anything else.
    """
    root = tmp_path_factory.mktemp("variants")
    manifest = json.loads((sample_artifact / MANIFEST_NAME).read_text())

    def make(
        version: str,
        *,
        smoke_scale: float = 1.0,
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> Path:
        dest = root / f"{version}-{len(list(root.iterdir()))}"
        dest.mkdir()
        for name in manifest["files"]:
            os.link(sample_artifact / name, dest / name)
        doc = json.loads(json.dumps(manifest))
        doc["version"] = version
        doc["smoke"]["vectors"] = [[x * smoke_scale for x in v] for v in doc["smoke"]["vectors"]]
        if edit is not None:
            edit(doc)
        (dest / MANIFEST_NAME).write_text(json.dumps(doc, indent=2))
        return dest

    return make


Publisher = Callable[..., Path]


@pytest.fixture
def publish(make_variant: VariantFactory, keypair: KeyPair) -> Publisher:
    """``publish(channel, version, created_at, smoke_scale=1.0) -> bundle path``: a plain-tar
    bundle of a variant, made the target ``minilm.pcb`` of the TUF channel ``channel``."""

    def run(channel: Path, version: str, created_at: str, *, smoke_scale: float = 1.0) -> Path:
        artifact = make_variant(version, smoke_scale=smoke_scale)
        path = build_bundle(artifact, keypair.seed, channel, created_at=created_at, compresslevel=0)
        add_to_channel(channel, path, keypair)
        return path

    return run
