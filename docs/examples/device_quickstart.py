"""Device quickstart: open a signed bundle, predict, and keep the device up to date.

Runs with nothing but onnxruntime, numpy, tokenizers, the pure-Python ``tuf`` (with what it
pulls in: securesystemslib, urllib3) and the ``edge/`` folder:

    pip install onnxruntime numpy tokenizers tuf   # or: pip install precast
    python device_quickstart.py BUNDLE TARGETS_PUB [CHANNEL INSTALL_DIR ROOT MODEL]

BUNDLE is a ``.pcb`` file from ``precast bundle``; TARGETS_PUB the channel's ``targets.pub``
(it signs each bundle's ``bundle.sig``); CHANNEL a directory, ``https://`` URL or ``s3://``
prefix holding the channel's ``metadata/`` and ``targets/``; INSTALL_DIR where the device
keeps its versions; ROOT the ``1.root.json`` the device was provisioned with; MODEL the
model name this device runs.
"""

from __future__ import annotations

import sys

import edge


def main(argv: list[str]) -> int:
    bundle, public_key = argv[0], argv[1]

    # 1. Open a bundle (a USB copy, no channel): signature, hashes and manifest checked first.
    model = edge.load(bundle, public_key=public_key)
    print(f"loaded {model.name} {model.version}: {model.manifest.dim}-d vectors")

    vectors = model.predict(["The cat sits on the mat.", "A feline rests on a rug."])
    print(f"cosine similarity: {float(vectors[0] @ vectors[1]):.3f}")

    # Bad input is refused with the limit and the value, never silently cut or crashed on.
    try:
        model.predict([])
    except edge.InputLimitError as exc:
        print(f"refused: {exc}")

    if len(argv) < 6:
        return 0

    # 2. Stay current: TUF-verified channel metadata, pinned model, bounded download,
    #    health check, then `current` swapped atomically. Key rotations are followed.
    channel, install_dir, root, model_name = argv[2:6]
    updater = edge.Updater(channel, install_dir, root, model=model_name)
    result = updater.update()  # run it from a systemd timer (docs/examples/systemd/)
    print(f"update: {result.status}, current version {result.version}")

    # 3. What the application does at start-up: open whatever `current` points at.
    model = edge.load_current(install_dir)
    print(f"serving {model.name} {model.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
