"""The request list: the 90-day window, the 1000 cap and pages, filters, jurisdiction, privacy
(the rules of the public board), and what a partner's own key adds."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from app.auth.permissions import mask_address
from app.org import geo
from app.ticket.models import Ticket, TicketEvent
from app.ticket.state import TicketStatus
from tests.open311.conftest import BASE
from tests.ticket.test_kpi import make_ticket
from tests.ticket.test_public import add_photo

S = TicketStatus
URL = f"{BASE}/requests.json"
ADDRESS = "西一路小区3号楼2单元501"


async def numbers(client, **params) -> list[str]:  # type: ignore[no-untyped-def]
    r = await client.get(URL, params=params)
    assert r.status_code == 200, r.text
    return [x["service_request_id"] for x in r.json()]


class TestWindowAndPages:
    async def test_default_window_is_the_last_90_days(self, client, session, w, clock) -> None:  # type: ignore[no-untyped-def]
        now = clock.now()
        inside = await make_ticket(session, w, now=now, ago=timedelta(days=89, hours=23))
        outside = await make_ticket(session, w, now=now, ago=timedelta(days=90, minutes=1))
        await session.commit()
        assert await numbers(client) == [inside.number]
        # Either bound alone gives 90 days from it.
        start = (now - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert await numbers(client, start_date=start) == [inside.number, outside.number]
        end = (now - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert await numbers(client, end_date=end) == [outside.number]
        # An offset (its '+' left unescaped by a careless client) and a bare date are understood:
        # the report 90 days and a minute ago was at 2026-08-24T01:59Z.
        for start, end in (
            ("2026-08-24T08:00:00+08:00", "2026-08-24T10:00:00+08:00"),
            ("2026-08-24T08:00:00 08:00", "2026-08-24T10:00:00 08:00"),
            ("2026-08-24", "2026-08-24T02:30:00Z"),
        ):
            assert await numbers(client, start_date=start, end_date=end) == [outside.number], start

    @pytest.mark.parametrize(
        ("start", "end"),
        [("2026-01-01T00:00:00Z", "2026-04-02T00:00:00Z"), ("2026-05-01T00:00:00Z", "2026-04-01T00:00:00Z")],
    )
    async def test_windows_over_90_days_or_reversed_are_refused(self, client, start, end) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(URL, params={"start_date": start, "end_date": end})
        assert r.status_code == 400 and r.json()[0]["code"] == 400

    async def test_at_most_1000_rows_and_pages(self, client, session, w, clock) -> None:  # type: ignore[no-untyped-def]
        now = clock.now()
        made = [await make_ticket(session, w, now=now, ago=timedelta(minutes=i + 1)) for i in range(1001)]
        await session.commit()
        newest_first = [t.number for t in made]
        assert await numbers(client) == newest_first[:1000]
        assert await numbers(client, page=2) == newest_first[1000:]
        pages = [await numbers(client, page=p, page_size=400) for p in (1, 2, 3, 4)]
        assert [len(p) for p in pages] == [400, 400, 201, 0]
        assert [n for page in pages for n in page] == newest_first


class TestFilters:
    async def test_status_service_code_and_ids(self, client, session, w, clock) -> None:  # type: ignore[no-untyped-def]
        now = clock.now()
        a = await make_ticket(session, w, now=now, ago=timedelta(hours=1))
        b = await make_ticket(session, w, now=now, ago=timedelta(hours=2), status=S.CLOSED)
        old = await make_ticket(session, w, now=now, ago=timedelta(days=200), status=S.RESOLVED)
        await session.commit()
        assert await numbers(client, status="open") == [a.number]
        assert await numbers(client, status="closed") == [b.number]
        assert await numbers(client, status="open,closed") == [a.number, b.number]
        assert await numbers(client, status="fixed") == [b.number]  # an extended status
        assert await numbers(client, service_code=str(w.other_category.id)) == []
        assert await numbers(client, service_code=f"{w.other_category.id},{w.category.id}") == [
            a.number,
            b.number,
        ]
        # service_request_id overrides the other filters, the 90-day window included.
        assert await numbers(client, service_request_id=f"{old.number}, {a.number}", status="closed") == [
            a.number,
            old.number,
        ]

    async def test_jurisdiction(self, client, session, w, clock) -> None:  # type: ignore[no-untyped-def]
        now = clock.now()
        s1 = await make_ticket(session, w, now=now, ago=timedelta(hours=1))
        s2 = await make_ticket(session, w, now=now, ago=timedelta(hours=2), community=w.c3, grid="g3")
        await session.commit()
        assert await numbers(client, jurisdiction_id=str(w.s1.id)) == [s1.number]
        assert await numbers(client, jurisdiction_id=w.s2.code) == [s2.number]
        r = await client.get(URL, params={"jurisdiction_id": "atlantis"})
        assert r.status_code == 404 and r.json()[0]["code"] == 404
        r = await client.get(f"{BASE}/requests/{s2.number}.json", params={"jurisdiction_id": w.s1.code})
        assert r.status_code == 404
        r = await client.get(f"{BASE}/tokens/{s2.id}.json", params={"jurisdiction_id": w.s1.code})
        assert r.status_code == 404


class TestPrivacy:
    @pytest.fixture
    async def board(self, session, w, clock):  # type: ignore[no-untyped-def]
        now, day = clock.now(), timedelta(days=1)
        made = {
            "open": await make_ticket(
                session, w, now=now, ago=timedelta(hours=1), status=S.CLAIMED, assignee=w.worker,
                address=ADDRESS, lat=34.27234, lng=108.95267, description="井盖破损，请联系我 13912345678",
                on_behalf_name="刘奶奶", on_behalf_phone="13611112222",
            ),
            "public_photos": await make_ticket(session, w, now=now, ago=2 * day, photos_public=True),
            "private_photos": await make_ticket(session, w, now=now, ago=3 * day),
            "rejected": await make_ticket(session, w, now=now, ago=day, status=S.REJECTED),
            "merged": await make_ticket(session, w, now=now, ago=day, status=S.MERGED),
            "held": await make_ticket(session, w, now=now, ago=day, moderation="held"),
        }  # fmt: skip
        made["photo"] = await add_photo(session, made["public_photos"], w.resident)
        risky = await add_photo(session, made["public_photos"], w.resident, position=0)
        risky.check_status = "risky"  # quarantined: never public, even first in order
        await add_photo(session, made["private_photos"], w.resident)
        await session.commit()
        return made

    async def test_hidden_reports_are_not_listed_nor_found(self, client, board) -> None:  # type: ignore[no-untyped-def]
        listed = await numbers(client)
        assert listed == [board[k].number for k in ("open", "public_photos", "private_photos")]
        for hidden in ("rejected", "merged", "held"):
            t = board[hidden]
            assert (await client.get(f"{BASE}/requests/{t.number}.json")).status_code == 404
            assert (await client.get(f"{BASE}/tokens/{t.id}.xml")).status_code == 404
            assert await numbers(client, service_request_id=t.number) == []

    async def test_no_personal_data(self, client, board, w) -> None:  # type: ignore[no-untyped-def]
        for fmt in ("json", "xml"):
            for url in (f"{BASE}/requests.{fmt}", f"{BASE}/servicerequestupdates.{fmt}"):
                text = (await client.get(url)).text
                for secret in (
                    ADDRESS, "13912345678", "13611112222", "刘奶奶", w.resident.display_name,
                    w.resident.phone, str(w.resident.id), w.worker.display_name, w.worker.phone,
                    str(w.worker.id),
                ):  # fmt: skip
                    assert secret not in text, (url, secret)
        item = (await client.get(f"{BASE}/requests/{board['open'].number}.json")).json()[0]
        assert item["description"] == "井盖破损，请联系我 139****5678"
        assert item["address"] == mask_address(ADDRESS)
        assert (item["lat"], item["long"]) == (34.272, 108.953)  # about 100 m
        assert item["extended_status"] == "investigating"

    async def test_photos_only_when_public_and_passed(self, client, board, settings, clock) -> None:  # type: ignore[no-untyped-def]
        items = {x["service_request_id"]: x for x in (await client.get(URL)).json()}
        url = items[board["public_photos"].number]["media_url"]
        assert url.startswith(f"http://test/media/{board['photo'].id}/full.jpg?exp=")
        assert items[board["private_photos"].number]["media_url"] is None
        r = await client.get(url.removeprefix("http://test"))
        # The signature is valid (a bad one is 403 photo.link_invalid); the test storage holds no bytes.
        assert (r.status_code, r.json()["code"]) == (404, "photo.not_found")

    async def test_a_partner_sees_its_own_reports_whatever_their_status(
        self, client, post_request, partner, session, w
    ) -> None:  # type: ignore[no-untyped-def]
        created = (await post_request()).json()[0]
        await session.execute(
            update(Ticket).where(Ticket.number == created["service_request_id"]).values(status=S.REJECTED)
        )
        await session.commit()
        url = f"{BASE}/requests/{created['service_request_id']}.json"
        assert (await client.get(url)).status_code == 404  # the public no longer sees it
        r = await client.get(url, params={"api_key": partner.key})
        assert r.status_code == 200
        assert (r.json()[0]["status"], r.json()[0]["extended_status"]) == (
            "closed",
            "not_councils_responsibility",
        )
        assert await numbers(client, api_key=partner.key) == [created["service_request_id"]]
        # A wrong key on a read method is refused, not ignored.
        r = await client.get(url, params={"api_key": "o311_nope"})
        assert r.status_code == 403 and r.json()[0]["code"] == 403


class TestFiling:
    async def test_on_behalf_fields_are_stored_and_never_shown(self, client, post_request, session) -> None:  # type: ignore[no-untyped-def]
        r = await post_request(
            "xml",
            first_name="奶奶",
            last_name="刘",
            phone="13611112222",
            email="liu@example.cn",
            media_url="https://partner.example.cn/p/1.jpg",
            **{"attribute[consent_note]": "刘奶奶来电，同意由热线代为上报"},
        )
        assert r.status_code == 201, r.text
        ticket = await session.scalar(select(Ticket).order_by(Ticket.submitted_at.desc()).limit(1))
        assert (ticket.on_behalf_name, ticket.on_behalf_phone) == ("刘奶奶", "13611112222")
        assert ticket.consent_note == "刘奶奶来电，同意由热线代为上报"
        event = await session.scalar(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "open311")
        )
        assert event.data["media_url"] == "https://partner.example.cn/p/1.jpg"
        assert event.data["partner"] == "12345 热线"
        assert "liu@example.cn" not in str(event.data)  # e-mail is not kept
        text = (await client.get(f"{BASE}/requests.xml")).text + (await client.get(URL)).text
        for secret in ("刘奶奶", "13611112222", "liu@example.cn", "partner.example.cn"):
            assert secret not in text

    async def test_default_consent_note(self, post_request, session) -> None:  # type: ignore[no-untyped-def]
        assert (await post_request(first_name="Ann", last_name="Lee")).status_code == 201
        ticket = await session.scalar(select(Ticket).order_by(Ticket.submitted_at.desc()).limit(1))
        assert ticket.on_behalf_name == "Ann Lee" and ticket.on_behalf_phone is None
        assert ticket.consent_note == "居民通过12345 热线反映问题（Open311 接入）"

    async def test_address_only_goes_to_the_partners_community_duty_queue(
        self, client, issue, w, session
    ) -> None:  # type: ignore[no-untyped-def]
        partner = await issue(community_id=str(w.c2.id))
        form = {
            "api_key": partner.key,
            "service_code": str(w.category.id),
            "description": "楼道灯坏了",
            "address_string": "东二路小区7号楼",
        }
        r = await client.post(f"{BASE}/requests.json", data=form)
        assert r.status_code == 201, r.text
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == r.json()[0]["service_request_id"])
        )
        assert (ticket.community_id, ticket.grid_id, ticket.routed_by) == (w.c2.id, None, "duty_queue")
        assert ticket.address == "东二路小区7号楼" and ticket.lat is None

    async def test_gcj02_coordinates_with_the_attribute(self, post_request, session, w) -> None:  # type: ignore[no-untyped-def]
        lat, lng = geo.from_wgs84(34.2705, 108.9505, geo.CoordSystem.GCJ02)  # just inside G1's corner
        r = await post_request(lat=str(lat), long=str(lng), **{"attribute[coord_system]": "gcj02"})
        assert r.status_code == 201, r.text
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == r.json()[0]["service_request_id"])
        )
        assert ticket.grid_id == w.g1.id and ticket.routed_by == "grid"
        assert abs(ticket.lat - 34.2705) < 1e-5 and abs(ticket.lng - 108.9505) < 1e-5  # stored in WGS-84


@pytest.mark.parametrize("escaped", [True, False], ids=["percent-escaped", "raw-utf8"])
async def test_form_text_is_read_as_utf8_escaped_or_not(client, partner, w, session, escaped: bool) -> None:  # type: ignore[no-untyped-def]
    """curl -d and some partner systems send the characters unescaped; both must arrive intact."""
    form = {
        "api_key": partner.key,
        "service_code": str(w.category.id),
        "description": "路灯不亮了，晚上很黑",
        "lat": "34.2705",
        "long": "108.949",
    }
    body = (
        urlencode(form).encode()
        if escaped
        else "&".join(f"{k}={v}" for k, v in form.items()).replace("，", "%EF%BC%8C").encode()
    )
    r = await client.post(URL, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201, r.text
    ticket = await session.scalar(select(Ticket).where(Ticket.number == r.json()[0]["service_request_id"]))
    assert ticket.description == "路灯不亮了，晚上很黑"
