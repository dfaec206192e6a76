"""The in-app inbox: newest first with cursor pagination, the unread filter and count, marking
read (idempotent, own notifications only) and read-all."""

import uuid
from datetime import timedelta
from typing import Any

import pytest

from app.notification.service import notify

INBOX = "/api/v1/notifications"


@pytest.fixture
def inbox(session, clock):  # type: ignore[no-untyped-def]
    async def _fill(user, n: int, kind: str = "ticket.new") -> list[str]:  # type: ignore[no-untyped-def]
        """n notifications for user, one minute apart (oldest first); returns their titles."""
        titles = []
        for i in range(n):
            title = f"通知{i}"
            await notify(session, user_ids=[user.id], kind=kind, title=title, now=clock.now())
            titles.append(title)
            clock.advance(timedelta(minutes=1))
        await session.commit()
        return titles

    return _fill


async def page_all(client, headers, **params: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    items, cursor = [], None
    while True:
        r = await client.get(
            INBOX, headers=headers, params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


class TestListing:
    async def test_newest_first_across_pages(self, client, auth, w, inbox) -> None:
        titles = await inbox(w.worker, 5)
        await inbox(w.resident, 2)
        r = await client.get(INBOX, headers=auth(w.worker), params={"limit": 2})
        body = r.json()
        assert [n["title"] for n in body["items"]] == ["通知4", "通知3"]
        assert body["next_cursor"] and body["unread_count"] == 5
        items = await page_all(client, auth(w.worker), limit=2)
        assert [n["title"] for n in items] == list(reversed(titles))
        assert {n["kind"] for n in items} == {"ticket.new"} and all(n["read_at"] is None for n in items)

    async def test_notifications_of_one_moment_page_without_gaps_or_repeats(
        self, client, auth, w, session, clock
    ) -> None:
        for i in range(7):
            await notify(session, user_ids=[w.worker.id], kind="k", title=f"n{i}", now=clock.now())
        await session.commit()
        items = await page_all(client, auth(w.worker), limit=3)
        assert sorted(n["title"] for n in items) == [f"n{i}" for i in range(7)]

    async def test_unread_filter_and_count(self, client, auth, w, inbox) -> None:
        await inbox(w.worker, 3)
        newest = (await client.get(INBOX, headers=auth(w.worker))).json()["items"][0]
        assert (await client.post(f"{INBOX}/{newest['id']}/read", headers=auth(w.worker))).status_code == 200
        body = (await client.get(INBOX, headers=auth(w.worker), params={"unread": "true"})).json()
        assert [n["title"] for n in body["items"]] == ["通知1", "通知0"]
        assert body["unread_count"] == 2
        assert len((await client.get(INBOX, headers=auth(w.worker))).json()["items"]) == 3

    async def test_a_bad_cursor_is_refused(self, client, auth, w) -> None:
        r = await client.get(INBOX, headers=auth(w.worker), params={"cursor": "nonsense"})
        assert r.status_code == 422 and r.json()["code"] == "request.invalid_cursor"

    async def test_login_is_required(self, client, w) -> None:
        assert (await client.get(INBOX)).status_code == 401


class TestMarkingRead:
    async def test_read_is_idempotent_and_keeps_the_first_time(self, client, auth, w, inbox, clock) -> None:
        await inbox(w.worker, 1)
        note = (await client.get(INBOX, headers=auth(w.worker))).json()["items"][0]
        first = (await client.post(f"{INBOX}/{note['id']}/read", headers=auth(w.worker))).json()
        assert first["read_at"] is not None
        clock.advance(timedelta(hours=1))
        again = await client.post(f"{INBOX}/{note['id']}/read", headers=auth(w.worker))
        assert again.status_code == 200 and again.json()["read_at"] == first["read_at"]

    async def test_someone_elses_notification_is_not_found(self, client, auth, w, inbox) -> None:
        await inbox(w.worker, 1)
        note = (await client.get(INBOX, headers=auth(w.worker))).json()["items"][0]
        for path in (f"{INBOX}/{note['id']}/read", f"{INBOX}/{uuid.uuid4()}/read"):
            r = await client.post(path, headers=auth(w.resident))
            assert r.status_code == 404 and r.json()["code"] == "notification.not_found"
        still = (await client.get(INBOX, headers=auth(w.worker))).json()["items"][0]
        assert still["read_at"] is None

    async def test_read_all_marks_only_mine(self, client, auth, w, inbox) -> None:
        await inbox(w.worker, 4)
        await inbox(w.resident, 2)
        r = await client.post(f"{INBOX}/read-all", headers=auth(w.worker))
        assert r.status_code == 200 and r.json() == {"updated": 4}
        assert (await client.post(f"{INBOX}/read-all", headers=auth(w.worker))).json() == {"updated": 0}
        assert (await client.get(INBOX, headers=auth(w.worker))).json()["unread_count"] == 0
        assert (await client.get(INBOX, headers=auth(w.resident))).json()["unread_count"] == 2


class TestFromTickets:
    async def test_a_report_lands_in_the_grid_workers_inbox(self, client, auth, w, session) -> None:
        from tests.factories import make_category

        category = await make_category(session, w.s1)
        await session.commit()
        body = {
            "category_id": str(category.id),
            "description": "垃圾桶满了",
            "location": {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"},
        }
        ticket = (await client.post("/api/v1/tickets", json=body, headers=auth(w.resident))).json()
        [note] = (await client.get(INBOX, headers=auth(w.worker))).json()["items"]
        assert (note["kind"], note["ticket_id"]) == ("ticket.new", ticket["id"])
        assert note["data"]["number"] == ticket["number"]
        assert (await client.get(INBOX, headers=auth(w.resident))).json()["items"] == []
