"""Where photo bytes live: the :class:`PhotoStore` interface and its folder implementation.

A store keeps opaque bytes under a key (a photo's id, and ``<id>.thumb`` for its
thumbnail) and never interprets them; the photo service (``gateway.photos.service``)
decides what is kept and who may read it. :class:`FolderStore` (the default) writes one
file per key in a folder (two levels of sub-folders from the key, written to a temporary
name and renamed, so a reader never sees half a file). An S3-compatible object store
replaces it by implementing the same three methods (``put`` as a PUT of the object,
``get`` as a GET, ``delete`` as a DELETE), with the bucket private: photos are only ever
served through the API, which checks the reader's rights.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,80}(\.thumb)?$")


class PhotoStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None`` when there are none."""
        ...

    def delete(self, key: str) -> None: ...


class FolderStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a photo key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".up-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
