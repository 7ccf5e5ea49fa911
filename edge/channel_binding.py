"""A device trusts only its own channel: every metadata file must carry the identity its
trusted root carries (``x-precast-channel``, edge/channel_repository.py).

Channels of every model (and the staging channel of a model) are signed by the same
project keys, so another channel's metadata verifies under this device's root. Served at
this channel's URL, it would move the device's trusted timestamp / snapshot versions to the
other channel's (and then refuse the honest channel as a rollback). :class:`ChannelBoundFetcher`
wraps the fetcher ngclient downloads through and refuses, as each metadata file arrives and
before python-tuf reads any version from it, a file whose identity differs from the pinned
one: ``ChannelVerificationError(check="channel")``. Root versions are metadata too, so a
new root must name the same channel.

Imported only when an update runs (like edge/channel_fetcher.py): ``import edge`` never
loads tuf. A root without an identity (a channel made before identities) pins nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tuf.api.metadata import Metadata, Root
from tuf.api.serialization import DeserializationError
from tuf.ngclient.fetcher import FetcherInterface

from edge.channel_repository import channel_of
from edge.exceptions import ChannelVerificationError


def pinned_identity(trusted_root: bytes) -> str | None:
    """The channel identity of the root a device was given (None: nothing to pin).
    A root that does not parse pins nothing here; ngclient refuses it next."""
    try:
        root: Metadata[Root] = Metadata.from_bytes(trusted_root)
    except DeserializationError:
        return None
    return channel_of(root.signed)


def check_channel(data: bytes, identity: str, url: str) -> None:
    """Refuse metadata ``data`` (downloaded from ``url``) of a channel other than
    ``identity``. Metadata that does not parse is left to python-tuf, which refuses it."""
    try:
        found = channel_of(Metadata.from_bytes(data).signed)
    except DeserializationError:
        return
    if found != identity:
        raise ChannelVerificationError(
            f"{url} is metadata of channel {found or '(none)'!r}, but this device trusts "
            f"channel {identity!r} (its root): another channel signed by the same keys is "
            "served at this URL. Refused before any of its versions was trusted; the device "
            "stays on its current version",
            check="channel",
        )


class ChannelBoundFetcher(FetcherInterface):
    """``inner`` (the channel fetcher), checking each file under ``metadata_url`` with
    :func:`check_channel` as ngclient downloads it; targets pass through untouched."""

    def __init__(self, inner: FetcherInterface, identity: str, metadata_url: str) -> None:
        self.inner = inner
        self.identity = identity
        self.metadata_url = metadata_url

    def _fetch(self, url: str) -> Iterator[bytes]:
        return self.inner._fetch(url)

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        with self.inner.download_file(url, max_length) as fh:
            yield fh

    def download_bytes(self, url: str, max_length: int) -> bytes:
        data = self.inner.download_bytes(url, max_length)
        if url.startswith(self.metadata_url):
            check_channel(data, self.identity, url)
        return data
