"""Device quickstart: open a signed bundle, predict, and keep the device up to date.

Runs with nothing but onnxruntime, numpy, tokenizers and the ``edge/`` folder:

    pip install onnxruntime numpy tokenizers      # or: pip install precast
    python device_quickstart.py BUNDLE PUBLIC_KEY [CHANNEL INSTALL_DIR]

BUNDLE is a ``.pcb`` file from ``precast bundle``; PUBLIC_KEY the publisher's
``precast_ed25519.pub``; CHANNEL a directory, ``https://`` URL or ``s3://`` prefix holding
bundles and their ``latest.json``; INSTALL_DIR where the device keeps its versions.
"""

from __future__ import annotations

import sys

import edge


def main(argv: list[str]) -> int:
    bundle, public_key = argv[0], argv[1]

    # 1. Open a bundle: signature, member hashes and manifest are checked before loading.
    model = edge.load(bundle, public_key=public_key)
    print(f"loaded {model.name} {model.version}: {model.manifest.dim}-d vectors")

    vectors = model.predict(["The cat sits on the mat.", "A feline rests on a rug."])
    print(f"cosine similarity: {float(vectors[0] @ vectors[1]):.3f}")

    # Bad input is refused with the limit and the value, never silently cut or crashed on.
    try:
        model.predict([])
    except edge.InputLimitError as exc:
        print(f"refused: {exc}")

    if len(argv) < 4:
        return 0

    # 2. Stay current: poll a channel, verify, health-check, swap `current` atomically.
    channel, install_dir = argv[2], argv[3]
    updater = edge.Updater(channel, install_dir, public_key)
    result = updater.update()  # run it from cron / a systemd timer
    print(f"update: {result.status}, current version {result.version}")

    # 3. What the application does at start-up: open whatever `current` points at.
    model = edge.load_current(install_dir, public_key)
    print(f"serving {model.name} {model.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
