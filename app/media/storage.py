"""Where photo bytes live: a small async interface with local-disk, S3-compatible and in-memory backends."""

import asyncio
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol, runtime_checkable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from app.core.config import MediaSettings


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


# GetObject answers NoSuchKey for an absent key; a HEAD-style 404 has no body, hence the bare codes.
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


class S3Storage:
    """Photos in a bucket of any S3-compatible store (MinIO, Tencent COS, AWS S3).

    boto3's client is synchronous and thread-safe: one client is made here and every call runs in
    a worker thread so the event loop never waits on the network.
    """

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        addressing_style: Literal["path", "virtual", "auto"] = "path",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            # Path style (http://host/bucket/key) suits MinIO behind a plain host name; COS wants virtual.
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # "standard" retries throttling and transient network errors with backoff.
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # asyncio.to_thread's default pool has up to 32 threads; one connection each.
            max_pool_connections=32,
            # boto3 >= 1.36 adds CRC checksums to every upload by default, which several
            # S3-compatible stores refuse; only send (and check) them where the API requires it.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            config=config,
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key, replacing any previous object (a PUT is atomic in S3)."""
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=validate_key(key),
            Body=bytes(data),
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under key; StoredObjectMissing if there are none."""
        return await asyncio.to_thread(self._get, validate_key(key))

    async def delete(self, key: str) -> None:
        """Remove the object under key; a missing object is not an error (S3 answers 204 either way)."""
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=validate_key(key))

    def presigned_url(self, key: str, expires_seconds: int) -> str:
        """A URL of the store that serves the object to anyone holding it for expires_seconds.

        Signing is local computation (no request to the store), so this is a plain method.
        """
        if expires_seconds < 1:
            raise ValueError("expires_seconds must be at least 1")
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": validate_key(key)},
            ExpiresIn=int(expires_seconds),
        )

    def _get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise StoredObjectMissing(key) from None
            raise
        with response["Body"] as body:
            return body.read()


def build_storage(cfg: MediaSettings) -> Storage:
    """The storage backend chosen by configuration (LINLI_MEDIA__BACKEND): local disk unless "s3"."""
    if cfg.backend == "s3":
        if not cfg.s3_bucket:
            raise ValueError("LINLI_MEDIA__S3_BUCKET is required when LINLI_MEDIA__BACKEND=s3")
        return S3Storage(
            bucket=cfg.s3_bucket,
            endpoint_url=cfg.s3_endpoint_url or None,
            region=cfg.s3_region,
            access_key=cfg.s3_access_key.get_secret_value() or None,
            secret_key=cfg.s3_secret_key.get_secret_value() or None,
            addressing_style=cfg.s3_addressing_style,
        )
    return LocalStorage(cfg.root)
