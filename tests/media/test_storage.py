"""Photo storage backends and key layout."""

import os
import uuid
from pathlib import Path

import pytest

from app.media.storage import (
    InMemoryStorage,
    LocalStorage,
    Storage,
    StoredObjectMissing,
    photo_keys,
    validate_key,
)

UNSAFE_KEYS = [
    "",
    "../outside.jpg",
    "ab/../../outside.jpg",
    "ab/..",
    "/etc/passwd",
    "ab\\cd.jpg",
    "..\\outside.jpg",
    "ab//cd.jpg",
    "./ab.jpg",
    "ab/cd/",
    "ab\x00.jpg",
]


class TestPhotoKeys:
    def test_keys_are_sharded_by_the_first_hex_digits_of_the_id(self) -> None:
        photo_id = uuid.UUID("0123456789abcdef0123456789abcdef")

        full, thumb = photo_keys(photo_id)

        assert full == "01/23/0123456789abcdef0123456789abcdef.jpg"
        assert thumb == "01/23/0123456789abcdef0123456789abcdef_thumb.jpg"

    def test_keys_are_safe_and_distinct(self) -> None:
        full, thumb = photo_keys(uuid.uuid4())

        assert full != thumb
        assert validate_key(full) == full
        assert validate_key(thumb) == thumb


class TestLocalStorage:
    def test_is_a_storage(self, tmp_path: Path) -> None:
        assert isinstance(LocalStorage(tmp_path), Storage)

    async def test_round_trip_writes_under_the_root_at_the_key_path(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)
        key, _ = photo_keys(uuid.uuid4())

        await storage.put(key, b"jpeg bytes", "image/jpeg")

        assert await storage.get(key) == b"jpeg bytes"
        assert (tmp_path / key).read_bytes() == b"jpeg bytes"

    async def test_put_replaces_existing_object_and_leaves_no_temp_files(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)

        await storage.put("ab/cd/x.jpg", b"old", "image/jpeg")
        await storage.put("ab/cd/x.jpg", b"new", "image/jpeg")

        assert await storage.get("ab/cd/x.jpg") == b"new"
        assert os.listdir(tmp_path / "ab" / "cd") == ["x.jpg"]

    async def test_failed_write_keeps_the_old_object_intact(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path)
        await storage.put("ab/cd/x.jpg", b"old", "image/jpeg")

        def crash(src: object, dst: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk full"):
            await storage.put("ab/cd/x.jpg", b"new", "image/jpeg")

        assert (tmp_path / "ab" / "cd" / "x.jpg").read_bytes() == b"old"
        assert os.listdir(tmp_path / "ab" / "cd") == ["x.jpg"]

    async def test_missing_key_raises_stored_object_missing(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)

        with pytest.raises(StoredObjectMissing) as exc:
            await storage.get("ab/cd/missing.jpg")

        assert isinstance(exc.value, KeyError)

    async def test_delete_removes_the_object_and_tolerates_a_missing_one(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)
        await storage.put("ab/cd/x.jpg", b"data", "image/jpeg")

        await storage.delete("ab/cd/x.jpg")
        await storage.delete("ab/cd/x.jpg")

        with pytest.raises(StoredObjectMissing):
            await storage.get("ab/cd/x.jpg")

    @pytest.mark.parametrize("key", UNSAFE_KEYS)
    async def test_unsafe_keys_are_rejected(self, tmp_path: Path, key: str) -> None:
        root = tmp_path / "root"
        storage = LocalStorage(root)

        with pytest.raises(ValueError, match="unsafe storage key"):
            await storage.put(key, b"data", "image/jpeg")
        with pytest.raises(ValueError, match="unsafe storage key"):
            await storage.get(key)
        with pytest.raises(ValueError, match="unsafe storage key"):
            await storage.delete(key)

        assert list(tmp_path.rglob("*")) == []

    async def test_symlink_out_of_the_root_is_rejected(self, tmp_path: Path) -> None:
        root = tmp_path / "root"
        outside = tmp_path / "outside"
        root.mkdir()
        outside.mkdir()
        (root / "ab").symlink_to(outside, target_is_directory=True)
        storage = LocalStorage(root)

        with pytest.raises(ValueError, match="unsafe storage key"):
            await storage.put("ab/x.jpg", b"data", "image/jpeg")

        assert list(outside.iterdir()) == []


class TestInMemoryStorage:
    def test_is_a_storage(self) -> None:
        assert isinstance(InMemoryStorage(), Storage)

    async def test_round_trip_records_the_content_type(self) -> None:
        storage = InMemoryStorage()

        await storage.put("ab/cd/x.jpg", b"data", "image/jpeg")

        assert await storage.get("ab/cd/x.jpg") == b"data"
        assert storage.content_types["ab/cd/x.jpg"] == "image/jpeg"

    async def test_missing_key_raises_stored_object_missing(self) -> None:
        with pytest.raises(StoredObjectMissing):
            await InMemoryStorage().get("ab/cd/missing.jpg")

    async def test_delete_removes_the_object_and_tolerates_a_missing_one(self) -> None:
        storage = InMemoryStorage()
        await storage.put("ab/cd/x.jpg", b"data", "image/jpeg")

        await storage.delete("ab/cd/x.jpg")
        await storage.delete("ab/cd/x.jpg")

        assert storage.objects == {}
        with pytest.raises(StoredObjectMissing):
            await storage.get("ab/cd/x.jpg")

    @pytest.mark.parametrize("key", UNSAFE_KEYS)
    async def test_unsafe_keys_are_rejected_like_on_disk(self, key: str) -> None:
        storage = InMemoryStorage()

        with pytest.raises(ValueError, match="unsafe storage key"):
            await storage.put(key, b"data", "image/jpeg")

        assert storage.objects == {}
