"""Where photo bytes live: a small async interface, a local-disk backend and an in-memory one."""

import asyncio
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable


class StoredObjectMissing(KeyError):
    """No object is stored under the requested key."""


@runtime_checkable
class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key, replacing any previous object."""
        ...

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under key; StoredObjectMissing if there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object under key; a missing object is not an error."""
        ...


def photo_keys(photo_id: uuid.UUID) -> tuple[str, str]:
    """Return the (full, thumbnail) storage keys of a photo."""
    # Two levels of 256-way sharding keep any one directory small on a local disk.
    h = photo_id.hex
    prefix = f"{h[:2]}/{h[2:4]}/{h}"
    return f"{prefix}.jpg", f"{prefix}_thumb.jpg"


def validate_key(key: str) -> str:
    """Return key unchanged if it is a safe relative POSIX path, else raise ValueError."""
    # Keys become file paths, so anything that could step outside the root is refused outright
    # rather than normalised: a key that needs cleaning up is a bug upstream.
    if not key or "\\" in key or "\x00" in key:
        raise ValueError(f"unsafe storage key: {key!r}")
    if PurePosixPath(key).is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"unsafe storage key: {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = self.root / validate_key(key)
        # Catches a symlink inside the root that points elsewhere.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"unsafe storage key: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write data under key atomically: readers see the old object or the new one, never half."""
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under key; StoredObjectMissing if there are none."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise StoredObjectMissing(key) from None

    async def delete(self, key: str) -> None:
        """Remove the object under key; a missing object is not an error."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target, so os.replace is a rename within one filesystem.
        # Not tempfile.mkstemp: its 0600 mode would make photos unreadable to a web server
        # running as another user; 0666 here is narrowed by the process umask as usual.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class InMemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key, replacing any previous object."""
        # Same key rules as LocalStorage, so a bad key fails in tests too.
        validate_key(key)
        self.objects[key] = bytes(data)
        self.content_types[key] = content_type

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under key; StoredObjectMissing if there are none."""
        try:
            return self.objects[validate_key(key)]
        except KeyError:
            raise StoredObjectMissing(key) from None

    async def delete(self, key: str) -> None:
        """Remove the object under key; a missing object is not an error."""
        self.objects.pop(validate_key(key), None)
        self.content_types.pop(key, None)
