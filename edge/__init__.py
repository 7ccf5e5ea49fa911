"""precast edge runtime: load a verified artifact or signed bundle and predict.

Needs only onnxruntime, numpy and tokenizers. ``import edge`` is cheap: onnxruntime loads
when the first model does.

    import edge
    model = edge.load("artifacts/minilm/<version>")      # or a bundle: dist/minilm-<v>.pcb
    vectors = model.predict(["hello world"])            # (1, 384) float32, L2-normalized
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.exceptions import (
    ArtifactError,
    ArtifactIntegrityError,
    BundleVerificationError,
    CacheError,
    CacheUnavailableError,
    InputLimitError,
    PrecastError,
    UpdateError,
)
from edge.model import EdgeModel, load_directory
from edge.session import SessionConfig

if TYPE_CHECKING:  # loaded on first use by __getattr__: `import edge` stays cheap
    from edge.install_layout import load_current
    from edge.updater import Updater

__all__ = [
    "ArtifactError",
    "ArtifactIntegrityError",
    "BundleVerificationError",
    "CacheError",
    "CacheUnavailableError",
    "EdgeModel",
    "InputLimitError",
    "PrecastError",
    "SessionConfig",
    "UpdateError",
    "Updater",
    "load",
    "load_current",
]

_LAZY = {"Updater": "edge.updater", "load_current": "edge.install_layout"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edge' has no attribute {name!r}")


def load(
    path: str | Path,
    *,
    public_key: str | bytes | Path | list[Any] | None = None,
    session_config: SessionConfig | None = None,
    extract_to: str | Path | None = None,
    threshold: int | None = None,
) -> EdgeModel:
    """Open an artifact directory or a signed bundle file and return a ready model.

    Every file's sha256 is checked against the manifest before the ONNX session exists.
    A bundle is verified (format, signature with ``public_key``, hashes, schema) first and
    unpacked next to itself (or into ``extract_to``). A directory with ``public_key`` must be
    an unpacked bundle whose bundle.sig verifies; the key is never silently ignored.
    ``$PRECAST_PUBLIC_KEY`` stands for ``public_key`` when it is not passed, for files and
    directories alike. With several keys, ``bundle.sig`` must carry valid signatures by
    ``threshold`` distinct ones of them (default: all the keys given).
    """
    p = Path(path)
    if public_key is None:  # the variable means exactly what the argument means
        from edge.environment import PRECAST_PUBLIC_KEY

        public_key = PRECAST_PUBLIC_KEY.read()
    if p.is_file():
        from edge.bundle import open_bundle

        directory = open_bundle(
            p, public_key=public_key, extract_to=extract_to, threshold=threshold
        )
        return load_directory(directory, session_config=session_config)
    if not p.exists():
        raise ArtifactError(f"{p} does not exist; pass an artifact directory or a bundle file")
    if public_key is not None:  # never silently ignored: the directory must carry a signature
        from edge.bundle import require_public_key
        from edge.bundle_format import BUNDLE_SIG, verify_directory

        if not (p / BUNDLE_SIG).is_file():
            raise BundleVerificationError(
                f"{p}: public_key was given, but this directory carries no {BUNDLE_SIG} to "
                "verify (an artifact directory is checked by its manifest's sha256s only); "
                "open the signed .pcb instead, or drop public_key",
                check="signature",
            )
        verify_directory(p, require_public_key(public_key, threshold))
    return load_directory(p, session_config=session_config)
