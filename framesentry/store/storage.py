"""Where uploaded media bytes live. A small interface so another backend (object storage) is one class.

Uploads are first written to a *staging* file on local disk (streamed, hashed, probed there), then handed to
the storage with ``put``; the worker reads them back through ``local_path``, which for a remote backend would
download to a temporary file.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class MediaStorage(Protocol):
    """Byte storage addressed by keys like ``videos/<uuid>.mp4``."""

    def staging_path(self) -> Path:
        """A fresh local path, alone in its own new directory, to stream an upload into."""
        ...

    def discard(self, staged: Path) -> None:
        """Remove a staged file (and its directory) that will not be kept."""
        ...

    def put(self, staged: Path, key: str) -> None:
        """Move a staged file into storage under ``key`` (the staged file is consumed)."""
        ...

    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """Context manager yielding a local filesystem path to the object's bytes."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Remove the object; False if it was not there."""
        ...


def check_key(key: str) -> str:
    """Keys are relative, slash-separated and free of '..' so they can never escape the root."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


class LocalStorage:
    """Files under one root directory; staging lives in ``<root>/.staging`` so ``put`` is an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging_dir = self.root / ".staging"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def staging_path(self) -> Path:
        folder = self.staging_dir / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder / "upload"

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)
        self._drop_dir(staged.parent)

    def _drop_dir(self, folder: Path) -> None:
        if folder.parent == self.staging_dir:
            shutil.rmtree(folder, ignore_errors=True)

    def put(self, staged: Path, key: str) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staged, dest)
        except OSError:  # staging on another filesystem (custom setups): copy, then remove
            shutil.move(str(staged), dest)
        self._drop_dir(staged.parent)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"media object {key!r} is not in storage")
        yield path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True
