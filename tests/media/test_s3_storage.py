"""Photos in S3-compatible object storage, against moto's S3 server on loopback (no mocks of our code)."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.permissions import Role
from app.core.config import MediaSettings, Settings
from app.main import create_app
from app.media.storage import (
    LocalStorage,
    S3Storage,
    Storage,
    StoredObjectMissing,
    build_storage,
    photo_keys,
)
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.factories import bearer, make_user
from tests.fakes import FrozenClock
from tests.media.test_router import jpeg_with_gps

UPLOADS = "/api/v1/uploads"
ACCESS_KEY, SECRET_KEY = "linli-test-access", "linli-test-secret"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server in a thread on a free loopback port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_endpoint: str) -> Any:
    """A plain boto3 client, to look into the bucket independently of S3Storage."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty bucket per test."""
    name = f"linli-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def s3_storage_for(endpoint: str, bucket: str) -> S3Storage:
    return S3Storage(
        bucket=bucket, endpoint_url=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, max_attempts=1
    )


@pytest.fixture
def s3_storage(s3_endpoint: str, bucket: str) -> S3Storage:
    return s3_storage_for(s3_endpoint, bucket)


def bucket_keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


class TestS3Storage:
    def test_is_a_storage(self, s3_storage: S3Storage) -> None:
        assert isinstance(s3_storage, Storage)

    async def test_round_trip_stores_the_object_with_its_content_type(
        self, s3_storage: S3Storage, s3: Any, bucket: str
    ) -> None:
        key, _ = photo_keys(uuid.uuid4())

        await s3_storage.put(key, b"jpeg bytes", "image/jpeg")

        assert await s3_storage.get(key) == b"jpeg bytes"
        stored = s3.get_object(Bucket=bucket, Key=key)
        assert stored["Body"].read() == b"jpeg bytes"
        assert stored["ContentType"] == "image/jpeg"

    async def test_put_replaces_the_existing_object(
        self, s3_storage: S3Storage, s3: Any, bucket: str
    ) -> None:
        await s3_storage.put("ab/cd/x.jpg", b"old", "image/jpeg")
        await s3_storage.put("ab/cd/x.jpg", b"new", "image/jpeg")

        assert await s3_storage.get("ab/cd/x.jpg") == b"new"
        assert bucket_keys(s3, bucket) == {"ab/cd/x.jpg"}

    async def test_missing_key_raises_stored_object_missing(self, s3_storage: S3Storage) -> None:
        with pytest.raises(StoredObjectMissing) as exc:
            await s3_storage.get("ab/cd/missing.jpg")

        assert isinstance(exc.value, KeyError)

    async def test_delete_removes_the_object_and_tolerates_a_missing_one(
        self, s3_storage: S3Storage, s3: Any, bucket: str
    ) -> None:
        await s3_storage.put("ab/cd/x.jpg", b"data", "image/jpeg")

        await s3_storage.delete("ab/cd/x.jpg")
        await s3_storage.delete("ab/cd/x.jpg")
        await s3_storage.delete("ab/cd/never-stored.jpg")

        assert bucket_keys(s3, bucket) == set()
        with pytest.raises(StoredObjectMissing):
            await s3_storage.get("ab/cd/x.jpg")

    async def test_a_missing_bucket_is_an_error_not_a_missing_photo(self, s3_endpoint: str) -> None:
        storage = s3_storage_for(s3_endpoint, f"absent-{uuid.uuid4().hex[:12]}")

        with pytest.raises(ClientError) as exc:
            await storage.get("ab/cd/x.jpg")

        assert not isinstance(exc.value, StoredObjectMissing)
        assert exc.value.response["Error"]["Code"] == "NoSuchBucket"

    @pytest.mark.parametrize("key", ["", "../outside.jpg", "/etc/passwd", "ab//cd.jpg", "ab\\cd.jpg"])
    async def test_unsafe_keys_are_rejected_like_on_disk(
        self, s3_storage: S3Storage, s3: Any, bucket: str, key: str
    ) -> None:
        with pytest.raises(ValueError, match="unsafe storage key"):
            await s3_storage.put(key, b"data", "image/jpeg")
        with pytest.raises(ValueError, match="unsafe storage key"):
            await s3_storage.get(key)
        with pytest.raises(ValueError, match="unsafe storage key"):
            await s3_storage.delete(key)
        with pytest.raises(ValueError, match="unsafe storage key"):
            s3_storage.presigned_url(key, 60)

        assert bucket_keys(s3, bucket) == set()

    async def test_presigned_url_downloads_the_bytes_until_it_expires(self, s3_storage: S3Storage) -> None:
        await s3_storage.put("ab/cd/x.jpg", b"\xff\xd8 jpeg bytes", "image/jpeg")

        url = s3_storage.presigned_url("ab/cd/x.jpg", 120)

        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == ["120"]
        assert ACCESS_KEY in query["X-Amz-Credential"][0]
        async with httpx.AsyncClient() as http:
            r = await http.get(url)
        assert r.status_code == 200
        assert r.content == b"\xff\xd8 jpeg bytes"
        assert r.headers["content-type"] == "image/jpeg"

    def test_presigned_url_needs_a_positive_lifetime(self, s3_storage: S3Storage) -> None:
        with pytest.raises(ValueError, match="expires_seconds"):
            s3_storage.presigned_url("ab/cd/x.jpg", 0)

    def test_a_bucket_is_required(self, s3_endpoint: str) -> None:
        with pytest.raises(ValueError, match="bucket"):
            S3Storage(bucket="", endpoint_url=s3_endpoint)


