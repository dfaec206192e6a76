"""DELETE /me: a resident deletes their account; what they reported stays, anonymous."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.core.idempotency import IdempotencyRecord
from app.media.models import Photo
from app.media.storage import StoredObjectMissing
from app.notification.models import Notification
from app.privacy.models import AuditAction, AuditLog
from app.ticket.models import Ticket
from app.user.models import User, UserIdentity
from app.wechat.privacy import ANONYMOUS_NAME
from tests.factories import make_user

ME = "/api/v1/me"
CONFIRM = {"confirm": "注销"}


@pytest.fixture
def delete_me(client, auth):  # type: ignore[no-untyped-def]
    async def _delete(user, body=CONFIRM, headers=None):  # type: ignore[no-untyped-def]
        return await client.request("DELETE", ME, json=body, headers=headers or auth(user))

    return _delete


async def count(session, model, *where) -> int:  # type: ignore[no-untyped-def]
    return await session.scalar(select(func.count()).select_from(model).where(*where))


class TestDeletingAnAccount:
    async def test_the_account_is_anonymised_and_its_token_stops_working(  # type: ignore[no-untyped-def]
        self, client, auth, session, w, act, delete_me
    ) -> None:
        uid = w.neighbour.id
        headers = auth(w.neighbour)
        r = await client.post(
            "/api/v1/tickets",
            json={"category_id": str(w.category.id), "description": "路灯不亮", "address": "西一路1号"},
            headers={**headers, "Idempotency-Key": "k-1"},
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        await act(tid, "claim", w.worker)  # a notification for the reporter
        assert await count(session, Notification, Notification.user_id == uid) == 1
        assert await count(session, IdempotencyRecord, IdempotencyRecord.user_id == uid) == 1

        r = await delete_me(w.neighbour, headers=headers)
        assert r.status_code == 204, r.text
        assert r.content == b""

        assert (await client.get(ME, headers=headers)).status_code == 401
        assert (await client.get(f"/api/v1/tickets/{tid}", headers=headers)).status_code == 401

        user = await session.get(User, uid, populate_existing=True)
        assert (user.display_name, user.phone, user.address, user.care_category) == (
            ANONYMOUS_NAME,
            None,
            "",
            None,
        )
        assert user.is_active is False
        assert await count(session, UserIdentity, UserIdentity.user_id == uid) == 0
        assert await count(session, Notification, Notification.user_id == uid) == 0
        assert await count(session, IdempotencyRecord, IdempotencyRecord.user_id == uid) == 0
        ticket = await session.get(Ticket, uuid.UUID(tid), populate_existing=True)
        assert ticket is not None and ticket.reporter_id == uid  # the report stays, now anonymous
        [logged] = await session.scalars(
            select(AuditLog).where(
                AuditLog.subject_user_id == uid, AuditLog.action == AuditAction.ACCOUNT_DELETED
            )
        )
        assert (logged.actor_id, logged.resource, logged.resource_id) == (uid, "user", uid)

        # The report is still handled and shown, without the person.
        r = await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        assert r.json()["reporter"]["display_name"] == ANONYMOUS_NAME
        assert r.json()["reporter"]["phone"] is None

    async def test_photos_not_in_a_report_go_with_their_files_the_reports_photos_stay(  # type: ignore[no-untyped-def]
        self, session, storage, w, report, upload, delete_me
    ) -> None:
        used, loose = await upload(w.resident, seed=1), await upload(w.resident, seed=2)
        await report(w.resident, photo_ids=[used])
        files = {
            pid: (p.storage_key, p.thumb_key)
            for pid in (used, loose)
            if (p := await session.get(Photo, uuid.UUID(pid))) is not None
        }

        assert (await delete_me(w.resident)).status_code == 204

        assert await session.get(Photo, uuid.UUID(used), populate_existing=True) is not None
        assert await session.get(Photo, uuid.UUID(loose), populate_existing=True) is None
        for key in files[used]:
            assert await storage.get(key)
        for key in files[loose]:
            with pytest.raises(StoredObjectMissing):
                await storage.get(key)

    async def test_a_retry_with_the_same_token_is_204_again(self, session, w, delete_me, auth) -> None:  # type: ignore[no-untyped-def]
        headers = auth(w.resident)
        assert (await delete_me(w.resident, headers=headers)).status_code == 204
        assert (await delete_me(w.resident, headers=headers)).status_code == 204
        logged = await count(
            session,
            AuditLog,
            AuditLog.subject_user_id == w.resident.id,
            AuditLog.action == AuditAction.ACCOUNT_DELETED,
        )
        assert logged == 1

    async def test_a_retry_after_the_token_expired_is_401(self, clock, w, delete_me, auth) -> None:  # type: ignore[no-untyped-def]
        headers = auth(w.resident)
        assert (await delete_me(w.resident, headers=headers)).status_code == 204
        clock.advance(timedelta(hours=1))
        r = await delete_me(w.resident, headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "auth.token_expired")

    async def test_a_deactivated_account_that_was_not_deleted_is_still_refused(  # type: ignore[no-untyped-def]
        self, session, w, delete_me, auth
    ) -> None:
        headers = auth(w.resident)
        user = await session.get(User, w.resident.id)
        user.token_version += 1  # logged out everywhere by staff, say
        await session.commit()
        r = await delete_me(w.resident, headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "auth.token_invalid")

    async def test_other_accounts_are_untouched(self, client, auth, session, w, delete_me) -> None:  # type: ignore[no-untyped-def]
        assert (await delete_me(w.resident)).status_code == 204
        assert (await client.get(ME, headers=auth(w.neighbour))).status_code == 200
        neighbour = await session.get(User, w.neighbour.id, populate_existing=True)
        assert neighbour.phone == "13811112222"


class TestWhoMayDelete:
    @pytest.mark.parametrize("who", ["worker", "c1_admin", "dept_staff", "superadmin"])
    async def test_staff_accounts_are_closed_by_their_admins(self, session, w, delete_me, who) -> None:  # type: ignore[no-untyped-def]
        user = getattr(w, who)
        r = await delete_me(user)
        assert (r.status_code, r.json()["code"]) == (409, "privacy.staff_account")
        assert (await session.get(User, user.id, populate_existing=True)).is_active is True

    async def test_a_resident_who_also_teaches_is_staff(self, session, w, delete_me) -> None:  # type: ignore[no-untyped-def]
        teacher = await make_user(session, Role.RESIDENT, (Role.TEACHER, w.c1), home=w.c1)
        await session.commit()
        r = await delete_me(teacher)
        assert (r.status_code, r.json()["code"]) == (409, "privacy.staff_account")

    async def test_an_account_without_any_role_may_delete(self, session, w, delete_me) -> None:  # type: ignore[no-untyped-def]
        plain = await make_user(session, home=w.c1)
        await session.commit()
        assert (await delete_me(plain)).status_code == 204


class TestConfirmation:
    @pytest.mark.parametrize(
        "body", [{"confirm": "delete"}, {"confirm": ""}, {}, None, {"confirm": "注销", "x": 1}]
    )
    async def test_without_the_confirmation_word_nothing_happens(self, session, w, delete_me, body) -> None:  # type: ignore[no-untyped-def]
        r = await delete_me(w.resident, body=body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "request.invalid"
        user = await session.get(User, w.resident.id, populate_existing=True)
        assert user.is_active is True and user.phone == "13912345678"

    async def test_without_a_token_it_is_401(self, client, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.request("DELETE", ME, json=CONFIRM)
        assert (r.status_code, r.json()["code"]) == (401, "auth.token_missing")
