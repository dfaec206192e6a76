"""Hostile uploads to POST /api/v1/uploads: decompression bombs, truncated and polyglot files, lying
content types, oversize and endless bodies, empty files, and a burst of concurrent uploads.

Each refusal has a clear code in the error envelope and leaves nothing behind: no Photo row and no
object in storage. What is stored is always a fresh JPEG encoded by us, never the uploaded bytes.
"""

import asyncio
import contextlib
import io
import socket
import struct
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.core.config import Settings
from app.main import create_app
from app.media.models import Photo
from app.media.storage import InMemoryStorage
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import bearer, make_user, make_world
from tests.fakes import FrozenClock
from tests.live import Live

UPLOADS = "/api/v1/uploads"
# A small limit keeps the oversize tests quick; the checks are the same at 10 MB.
MAX_BYTES = 1_000_000
MULTIPART_OVERHEAD = 64 * 1024  # app/api.py
BODY_LIMIT = MAX_BYTES + MULTIPART_OVERHEAD


# --- files -------------------------------------------------------------------------------------


def jpeg(
    width: int = 320, height: int = 240, color: tuple[int, int, int] = (200, 30, 30), **kw: Any
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="JPEG", **kw)
    return buf.getvalue()


def png(width: int = 120, height: int = 90, color: tuple[int, int, int] = (20, 90, 200), **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG", **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_declaring(width: int, height: int, *extra_chunks: bytes) -> bytes:
    """A tiny, valid-looking PNG whose header claims width × height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + 3 * 16), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + b"".join(extra_chunks)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG with its frame header (SOF0) rewritten to claim width × height."""
    data = bytearray(jpeg(64, 48))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def zip_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("evil.html", "<html><script>alert(document.cookie)</script></html>")
        zf.writestr("payload.sh", "#!/bin/sh\nrm -rf /\n")
    return buf.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
PAYLOAD_MARKERS = (b"PK\x03\x04", b"evil.html", b"<script", b"<html", b"alert(", b"rm -rf")


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, media={"root": str(tmp_path), "max_bytes": MAX_BYTES})


@pytest.fixture
async def resident(session):  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT, openid="uploader")
    await session.commit()
    return user


@pytest.fixture
def auth(settings, clock, resident) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(settings, clock, resident)


async def upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    data: bytes,
    name: str = "wx_tmp.jpg",
    ctype: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(UPLOADS, headers=auth, files={"file": (name, data, ctype)})


async def photo_rows(session) -> list[Photo]:  # type: ignore[no-untyped-def]
    return list(await session.scalars(select(Photo).execution_options(populate_existing=True)))


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == code and body["message"]


async def assert_nothing_stored(session, storage: InMemoryStorage) -> None:  # type: ignore[no-untyped-def]
    assert storage.objects == {}
    assert await session.scalar(select(func.count(Photo.id))) == 0


async def stored_full(session, storage: InMemoryStorage, photo_id: str):  # type: ignore[no-untyped-def]
    """The stored row and its two objects (full, thumbnail): the only objects in storage."""
    photo = await session.get(Photo, uuid.UUID(photo_id))
    assert photo is not None
    assert set(storage.objects) == {photo.storage_key, photo.thumb_key}
    return photo, storage.objects[photo.storage_key], storage.objects[photo.thumb_key]


def assert_clean_jpeg(data: bytes, uploaded: bytes) -> Image.Image:
    """Our own re-encoding: a complete JPEG with no trace of anything appended or embedded."""
    assert data != uploaded
    assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")
    for marker in PAYLOAD_MARKERS:
        assert marker not in data, marker
    assert not zipfile.is_zipfile(io.BytesIO(data))
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    img.load()
    assert not img.info.get("comment") and "exif" not in img.info and "icc_profile" not in img.info
    return img


# --- decompression bombs ---------------------------------------------------------------------