class TestBuildStorage:
    def test_local_disk_is_the_default(self, tmp_path: Path) -> None:
        storage = build_storage(MediaSettings(root=tmp_path))

        assert isinstance(storage, LocalStorage)
        assert storage.root == tmp_path

    async def test_s3_backend_uses_the_configured_bucket_and_keys(
        self, s3_endpoint: str, s3: Any, bucket: str
    ) -> None:
        cfg = MediaSettings.model_validate(
            {
                "backend": "s3",
                "s3_endpoint_url": s3_endpoint,
                "s3_bucket": bucket,
                "s3_access_key": ACCESS_KEY,
                "s3_secret_key": SECRET_KEY,
            }
        )

        storage = build_storage(cfg)

        assert isinstance(storage, S3Storage)
        await storage.put("ab/cd/x.jpg", b"data", "image/jpeg")
        assert bucket_keys(s3, bucket) == {"ab/cd/x.jpg"}
        assert ACCESS_KEY in storage.presigned_url("ab/cd/x.jpg", 60)

    def test_s3_backend_without_a_bucket_is_refused(self) -> None:
        with pytest.raises(ValueError, match="LINLI_MEDIA__S3_BUCKET"):
            build_storage(MediaSettings(backend="s3"))


# --- The whole app with its photos in the bucket: uploads, signed links, proxy and redirect ---


