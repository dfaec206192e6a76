"""Partner keys: who issues, lists and revokes them; a revoked key stops working at once; only
the hash is stored; filing is rate limited per key like other creates."""

import uuid

import httpx
from sqlalchemy import select

from app.core import security
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.open311.models import Open311ApiKey
from app.user.models import User
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.open311.conftest import BASE, IN_G1, KEYS


async def test_who_may_issue(client, auth, w) -> None:  # type: ignore[no-untyped-def]
    body = {"subdistrict_id": str(w.s1.id), "partner_name": "城市网格平台"}
    for user, status in (
        (w.sub_admin, 201),
        (w.superadmin, 201),
        (w.s2_admin, 403),
        (w.c1_admin, 403),
        (w.worker, 403),
        (w.resident, 403),
    ):
        r = await client.post(KEYS, json=body, headers=auth(user))
        assert r.status_code == status, (user.display_name, r.text)
        if status == 403:
            assert r.json()["code"] == "open311.key_forbidden"  # the usual envelope under /api/v1
    assert (await client.post(KEYS, json=body)).status_code == 401
    # The default community must be in the key's subdistrict.
    r = await client.post(KEYS, json={**body, "community_id": str(w.c3.id)}, headers=auth(w.sub_admin))
    assert r.status_code == 404


async def test_only_the_hash_is_kept_and_the_service_account_cannot_log_in(
    client, auth, w, session, partner
) -> None:  # type: ignore[no-untyped-def]
    row = await session.scalar(select(Open311ApiKey).where(Open311ApiKey.id == uuid.UUID(partner.id)))
    assert row.key_hash == security.hash_token(partner.key) and partner.key not in row.key_hash
    assert partner.key.startswith(row.key_prefix) and row.created_by_id == w.sub_admin.id
    user = await session.get(User, row.service_user_id)
    assert user.is_active is False and user.password_hash is None and user.username is None
    listed = (await client.get(KEYS, headers=auth(w.sub_admin))).json()["items"]
    assert [k["id"] for k in listed] == [partner.id]
    assert "api_key" not in listed[0] and partner.key not in str(listed)


async def test_who_may_list(client, auth, w, partner, issue) -> None:  # type: ignore[no-untyped-def]
    other = await issue(w.s2_admin, subdistrict=w.s2)

    async def ids(user, **params) -> set[str] | int:  # type: ignore[no-untyped-def]
        r = await client.get(KEYS, params=params, headers=auth(user))
        return {k["id"] for k in r.json()["items"]} if r.status_code == 200 else r.status_code

    assert await ids(w.superadmin) == {partner.id, other.id}
    assert await ids(w.sub_admin) == {partner.id}
    assert await ids(w.s2_admin) == {other.id}
    assert await ids(w.sub_admin, subdistrict_id=str(w.s1.id)) == {partner.id}
    assert await ids(w.sub_admin, subdistrict_id=str(w.s2.id)) == 403
    assert await ids(w.c1_admin) == 403
    assert await ids(w.resident) == 403


async def test_revoking_stops_the_key_at_once(client, auth, w, partner, post_request) -> None:  # type: ignore[no-untyped-def]
    assert (await post_request()).status_code == 201
    url = f"{KEYS}/{partner.id}"
    for user in (w.s2_admin, w.c1_admin, w.resident):
        r = await client.delete(url, headers=auth(user))
        assert (r.status_code, r.json()["code"]) == (404, "open311.key_not_found")
    assert (await client.delete(url, headers=auth(w.sub_admin))).status_code == 204
    assert (await client.delete(url, headers=auth(w.superadmin))).status_code == 204  # idempotent
    r = await post_request("xml")
    assert r.status_code == 403 and b"<code>403</code>" in r.content
    (row,) = (await client.get(KEYS, headers=auth(w.sub_admin))).json()["items"]
    assert row["revoked_at"] == "2026-11-22T02:00:00Z" and row["revoked_by_id"] == str(w.sub_admin.id)
    # A revoked key on a read method is refused too.
    r = await client.get(f"{BASE}/requests.json", params={"api_key": partner.key})
    assert r.status_code == 403


async def test_filing_is_rate_limited_per_key(database_url, tmp_path, maker, clock, w, partner) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        database_url, tmp_path, rate_limit={"enabled": True, "create": {"per_user": 2, "per_ip": 100}}
    )
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    app.state.sessionmaker = maker
    form = {"api_key": partner.key, "service_code": str(w.category.id), "description": "路灯不亮", **IN_G1}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        statuses = [(await c.post(f"{BASE}/requests.json", data=form)).status_code for _ in range(3)]
        r = await c.post(f"{BASE}/requests.xml", data=form)
    assert statuses == [201, 201, 429]
    assert r.status_code == 429 and b"<code>429</code>" in r.content and "retry-after" in r.headers
