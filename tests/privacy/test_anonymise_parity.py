"""A WeChat account cancellation (user_authorization_cancellation pushed to /api/v1/wechat/push)
and DELETE /api/v1/me erase a person through the same function (app/wechat/privacy.py anonymise),
so both leave the same result. Each test runs once per path on the same arrangement."""

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.auth.models import RefreshToken
from app.core.idempotency import IdempotencyRecord
from app.course.models import Attendee
from app.media.models import Photo
from app.media.storage import StoredObjectMissing
from app.notification.models import Notification, OutboxMessage
from app.privacy.models import AuditAction, AuditLog
from app.repair.models import RepairOrder
from app.ticket.models import Ticket
from app.user.models import User, UserIdentity
from app.wechat.privacy import ANONYMOUS_NAME
from tests.privacy.conftest import make_class, make_signup

OPENID = "ok:resident"
PATHS = ["delete_me", "wechat_cancellation"]


async def count(session, model, *where) -> int:  # type: ignore[no-untyped-def]
    return await session.scalar(select(func.count()).select_from(model).where(*where))


def signed_query(clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """WeChat's signature over the push (the default dev token), at the test clock's time."""
    timestamp, nonce = str(int(clock.now().timestamp())), uuid.uuid4().hex[:12]
    signature = hashlib.sha1("".join(sorted(["dev-push-token", timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


@pytest.fixture
async def held(client, auth, session, clock, w, report, upload, act) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything we hold about the resident, made through the API where the API makes it."""
    session.add(UserIdentity(user_id=w.resident.id, provider="wechat_mp", subject=OPENID))
    await session.commit()
    loose, used = await upload(w.resident, seed=1), await upload(w.resident, seed=2)
    r = await client.post(
        "/api/v1/tickets",
        json={
            "category_id": str(w.category.id),
            "description": "井盖破损，晚上很危险",
            "location": {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"},
            "photo_ids": [used],
        },
        headers={**auth(w.resident), "Idempotency-Key": "parity-1"},
    )
    assert r.status_code == 201, r.text
    ticket = r.json()["id"]
    await act(ticket, "claim", w.worker)  # an inbox row and an undelivered live message for them
    r = await client.post(
        "/api/v1/repairs/orders",
        json={"category": "plumbing", "description": "厨房水龙头一直滴水"},
        headers=auth(w.resident),
    )
    assert r.status_code == 201, r.text
    cls = await make_class(session, w, at=clock.now() + timedelta(days=2))
    await make_signup(session, cls, by=w.resident, learner=w.resident)
    session.add(
        RefreshToken(
            user_id=w.resident.id,
            token_hash="f" * 64,
            family_id=uuid.uuid4(),
            issued_at=clock.now(),
            expires_at=clock.now() + timedelta(days=30),
        )
    )
    await session.commit()
    uid = w.resident.id
    assert await count(session, Notification, Notification.user_id == uid) >= 1
    assert await count(session, OutboxMessage, OutboxMessage.user_id == uid) >= 1
    assert await count(session, IdempotencyRecord, IdempotencyRecord.user_id == uid) == 1
    photos = {}
    for pid in (loose, used):
        p = await session.get(Photo, uuid.UUID(pid))
        photos[pid] = (p.storage_key, p.thumb_key)
    return {"ticket": ticket, "order": r.json()["id"], "loose": loose, "used": used, "files": photos}


@pytest.fixture
def erase(client, auth, clock, w):  # type: ignore[no-untyped-def]
    async def _erase(path: str) -> None:
        if path == "delete_me":
            r = await client.request(
                "DELETE", "/api/v1/me", json={"confirm": "注销"}, headers=auth(w.resident)
            )
            assert r.status_code == 204, r.text
            return
        event = {
            "ToUserName": "gh_fake",
            "FromUserName": OPENID,
            "CreateTime": 1700000000,
            "MsgType": "event",
            "Event": "user_authorization_cancellation",
            "OpenID": OPENID,
            "AppID": "wx-dev",
        }
        r = await client.post(
            "/api/v1/wechat/push",
            params=signed_query(clock),
            content=json.dumps(event),
            headers={"Content-Type": "application/json"},
        )
        assert (r.status_code, r.text) == (200, "success")

    return _erase


@pytest.mark.parametrize("path", PATHS)
async def test_both_paths_erase_the_same_records(session, w, held, erase, path) -> None:  # type: ignore[no-untyped-def]
    uid = w.resident.id
    await erase(path)

    user = await session.get(User, uid, populate_existing=True)
    assert (user.display_name, user.username, user.phone, user.address, user.care_category) == (
        ANONYMOUS_NAME,
        None,
        None,
        "",
        None,
    )
    assert (user.is_active, user.home_building_id, user.password_hash) == (False, None, None)
    for model in (UserIdentity, RefreshToken, Notification, IdempotencyRecord, OutboxMessage):
        assert await count(session, model, model.user_id == uid) == 0, model.__name__
    # The loose photo goes, the report's photo stays with the report.
    assert await session.get(Photo, uuid.UUID(held["loose"]), populate_existing=True) is None
    assert await session.get(Photo, uuid.UUID(held["used"]), populate_existing=True) is not None
    learner = await session.scalar(
        select(Attendee).where(Attendee.user_id == uid).execution_options(populate_existing=True)
    )
    assert (learner.name, learner.phone, learner.age) == (ANONYMOUS_NAME, None, None)
    order = await session.get(RepairOrder, uuid.UUID(held["order"]), populate_existing=True)
    assert (order.resident_id, order.contact_name, order.contact_phone) == (uid, ANONYMOUS_NAME, None)
    ticket = await session.get(Ticket, uuid.UUID(held["ticket"]), populate_existing=True)
    assert ticket.reporter_id == uid
    logged = await session.scalars(
        select(AuditLog).where(
            AuditLog.subject_user_id == uid, AuditLog.action == AuditAction.ACCOUNT_DELETED
        )
    )
    assert [(r.actor_id, r.resource, r.resource_id) for r in logged] == [(uid, "user", uid)]
    # Nobody else's data was touched.
    other = await session.get(User, w.neighbour.id, populate_existing=True)
    assert (other.phone, other.is_active) == ("13811112222", True)


@pytest.mark.parametrize(
    "path",
    [
        "delete_me",
        "wechat_cancellation",
    ],
)
async def test_both_paths_delete_the_loose_photos_files(storage, held, erase, path) -> None:  # type: ignore[no-untyped-def]
    await erase(path)
    for key in held["files"][held["used"]]:
        assert await storage.get(key)
    for key in held["files"][held["loose"]]:
        with pytest.raises(StoredObjectMissing):
            await storage.get(key)


@pytest.mark.parametrize("path", PATHS)
async def test_after_either_path_a_retried_delete_with_the_old_token_is_204(  # type: ignore[no-untyped-def]
    client, auth, w, held, erase, path
) -> None:
    headers = auth(w.resident)  # minted before the erasure
    await erase(path)
    r = await client.request("DELETE", "/api/v1/me", json={"confirm": "注销"}, headers=headers)
    assert r.status_code == 204, r.text
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
