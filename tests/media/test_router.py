"""Uploading photos over HTTP as wx.uploadFile does, and reading them back through signed links."""

import io
from datetime import timedelta

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.media.models import Photo
from tests.factories import bearer, make_user

UPLOADS = "/api/v1/uploads"


def jpeg_with_gps(width: int = 200, height: int = 100) -> bytes:
    img = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x8825] = {1: "N", 2: (34.0, 16.0, 30.0), 3: "E", 4: (108.0, 57.0, 10.0)}  # GPSInfo
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (side, side), 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@pytest.fixture
async def resident(session):  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT)
    await session.commit()
    return user


@pytest.fixture
def auth(settings, clock, resident) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(settings, clock, resident)


async def _count_photos(session) -> int:  # type: ignore[no-untyped-def]
    return await session.scalar(select(func.count(Photo.id)))


class TestUpload:
    async def test_photo_is_stored_reoriented_without_exif_and_with_a_thumbnail(
        self, client: httpx.AsyncClient, auth, storage
    ) -> None:
        r = await client.post(
            UPLOADS, headers=auth, files={"file": ("wx_tmp.jpg", jpeg_with_gps(), "image/jpeg")}
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["width"], body["height"]) == (100, 200)  # orientation applied
        full = await client.get(body["url"])
        assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
        assert b"Exif" not in full.content
        stored = Image.open(io.BytesIO(full.content))
        assert stored.size == (100, 200)
        assert len(stored.getexif()) == 0  # no GPS, no orientation tag left
        thumb = await client.get(body["thumbnail_url"])
        assert thumb.status_code == 200
        assert max(Image.open(io.BytesIO(thumb.content)).size) <= 360
        assert len(storage.objects) == 2

    async def test_a_retried_upload_returns_the_photo_already_stored(
        self, client, auth, session, storage
    ) -> None:
        data = jpeg_with_gps()
        first = await client.post(UPLOADS, headers=auth, files={"file": ("a.jpg", data, "image/jpeg")})
        again = await client.post(UPLOADS, headers=auth, files={"file": ("a.jpg", data, "image/jpeg")})
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert await _count_photos(session) == 1
        assert len(storage.objects) == 2

    async def test_the_same_bytes_from_another_user_are_their_own_photo(
        self, client, auth, session, settings, clock
    ) -> None:
        other = await make_user(session, Role.RESIDENT)
        await session.commit()
        data = jpeg_with_gps()
        mine = await client.post(UPLOADS, headers=auth, files={"file": ("a.jpg", data, "image/jpeg")})
        theirs = await client.post(
            UPLOADS, headers=bearer(settings, clock, other), files={"file": ("a.jpg", data, "image/jpeg")}
        )
        assert theirs.json()["id"] != mine.json()["id"]

    async def test_type_comes_from_content_not_the_name(self, client, auth) -> None:
        buf = io.BytesIO()
        Image.new("RGB", (50, 40), "blue").save(buf, format="PNG")
        r = await client.post(
            UPLOADS, headers=auth, files={"file": ("photo.jpg", buf.getvalue(), "image/jpeg")}
        )
        assert r.status_code == 201

    @pytest.mark.parametrize(
        ("name", "data", "status", "code"),
        [
            ("notes.jpg", b"hello, this is not a picture at all", 415, "upload.unsupported_type"),
            ("doc.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", 415, "upload.unsupported_type"),
            ("empty.jpg", b"", 422, "upload.empty"),
            ("cut.jpg", jpeg_with_gps()[:300], 422, "upload.corrupt"),
        ],
    )
    async def test_bad_files_get_a_clear_code_and_nothing_is_stored(
        self, client, auth, session, storage, name, data, status, code
    ) -> None:
        r = await client.post(UPLOADS, headers=auth, files={"file": (name, data, "image/jpeg")})
        assert r.status_code == status, r.text
        assert r.json()["code"] == code
        assert storage.objects == {}
        assert await _count_photos(session) == 0

    async def test_decompression_bomb_is_refused(self, client, auth, storage) -> None:
        r = await client.post(UPLOADS, headers=auth, files={"file": ("bomb.png", png_bomb(), "image/png")})
        assert r.status_code == 413
        assert r.json()["code"] == "upload.too_many_pixels"
        assert storage.objects == {}

    async def test_oversize_upload_is_refused(self, client, auth, settings, storage) -> None:
        big = jpeg_with_gps() + b"\0" * (settings.media.max_bytes + 1)
        r = await client.post(UPLOADS, headers=auth, files={"file": ("big.jpg", big, "image/jpeg")})
        assert r.status_code == 413
        assert r.json()["code"] in ("upload.too_large", "request.too_large")
        assert storage.objects == {}

    async def test_upload_needs_a_login(self, client) -> None:
        r = await client.post(UPLOADS, files={"file": ("a.jpg", jpeg_with_gps(), "image/jpeg")})
        assert r.status_code == 401

    async def test_missing_file_field_is_a_validation_error(self, client, auth) -> None:
        r = await client.post(
            UPLOADS, headers=auth, files={"photo": ("a.jpg", jpeg_with_gps(), "image/jpeg")}
        )
        assert r.status_code == 422
        assert r.json()["details"]["errors"][0]["field"] == "file"


class TestPhotoAccess:
    async def test_owner_gets_fresh_links_and_others_see_nothing(
        self, client, auth, session, settings, clock
    ) -> None:
        photo = await client.post(
            UPLOADS, headers=auth, files={"file": ("a.jpg", jpeg_with_gps(), "image/jpeg")}
        )
        photo_id = photo.json()["id"]
        assert (await client.get(f"{UPLOADS}/{photo_id}", headers=auth)).status_code == 200
        stranger = await make_user(session, Role.RESIDENT)
        await session.commit()
        r = await client.get(f"{UPLOADS}/{photo_id}", headers=bearer(settings, clock, stranger))
        assert r.status_code == 404
        assert r.json()["code"] == "photo.not_found"

    async def test_links_expire_and_cannot_be_forged(self, client, auth, clock, settings) -> None:
        body = (
            await client.post(UPLOADS, headers=auth, files={"file": ("a.jpg", jpeg_with_gps(), "image/jpeg")})
        ).json()
        url = body["url"]
        assert (await client.get(url)).status_code == 200
        thumb_with_full_sig = url.replace("/full.jpg", "/thumb.jpg")
        assert (await client.get(thumb_with_full_sig)).status_code == 403
        forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
        assert (await client.get(forged)).json()["code"] == "photo.link_invalid"
        clock.advance(timedelta(seconds=settings.media.url_ttl_seconds + 601))
        r = await client.get(url)
        assert r.status_code == 403
        assert r.json()["code"] == "photo.link_invalid"