class TestDecompressionBombs:
    @pytest.mark.parametrize(
        ("name", "data", "ctype"),
        [
            ("bomb.png", png_declaring(30_000, 30_000), "image/png"),
            pytest.param(
                "wide.png",
                png_declaring(1_000_000, 100),
                "image/png",
                # Pillow warns above 89 Mpx (and raises above twice that); ours is the lower limit.
                marks=pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
            ),
            ("just-over.png", png_declaring(8_001, 8_000), "image/png"),
            ("bomb.jpg", jpeg_declaring(65_000, 65_000), "image/jpeg"),
        ],
    )
    async def test_a_small_file_claiming_too_many_pixels(
        self, client, auth, session, storage, name, data, ctype
    ) -> None:
        assert len(data) < 2_000
        r = await asyncio.wait_for(upload(client, auth, data, name, ctype), 10)
        assert_refused(r, 413, "upload.too_many_pixels")
        assert r.json()["details"]["max_pixels"] == 64_000_000
        await assert_nothing_stored(session, storage)

    async def test_the_refusal_names_the_size_when_known(self, client, auth) -> None:
        r = await upload(client, auth, png_declaring(8_001, 8_000), "a.png", "image/png")
        assert r.json()["details"] == {"width": 8_001, "height": 8_000, "max_pixels": 64_000_000}

    @pytest.mark.parametrize("chunk", [b"zTXt", b"iCCP"])
    async def test_compressed_metadata_bombs(self, client, auth, session, storage, chunk) -> None:
        # ~200 KB inflating to 200 MB inside a text or colour-profile chunk of a 16×16 image.
        bomb = zlib.compress(b"A" * (200 * 1024 * 1024), 9)
        data = png_declaring(16, 1, _chunk(chunk, b"name\0\0" + bomb))
        assert len(data) < 300_000
        r = await asyncio.wait_for(upload(client, auth, data, "meta.png", "image/png"), 10)
        assert_refused(r, 422, "upload.corrupt")
        await assert_nothing_stored(session, storage)


# --- truncated and corrupt files --------------------------------------------------------------


