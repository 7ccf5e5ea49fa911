"""The one exception hierarchy of precast.

Every error precast raises on purpose subclasses :class:`PrecastError`. Messages say what
was wrong and what to do; the attributes carry the data so callers (the HTTP app, the batch
job) can map them to status codes and reject reasons without parsing text.
"""

from __future__ import annotations


class PrecastError(Exception):
    """Base of every error precast raises on purpose."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InputLimitError(PrecastError, ValueError):
    """An input broke a stated limit (too many texts, too long, empty, wrong type).

    ``limit`` names the limit (``max_batch``, ``max_chars``, ``max_tokens``, ``type``,
    ``empty``), ``allowed`` is the limit's value and ``actual`` what was given; ``index`` is
    the offending item's position when one item is to blame.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        allowed: object = None,
        actual: object = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.allowed = allowed
        self.actual = actual
        self.index = index


class ArtifactError(PrecastError):
    """An artifact directory or manifest is missing, unreadable or malformed."""


class ArtifactIntegrityError(ArtifactError):
    """A file of an artifact does not match the sha256 or size its manifest records."""


class OptionalDependencyError(PrecastError, ImportError):
    """An optional feature was asked for whose package is not installed (the message says
    which and how to install it)."""


class VariantUnavailableError(ArtifactError):
    """A variant of the manifest cannot run here (engine, provider or file missing, or its
    session failed to load); :mod:`edge.variants` then falls back to the next one."""


class BundleVerificationError(ArtifactError):
    """An edge bundle failed verification: signature, hash, format version or schema.

    ``check`` names which check failed: ``signature``, ``hash``, ``format``, ``schema``,
    ``archive``.
    """

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class CacheError(PrecastError):
    """The prediction cache could not be read or written."""


class CacheUnavailableError(CacheError):
    """The cache backend is down or throttling beyond retries; callers serve live."""


class UpdateError(PrecastError):
    """A device update could not be completed; the device stays on its current bundle."""


class SigningKeyError(PrecastError):
    """A signing key is missing, unreadable, not Ed25519, or weak (small order)."""


class ChannelVerificationError(UpdateError):
    """The channel's TUF metadata or a target failed python-tuf's checks.

    ``check`` names which: ``expired`` (freeze), ``rollback`` (a version older than one
    already trusted), ``signature`` (threshold not met, unknown or revoked key),
    ``hash`` (a file's length or hashes differ from its signed metadata: mix-and-match,
    tampering), ``format`` (malformed metadata), ``channel`` (metadata of another channel
    signed by the same keys: its identity differs from the one the device's root pins).
    The device stays on its current version.
    """

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class ModelPinError(UpdateError):
    """The channel offers no bundle of the pinned model, or a bundle of another model."""


class DownloadError(UpdateError):
    """A channel file could not be downloaded (network, HTTP status, missing file)."""


class DownloadTooLargeError(DownloadError):
    """A server sent more bytes than the signed length allows (endless data)."""


class SlowRetrievalError(DownloadError):
    """A download broke the update's deadline or minimum rate; ``limit`` says which
    (``deadline`` or ``min_rate``)."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class HealthCheckError(UpdateError):
    """A new version loaded but failed its smoke check; the device kept its current version.

    ``version`` is the rejected version, ``min_cosine`` the worst smoke cosine measured and
    ``required`` the manifest's threshold.
    """

    def __init__(
        self, message: str, *, version: str, min_cosine: float | None, required: float
    ) -> None:
        super().__init__(message)
        self.version = version
        self.min_cosine = min_cosine
        self.required = required
