"""The storage backend for a URI: ``s3://`` objects (:mod:`batch.s3`, loaded only when such
a URI is used) or local paths (:class:`batch.storage.LocalStorage`). Both backends sit
below this module and implement :class:`batch.storage.Storage`."""

from __future__ import annotations

from batch.storage import LocalStorage, Storage, is_s3


def storage_for(uri: str) -> Storage:
    if is_s3(uri):
        from batch.s3 import S3Storage  # lazy: boto3 only when an s3:// URI is used

        return S3Storage.shared()
    return LocalStorage()