@pytest.fixture(params=[False, True], ids=["proxy", "redirect"])
def redirect(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
def s3_settings(database_url: str, tmp_path: Path, s3_endpoint: str, bucket: str, redirect: bool) -> Settings:
    media = {
        "root": str(tmp_path),  # an empty directory: nothing may land on local disk
        "backend": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": bucket,
        "s3_access_key": ACCESS_KEY,
        "s3_secret_key": SECRET_KEY,
        "s3_redirect": redirect,
    }
    return make_settings(database_url, tmp_path, media=media)


@pytest.fixture
async def s3_client(
    s3_settings: Settings, maker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    # The storage comes from configuration, as app.main builds it.
    storage = build_storage(s3_settings.media)
    assert isinstance(storage, S3Storage)
    app = create_app(s3_settings, clock=clock, wechat=FakeWeChatClient(), storage=storage)
    app.state.sessionmaker = maker
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def s3_auth(session: AsyncSession, s3_settings: Settings, clock: FrozenClock) -> dict[str, str]:
    user = await make_user(session, Role.RESIDENT)
    await session.commit()
    return bearer(s3_settings, clock, user)


async def _upload(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    r = await client.post(
        UPLOADS, headers=auth, files={"file": ("wx_tmp.jpg", jpeg_with_gps(), "image/jpeg")}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _fetch_photo(client: httpx.AsyncClient, url: str, redirect: bool) -> httpx.Response:
    """GET a signed /media link the way the mini-program would, following a redirect to the store."""
    r = await client.get(url)
    if not redirect:
        return r
    assert r.status_code == 307, r.text
    async with httpx.AsyncClient() as http:
        return await http.get(r.headers["location"])


class TestAppOnS3:
    async def test_upload_lands_in_the_bucket_and_the_signed_links_serve_it(
        self, s3_client, s3_auth, s3: Any, bucket: str, tmp_path: Path, redirect: bool
    ) -> None:
        body = await _upload(s3_client, s3_auth)

        full_key, thumb_key = photo_keys(uuid.UUID(body["id"]))
        assert bucket_keys(s3, bucket) == {full_key, thumb_key}
        assert list(tmp_path.iterdir()) == []  # nothing on local disk
        stored_full = s3.get_object(Bucket=bucket, Key=full_key)
        assert stored_full["ContentType"] == "image/jpeg"
        full_bytes = stored_full["Body"].read()
        thumb_bytes = s3.get_object(Bucket=bucket, Key=thumb_key)["Body"].read()

        full = await _fetch_photo(s3_client, body["url"], redirect)
        thumb = await _fetch_photo(s3_client, body["thumbnail_url"], redirect)

        assert full.status_code == thumb.status_code == 200
        assert full.headers["content-type"] == "image/jpeg"
        assert full.content == full_bytes and full.content.startswith(b"\xff\xd8")
        assert thumb.content == thumb_bytes

    async def test_redirect_or_proxy_as_configured(
        self, s3_client, s3_auth, s3_endpoint: str, redirect: bool
    ) -> None:
        body = await _upload(s3_client, s3_auth)

        r = await s3_client.get(body["url"])

        if redirect:
            assert r.status_code == 307
            location = r.headers["location"]
            assert location.startswith(s3_endpoint + "/")
            query = parse_qs(urlsplit(location).query)
            # Our link lives for an hour or more; the store's URL for no more than 10 minutes.
            assert int(query["X-Amz-Expires"][0]) == 600
            assert r.headers["cache-control"] == "private, max-age=300"
        else:
            assert r.status_code == 200
            assert r.headers["cache-control"].startswith("private, max-age=")
            assert "location" not in r.headers

    async def test_a_link_near_its_end_gets_a_store_url_no_longer_than_itself(
        self, s3_client, s3_auth, clock: FrozenClock, redirect: bool
    ) -> None:
        body = await _upload(s3_client, s3_auth)
        exp = int(parse_qs(urlsplit(body["url"]).query)["exp"][0])
        clock.advance(timedelta(seconds=exp - int(clock.now().timestamp()) - 90))

        r = await s3_client.get(body["url"])

        if redirect:
            assert r.status_code == 307
            assert parse_qs(urlsplit(r.headers["location"]).query)["X-Amz-Expires"] == ["90"]
        else:
            assert r.status_code == 200
            assert r.headers["cache-control"] == "private, max-age=90"

    async def test_tampered_or_expired_links_are_still_refused(
        self, s3_client, s3_auth, clock: FrozenClock, s3_settings, redirect: bool
    ) -> None:
        url = (await _upload(s3_client, s3_auth))["url"]
        forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
        thumb_with_full_sig = url.replace("/full.jpg", "/thumb.jpg")
        other_photo = url.replace(url.split("/")[2], str(uuid.uuid4()))

        for bad in (forged, thumb_with_full_sig, other_photo):
            r = await s3_client.get(bad)
            assert r.status_code == 403, bad
            assert r.json()["code"] == "photo.link_invalid"
            assert "location" not in r.headers

        clock.advance(timedelta(seconds=s3_settings.media.url_ttl_seconds + 601))
        r = await s3_client.get(url)
        assert r.status_code == 403
        assert r.json()["code"] == "photo.link_invalid"

    # A redirect does not look into the bucket (the store itself answers 404), so proxy mode only.
    @pytest.mark.parametrize("redirect", [False], ids=["proxy"])
    async def test_a_photo_gone_from_the_bucket_is_not_found_when_proxying(
        self, s3_client, s3_auth, s3: Any, bucket: str, redirect: bool
    ) -> None:
        body = await _upload(s3_client, s3_auth)
        s3.delete_object(Bucket=bucket, Key=photo_keys(uuid.UUID(body["id"]))[0])

        r = await s3_client.get(body["url"])

        assert r.status_code == 404
        assert r.json()["code"] == "photo.not_found"
