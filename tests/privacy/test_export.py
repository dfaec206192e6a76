"""GET /me/export: everything held about the caller, and nothing of anyone else's."""

from datetime import UTC, datetime, timedelta

from app.user.models import UserIdentity
from app.wechat.models import SubscriptionCredit
from tests.privacy.conftest import IN_G1, TICKETS, make_class, make_signup

EXPORT = "/api/v1/me/export"
MOTHER_PHONE = "13600009999"


class TestResidentExport:
    async def test_a_resident_downloads_their_own_data_and_nobody_elses(  # type: ignore[no-untyped-def]
        self, client, auth, session, clock, w, report, act, upload
    ) -> None:
        session.add(UserIdentity(user_id=w.resident.id, provider="wechat_mp", subject="ok:resident"))
        session.add(
            SubscriptionCredit(
                user_id=w.resident.id,
                template_id="dev-ticket.claimed",
                credits=1,
                accepted_total=2,
                sent_total=1,
                updated_at=clock.now(),
            )
        )
        cls = await make_class(session, w, at=clock.now() + timedelta(days=2))
        await make_signup(session, cls, by=w.resident, learner=w.resident)
        await make_signup(session, cls, by=w.resident, name="母亲", phone=MOTHER_PHONE)
        await make_signup(session, cls, by=w.neighbour, learner=w.neighbour)
        await session.commit()

        photo = await upload(w.resident)
        t = await report(w.resident, photo_ids=[photo])
        r = await client.post(f"{TICKETS}/{t['id']}/support", headers=auth(w.neighbour))
        assert r.status_code == 200, r.text
        await act(t["id"], "claim", w.worker, {"note": "马上到"})
        await report(w.neighbour, description="路灯不亮，请打13811112222")
        r = await client.post(
            "/api/v1/repairs/orders",
            json={"category": "plumbing", "description": "厨房水龙头一直滴水"},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]

        r = await client.get(EXPORT, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["content-disposition"] == 'attachment; filename="linli-export-2026-11-22.json"'
        data = r.json()

        profile = data["profile"]
        assert (profile["display_name"], profile["phone"]) == ("居民甲", "13912345678")
        assert profile["address"] == "西一路小区1号楼2单元301"
        assert profile["care_category"] == "living_alone"
        assert profile["home_community_id"] == str(w.c1.id)
        assert [g["role"] for g in profile["roles"]] == ["resident"]
        assert [i["openid"] for i in data["wechat"]] == ["ok:resident"]

        [ticket] = data["tickets"]
        assert (ticket["id"], ticket["status"]) == (t["id"], "claimed")
        assert ticket["photo_ids"] == [photo]
        assert [e["action"] for e in ticket["timeline"]] == ["create"]  # not the +1, not the claim
        assert data["supported_tickets"] == []

        [order] = data["repair_orders"]
        assert (order["id"], order["role"]) == (order_id, "resident")
        assert (order["contact_phone"], order["care_category"]) == ("13912345678", "living_alone")
        assert [e["action"] for e in order["timeline"]] == ["create"]

        assert data["learner"]["phone"] == "13912345678"
        assert sorted(s["for_self"] for s in data["course_signups"]) == [False, True]
        assert "ticket.claimed" in [n["kind"] for n in data["notifications"]]
        assert [c["template_id"] for c in data["subscription_credits"]] == ["dev-ticket.claimed"]
        [p] = data["photos"]
        assert p["id"] == photo and p["url"].startswith(f"/media/{photo}/full.jpg?exp=")
        assert data["photo_links_expire_at"] == p["urls_expire_at"]
        assert data["duty"] is None

        # The neighbour's phone, name and openid (the +1, their own report and signup), the grid
        # worker's phone (the claim), the mother's phone (signed up by the resident): none of it.
        for other in ("13811112222", "邻居丙", "ok:nb", "13700001111", MOTHER_PHONE, "13987654321"):
            assert other not in r.text, other

    async def test_the_support_given_to_someone_elses_report_is_listed_without_its_content(  # type: ignore[no-untyped-def]
        self, client, auth, w, report
    ) -> None:
        t = await report(w.neighbour, description="楼道堆物，联系13811112222")
        r = await client.post(f"{TICKETS}/{t['id']}/support", headers=auth(w.resident))
        assert r.status_code == 200, r.text

        data = (await client.get(EXPORT, headers=auth(w.resident))).json()
        assert [(s["ticket_id"], s["number"]) for s in data["supported_tickets"]] == [(t["id"], t["number"])]
        assert data["tickets"] == []
        assert "13811112222" not in str(data)

    async def test_the_file_is_named_after_the_date_in_china(self, client, auth, clock, w) -> None:  # type: ignore[no-untyped-def]
        clock.set(datetime(2026, 11, 22, 17, 0, tzinfo=UTC))  # 01:00 on the 23rd in Beijing
        r = await client.get(EXPORT, headers=auth(w.resident))
        assert r.headers["content-disposition"] == 'attachment; filename="linli-export-2026-11-23.json"'

    async def test_without_a_token_it_is_401(self, client, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(EXPORT)
        assert r.status_code == 401 and r.json()["code"] == "auth.token_missing"


class TestStaffExport:
    async def test_a_grid_worker_gets_their_roles_duty_and_inbox_with_residents_numbers_masked(  # type: ignore[no-untyped-def]
        self, client, auth, w, report
    ) -> None:
        r = await client.post(
            "/api/v1/workers/me/duty", json={"on_duty": True, **IN_G1}, headers=auth(w.worker)
        )
        assert r.status_code == 200, r.text
        await report(w.resident, description="井盖破损，联系13912345678")

        r = await client.get(EXPORT, headers=auth(w.worker))
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["profile"]["phone"] == "13700001111"
        assert [(g["role"], g["community_id"]) for g in data["profile"]["roles"]] == [
            ("grid_worker", str(w.c1.id))
        ]
        assert data["profile"]["grid_ids"] == [str(w.g1.id)]
        assert data["duty"]["on_duty"] is True
        assert data["duty"]["lat"] is not None
        assert data["tickets"] == [] and data["repair_orders"] == []
        [new] = [n for n in data["notifications"] if n["kind"] == "ticket.new"]
        assert "139****5678" in new["body"]
        assert "13912345678" not in r.text

    async def test_an_administrator_exports_too(self, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(EXPORT, headers=auth(w.sub_admin))
        assert r.status_code == 200, r.text
        assert [g["role"] for g in r.json()["profile"]["roles"]] == ["subdistrict_admin"]
