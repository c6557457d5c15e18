"""Photos: checked by content, stripped of metadata, kept outside the database.

- ``images``: what is accepted (JPEG, PNG, WebP, HEIC as JPEG; 10 MB), the kept copy
  without EXIF, the thumbnail;
- ``store``: :class:`PhotoStore` (bytes under a key) and :class:`FolderStore`, the default;
- ``service``: :class:`Photos` (upload, claim by a round or ticket, read) and
  :func:`may_read`, who sees what.
"""

from __future__ import annotations

from gateway.photos.images import MAX_BYTES, NotAnImage, PhotoRejected, TooLarge
from gateway.photos.service import PhotoMeta, Photos, may_read
from gateway.photos.store import FolderStore, PhotoStore

__all__ = [
    "MAX_BYTES",
    "FolderStore",
    "NotAnImage",
    "PhotoMeta",
    "PhotoRejected",
    "PhotoStore",
    "Photos",
    "TooLarge",
    "may_read",
]