class TestTruncated:
    @pytest.mark.parametrize(
        "cut",
        [
            pytest.param(lambda d: d[:3], id="signature-only"),
            pytest.param(lambda d: d[:200], id="in-the-headers"),
            pytest.param(lambda d: d[: len(d) // 2], id="half-the-scan"),
            pytest.param(lambda d: d[:-2], id="no-end-marker"),
            pytest.param(lambda d: d[:-200] + b"\0" * 200, id="zeroed-tail"),
        ],
    )
    @pytest.mark.parametrize("progressive", [False, True])
    async def test_truncated_jpeg(self, client, auth, session, storage, cut, progressive) -> None:
        data = cut(jpeg(800, 600, progressive=progressive, quality=95))
        r = await upload(client, auth, data)
        assert_refused(r, 422, "upload.corrupt")
        await assert_nothing_stored(session, storage)

    async def test_truncated_png(self, client, auth, session, storage) -> None:
        data = png(400, 300)
        r = await upload(client, auth, data[: len(data) // 2], "cut.png", "image/png")
        assert_refused(r, 422, "upload.corrupt")
        await assert_nothing_stored(session, storage)

    async def test_garbage_after_a_valid_signature(self, client, auth, session, storage) -> None:
        for data in (b"\xff\xd8\xff" + b"\x00" * 5000, b"\x89PNG\r\n\x1a\n" + b"\xff" * 5000):
            assert_refused(await upload(client, auth, data), 422, "upload.corrupt")
        await assert_nothing_stored(session, storage)


# --- polyglots --------------------------------------------------------------------------------


class TestPolyglots:
    @pytest.mark.parametrize(
        "appended", [pytest.param(zip_archive(), id="zip"), pytest.param(HTML, id="html")]
    )
    async def test_a_jpeg_with_a_payload_appended_is_stored_re_encoded_without_it(
        self, client, auth, session, storage, appended
    ) -> None:
        original = jpeg(320, 240)
        data = original + appended
        if appended.startswith(b"PK"):
            assert zipfile.is_zipfile(io.BytesIO(data))  # a real polyglot: a valid ZIP too
        r = await upload(client, auth, data)
        assert r.status_code == 201, r.text
        photo, full, thumb = await stored_full(session, storage, r.json()["id"])
        for stored in (full, thumb):
            assert_clean_jpeg(stored, data)
        assert photo.source_format == "JPEG" and photo.content_type == "image/jpeg"
        assert storage.content_types[photo.storage_key] == "image/jpeg"
        assert (photo.width, photo.height) == (320, 240)
        # And what we serve back is those bytes, as image/jpeg, with nosniff.
        served = await client.get(r.json()["url"])
        assert served.content == full
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["x-content-type-options"] == "nosniff"

    async def test_html_hidden_inside_jpeg_segments_is_dropped(self, client, auth, session, storage) -> None:
        exif = Image.Exif()
        exif[0x010E] = "<script>alert(1)</script>"  # ImageDescription
        exif[0x9286] = "<html>evil</html>"  # UserComment
        data = jpeg(200, 150, comment=HTML, exif=exif, icc_profile=b"<script>alert(2)</script>" * 4)
        assert b"<script" in data
        r = await upload(client, auth, data)
        assert r.status_code == 201, r.text
        _, full, thumb = await stored_full(session, storage, r.json()["id"])
        assert_clean_jpeg(full, data)
        assert_clean_jpeg(thumb, data)

    async def test_a_png_with_html_chunks_and_a_zip_after_iend(self, client, auth, session, storage) -> None:
        text = _chunk(b"tEXt", b"Comment\0" + HTML)
        base = png(100, 80)
        data = base[:33] + text + base[33:] + zip_archive()
        r = await upload(client, auth, data, "x.png", "image/png")
        assert r.status_code == 201, r.text
        photo, full, _ = await stored_full(session, storage, r.json()["id"])
        assert_clean_jpeg(full, data)
        assert photo.source_format == "PNG"

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(HTML + jpeg(), id="html-first"),
            pytest.param(zip_archive() + jpeg(), id="zip-first"),
            pytest.param(b"GIF89a" + jpeg(), id="gifar"),
            pytest.param(b"%PDF-1.7\n" + jpeg(), id="pdf-first"),
        ],
    )
    async def test_an_image_behind_another_format_is_refused(
        self, client, auth, session, storage, data
    ) -> None:
        assert_refused(await upload(client, auth, data), 415, "upload.unsupported_type")
        await assert_nothing_stored(session, storage)


# --- declared content types -------------------------------------------------------------------


class TestDeclaredType:
    @pytest.mark.parametrize(
        ("name", "ctype"),
        [
            ("photo.jpg", "image/jpeg"),
            ("page.html", "text/html"),
            ("x.svg", "image/svg+xml"),
            ("run.exe", "application/octet-stream"),
            ("../../../etc/passwd", "text/plain"),
        ],
    )
    async def test_png_bytes_are_stored_as_the_sniffed_type_whatever_was_declared(
        self, client, auth, session, storage, name, ctype
    ) -> None:
        data = png(64, 48)
        r = await upload(client, auth, data, name, ctype)
        assert r.status_code == 201, r.text
        assert r.json()["content_type"] == "image/jpeg"
        photo, full, _ = await stored_full(session, storage, r.json()["id"])
        assert photo.source_format == "PNG" and photo.content_type == "image/jpeg"
        assert storage.content_types[photo.storage_key] == "image/jpeg"
        assert_clean_jpeg(full, data)
        # The client's file name never reaches a storage key.
        assert all(".." not in key and "passwd" not in key and "html" not in key for key in storage.objects)

    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("photo.jpg", HTML),
            ("photo.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
            ("photo.jpg", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01"),
            ("photo.jpg", b"BM" + b"\0" * 200),
            ("photo.jpg", zip_archive()),
        ],
    )
    async def test_other_content_declared_as_an_image_is_refused(
        self, client, auth, session, storage, name, data
    ) -> None:
        r = await upload(client, auth, data, name, "image/jpeg")
        assert_refused(r, 415, "upload.unsupported_type")
        await assert_nothing_stored(session, storage)


# --- sizes ------------------------------------------------------------------------------------


_PART_HEAD = (
    b"--xyz\r\n"
    b'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0"
)


class _CountingBody:
    """A multipart body (one file part that never ends) produced lazily; counts how much of it the
    server pulled."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            n = min(self.chunk, self.total - self.pulled)
            piece = (_PART_HEAD + b"\0" * n)[:n] if self.pulled == 0 else b"\0" * n
            self.pulled += n
            yield piece


class TestSize:
    async def test_empty_file(self, client, auth, session, storage) -> None:
        assert_refused(await upload(client, auth, b""), 422, "upload.empty")
        await assert_nothing_stored(session, storage)

    async def test_a_file_over_the_limit_in_a_body_within_it(self, client, auth, session, storage) -> None:
        data = jpeg() + b"\0" * (MAX_BYTES + 1 - len(jpeg()))
        r = await upload(client, auth, data)
        assert_refused(r, 413, "upload.too_large")
        await assert_nothing_stored(session, storage)

    async def test_a_file_at_the_limit_is_read(self, client, auth, session, storage) -> None:
        # Padding after the end marker is ignored by the decoder and dropped by re-encoding.
        data = jpeg() + b"\0" * (MAX_BYTES - len(jpeg()))
        r = await upload(client, auth, data)
        assert r.status_code == 201, r.text

    async def test_content_length_over_the_limit_is_refused_before_the_body_is_read(
        self, client, auth, session, storage
    ) -> None:
        body = _CountingBody(BODY_LIMIT * 4)
        headers = {
            **auth,
            "Content-Type": "multipart/form-data; boundary=xyz",
            "Content-Length": str(body.total),
        }
        r = await client.post(UPLOADS, headers=headers, content=body)
        assert_refused(r, 413, "request.too_large")
        assert r.json()["details"] == {"max_bytes": BODY_LIMIT}
        assert body.pulled <= body.chunk  # nothing read (at most the first chunk the client pushed)
        await assert_nothing_stored(session, storage)

    async def test_a_chunked_body_without_length_is_cut_off_at_the_limit(
        self, client, auth, session, storage
    ) -> None:
        body = _CountingBody(BODY_LIMIT * 4)
        headers = {**auth, "Content-Type": "multipart/form-data; boundary=xyz"}
        r = await client.post(UPLOADS, headers=headers, content=body)
        assert "content-length" not in r.request.headers  # really streamed
        assert_refused(r, 413, "request.too_large")
        assert body.pulled <= BODY_LIMIT + 2 * body.chunk
        await assert_nothing_stored(session, storage)

    async def test_a_lying_small_content_length_does_not_help(self, client, auth, session, storage) -> None:
        # The limit counts what arrives, not what was declared.
        body = _CountingBody(BODY_LIMIT * 2)
        headers = {**auth, "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": "100"}
        r = await client.post(UPLOADS, headers=headers, content=body)
        assert r.status_code in (400, 413, 422), r.text
        assert body.pulled <= BODY_LIMIT + 2 * body.chunk
        await assert_nothing_stored(session, storage)

    async def test_thousands_of_tiny_parts(self, client, auth, session, storage) -> None:
        files = [("file", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(1_500)]
        r = await client.post(UPLOADS, headers=auth, files=files)
        assert r.status_code in (400, 413, 422), r.text
        assert r.json()["code"] in ("request.bad_request", "request.too_large", "request.invalid")
        await assert_nothing_stored(session, storage)

    async def test_a_broken_multipart_body(self, client, auth, session, storage) -> None:
        headers = {**auth, "Content-Type": "multipart/form-data; boundary=xyz"}
        r = await client.post(UPLOADS, headers=headers, content=b"--xyz\r\nContent-Disposition: form-da")
        assert r.status_code in (400, 422), r.text
        assert r.json()["code"] in ("request.bad_request", "request.invalid")
        await assert_nothing_stored(session, storage)


@pytest.fixture
async def real_server(
    databases: DatabaseFactory, tmp_path: Path
) -> AsyncIterator[tuple[int, dict[str, str]]]:
    """uvicorn on loopback, so the body limit meets a real socket."""
    settings = make_settings(
        databases.copy(), tmp_path, media={"root": str(tmp_path), "max_bytes": MAX_BYTES}
    )
    clock = FrozenClock()
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with app.state.sessionmaker() as session:
        world = await make_world(session)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    while not srv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1], bearer(settings, clock, world.resident)
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
        assert app.state.storage.objects == {}


RESET = b"(connection reset)"


async def _raw_upload(
    port: int, auth: dict[str, str], head: dict[str, str], body_chunks: AsyncIterator[bytes]
) -> tuple[bytes, bytes, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {UPLOADS} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in {**auth, **head}.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0

    async def pump() -> None:
        nonlocal sent
        async for chunk in body_chunks:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()

    pumping = asyncio.create_task(pump())
    rest = b""
    try:
        try:
            status_line = await asyncio.wait_for(reader.readline(), 10)
        except ConnectionResetError:
            # The server answered and closed with our unread bytes in its buffer: its kernel's
            # reset can reach us first and take the answer with it (the lingering-close race).
            return RESET, rest, sent
        pumping.cancel()
        # The server closes at once (Connection: close) with our unread bytes in its buffer, so
        # the kernel may reset the connection before the rest of the answer is read.
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(4096), 5):
                rest += chunk
    finally:
        pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)
        writer.close()
    return status_line, rest, sent


async def test_over_a_real_socket_a_huge_content_length_is_answered_without_sending_the_body(
    real_server,
) -> None:  # type: ignore[no-untyped-def]
    port, auth = real_server
    declared = 500 * 1024 * 1024

    async def almost_nothing() -> AsyncIterator[bytes]:
        yield b"--xyz\r\n"
        await asyncio.Event().wait()  # the other 500 MB never come

    status, rest, _ = await _raw_upload(
        port,
        auth,
        {"Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(declared)},
        almost_nothing(),
    )
    assert status.startswith(b"HTTP/1.1 413"), status
    assert not rest or b"request.too_large" in rest


async def test_over_a_real_socket_an_endless_chunked_body_is_cut_off(real_server) -> None:  # type: ignore[no-untyped-def]
    port, auth = real_server

    async def endless() -> AsyncIterator[bytes]:
        def frame(piece: bytes) -> bytes:
            return f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

        yield frame(_PART_HEAD)
        zeros = frame(b"\0" * (64 * 1024))
        for _ in range(10_000):  # 640 MB if nobody stops us
            yield zeros

    status, rest, sent = await _raw_upload(
        port,
        auth,
        {"Content-Type": "multipart/form-data; boundary=xyz", "Transfer-Encoding": "chunked"},
        endless(),
    )
    # A 413, or (when the server's reset overtakes its answer under load) a connection cut off.
    assert status.startswith(b"HTTP/1.1 413") or status == RESET, status
    assert not rest or b"request.too_large" in rest
    # Refused long before the end (loopback socket buffers hold a few MB at most).
    assert sent < 100 * 1024 * 1024


# --- a failing store and a burst of uploads ---------------------------------------------------


class _FailingThumbStorage(InMemoryStorage):
    """The store accepts the photo and then fails on its thumbnail (a network error to S3)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        if key.endswith("_thumb.jpg"):
            raise OSError("connection reset by peer")
        await super().put(key, data, content_type)


async def test_a_store_failing_half_way_leaves_no_object_and_no_row(app, auth, session) -> None:  # type: ignore[no-untyped-def]
    app.state.storage = failing = _FailingThumbStorage()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await upload(client, auth, jpeg())
    assert_refused(r, 500, "server.error")
    await assert_nothing_stored(session, failing)


async def test_twenty_uploads_at_once_by_one_user(live: Live) -> None:
    world = await live.world()
    auth = live.auth(world.resident)
    storage: InMemoryStorage = live.app.state.storage
    # 16 different photos, one photo sent four times at once (a retrying client), and three bad files.
    files = [jpeg(200 + i, 150, color=(i * 12 % 256, 80, 200 - i * 9)) for i in range(16)]
    same = png(90, 60, color=(1, 2, 3))
    batch = [
        *((f, 201) for f in files),
        *((same, 201) for _ in range(4)),
        (b"", 422),
        (jpeg()[:300], 422),
        (HTML, 415),
    ]

    async def one(data: bytes) -> httpx.Response:
        return await live.client.post(UPLOADS, headers=auth, files={"file": ("wx.jpg", data, "image/jpeg")})

    responses = await asyncio.gather(*(one(d) for d, _ in batch))
    assert [r.status_code for r in responses] == [status for _, status in batch], [r.text for r in responses]

    async with live.app.state.sessionmaker() as session:
        rows = list(await session.scalars(select(Photo).where(Photo.owner_id == world.resident.id)))
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert {str(p.id) for p in rows} == ids
    # Every row has both its objects and every object belongs to a row: nothing partial, no orphans.
    assert set(storage.objects) == {k for p in rows for k in (p.storage_key, p.thumb_key)}
    assert len(storage.objects) == 2 * len(rows)
    assert 17 <= len(rows) <= 20  # the four identical uploads raced: each answer is a complete photo
    for p in rows:
        assert Image.open(io.BytesIO(storage.objects[p.storage_key])).format == "JPEG"
