"""GET /api/v1/public/tickets: the anonymised 问题清单 of a community."""

import uuid
from datetime import timedelta

import pytest

from app.auth.permissions import mask_address
from app.media.models import Photo
from app.ticket.models import TicketPhoto
from app.ticket.state import TicketStatus
from tests.ticket.test_kpi import make_ticket

URL = "/api/v1/public/tickets"
S = TicketStatus
ADDRESS = "西一路小区3号楼2单元501"


async def add_photo(session, ticket, owner, kind: str = "report", position: int = 0) -> Photo:  # type: ignore[no-untyped-def]
    photo = Photo(
        owner_id=owner.id,
        content_type="image/jpeg",
        source_format="jpeg",
        width=100,
        height=80,
        size_bytes=1234,
        sha256=uuid.uuid4().hex * 2,
        storage_key=f"p/{uuid.uuid4().hex}",
        thumb_key=f"t/{uuid.uuid4().hex}",
        uploaded_at=ticket.submitted_at,
    )
    session.add(photo)
    await session.flush()
    session.add(TicketPhoto(ticket_id=ticket.id, photo_id=photo.id, kind=kind, position=position))
    await session.flush()
    return photo


@pytest.fixture
async def board(session, w, clock):  # type: ignore[no-untyped-def]
    now, day = clock.now(), timedelta(days=1)
    made = {
        "open": await make_ticket(
            session, w, now=now, ago=timedelta(hours=1), status=S.CLAIMED, response=60, responder=w.worker,
            assignee=w.worker, address=ADDRESS, lat=34.27234, lng=108.95267,
            description="井盖破损，请联系我 13912345678", on_behalf_name="刘奶奶",
            on_behalf_phone="13611112222",
        ),
        "closed": await make_ticket(
            session, w, now=now, ago=2 * day, status=S.CLOSED, response=120, responder=w.worker,
            assignee=w.worker, resolved_after=timedelta(hours=3), rating=5, address=ADDRESS,
            photos_public=True,
        ),
        "private_photos": await make_ticket(session, w, now=now, ago=3 * day, address=ADDRESS),
        "rejected": await make_ticket(session, w, now=now, ago=day, status=S.REJECTED),
        "merged": await make_ticket(session, w, now=now, ago=day, status=S.MERGED),
        "c2": await make_ticket(session, w, now=now, ago=day, community=w.c2, grid="g2"),
    }  # fmt: skip
    await add_photo(session, made["closed"], w.resident)
    await add_photo(session, made["closed"], w.worker, kind="after", position=1)
    await add_photo(session, made["private_photos"], w.resident)
    await session.commit()
    return made


class TestBoard:
    async def test_any_logged_in_user_sees_the_communitys_public_tickets(
        self, client, auth, w, board
    ) -> None:
        r = await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        assert r.status_code == 200, r.text
        numbers = [t["number"] for t in r.json()["items"]]
        # Newest first; rejected, merged and other communities' tickets are not on the board.
        assert numbers == [board[k].number for k in ("open", "closed", "private_photos")]

    async def test_no_reporter_handler_phone_or_exact_address(self, client, auth, w, board) -> None:
        r = await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        text = r.text
        for secret in (
            ADDRESS, w.resident.display_name, w.resident.phone, str(w.resident.id), str(w.worker.id),
            w.worker.display_name, "13611112222", "刘奶奶", "13912345678",
        ):  # fmt: skip
            assert secret not in text, secret
        item = r.json()["items"][0]
        assert not {"reporter", "assignee", "assignee_id", "on_behalf", "timeline"} & set(item)
        assert item["address"] == mask_address(ADDRESS)
        assert item["description"] == "井盖破损，请联系我 139****5678"

    async def test_location_is_rounded_to_about_100_metres(self, client, auth, w, board) -> None:
        r = await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        item = r.json()["items"][0]
        assert item["location"] == {"lat": 34.272, "lng": 108.953, "coord_system": "wgs84"}

    async def test_photos_only_when_staff_approved_them(self, client, auth, w, board) -> None:
        r = await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        items = {t["number"]: t for t in r.json()["items"]}
        closed = items[board["closed"].number]
        assert len(closed["photos"]) == 1 and len(closed["after_photos"]) == 1
        assert closed["photos"][0]["url"].startswith("/media/")
        hidden = items[board["private_photos"].number]
        assert hidden["photos"] == [] and hidden["after_photos"] == []

    async def test_staff_approval_through_the_api_shows_the_photos(self, client, auth, w, board) -> None:
        tid = board["private_photos"].id
        r = await client.post(
            f"/api/v1/tickets/{tid}/photos-public", json={"photos_public": True}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200, r.text
        r = await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        items = {t["number"]: t for t in r.json()["items"]}
        assert len(items[board["private_photos"].number]["photos"]) == 1

    async def test_outcome_fields_are_public(self, client, auth, w, board) -> None:
        r = await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        closed = {t["number"]: t for t in r.json()["items"]}[board["closed"].number]
        assert (
            closed["status"] == "closed" and closed["rating"] == 5 and closed["category_name"] == "设施损坏"
        )
        assert closed["responded_at"] is not None and closed["resolved_at"] is not None
        assert closed["response_overdue"] is False and closed["resolve_overdue"] is False

    async def test_a_report_made_through_the_api_appears_anonymised(self, client, auth, w, report) -> None:
        r = await report(address="西一路小区5号楼1单元202")
        assert r.status_code == 201, r.text
        items = (
            await client.get(URL, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        ).json()["items"]
        assert len(items) == 1
        assert items[0]["address"] == mask_address("西一路小区5号楼1单元202")
        assert items[0]["location"] == {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


class TestFiltersAndPages:
    async def test_status_filter(self, client, auth, w, board) -> None:
        params = {"community_id": str(w.c1.id), "status": ["closed", "submitted"]}
        r = await client.get(URL, params=params, headers=auth(w.resident))
        assert [t["number"] for t in r.json()["items"]] == [
            board["closed"].number,
            board["private_photos"].number,
        ]

    async def test_asking_for_rejected_tickets_gives_nothing(self, client, auth, w, board) -> None:
        params = {"community_id": str(w.c1.id), "status": "rejected"}
        r = await client.get(URL, params=params, headers=auth(w.resident))
        assert r.status_code == 200 and r.json()["items"] == []

    async def test_cursor_walks_every_page_once(self, client, auth, w, board) -> None:
        seen, cursor = [], None
        while True:
            params = {"community_id": str(w.c1.id), "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(URL, params=params, headers=auth(w.resident))).json()
            seen += [t["number"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [board[k].number for k in ("open", "closed", "private_photos")]

    async def test_bad_cursor_is_a_clear_error(self, client, auth, w) -> None:
        params = {"community_id": str(w.c1.id), "cursor": "not-a-cursor"}
        r = await client.get(URL, params=params, headers=auth(w.resident))
        assert r.status_code == 422 and r.json()["code"] == "request.invalid_cursor"


class TestAccess:
    async def test_login_is_required(self, client, w) -> None:
        assert (await client.get(URL, params={"community_id": str(w.c1.id)})).status_code == 401

    async def test_unknown_community_is_404(self, client, auth, w) -> None:
        r = await client.get(URL, params={"community_id": str(uuid.uuid4())}, headers=auth(w.resident))
        assert r.status_code == 404 and r.json()["code"] == "org.community_not_found"

    async def test_community_is_required(self, client, auth, w) -> None:
        assert (await client.get(URL, headers=auth(w.resident))).status_code == 422
