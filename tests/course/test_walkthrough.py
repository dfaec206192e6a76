"""One pass through 菜鸟学堂 as its users go: a signup and a waitlist, a cancellation, the
roster, QR check-in, history, a help request done, volunteer hours, stats and the export."""

from datetime import timedelta

from tests.course.conftest import COURSES


async def test_a_class_and_a_help_request_from_signup_to_volunteer_hours(
    client, auth, clock, w, teachers, open_session, sign_up
):
    s = await open_session(capacity=1)
    r = await sign_up(w.resident, s["id"])
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "confirmed"
    r2 = await sign_up(
        w.other_resident, s["id"], attendee={"name": "张奶奶", "phone": "13900000001", "age": 78}
    )
    assert r2.status_code == 201, r2.text
    assert r2.json()["status"] == "waitlisted"
    assert r2.json()["waitlist_position"] == 1
    r = await client.get(COURSES, headers=auth(w.other_resident))
    assert r.status_code == 200, r.text
    item = r.json()["items"][0]
    assert item["seats_left"] == 0 and item["waitlist_length"] == 1
    r = await client.post(
        f"{COURSES}/signups/{r2.json()['id']}/cancel", json={}, headers=auth(w.other_resident)
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"{COURSES}/sessions/{s['id']}/signups", headers=auth(teachers.chen))
    assert r.status_code == 200, r.text
    tok = await client.get(f"{COURSES}/sessions/{s['id']}/checkin-token", headers=auth(teachers.chen))
    assert tok.status_code == 200, tok.text
    clock.advance(timedelta(hours=48))
    tok = await client.get(f"{COURSES}/sessions/{s['id']}/checkin-token", headers=auth(teachers.chen))
    r = await client.post(
        f"{COURSES}/sessions/{s['id']}/check-in",
        json={"token": tok.json()["token"]},
        headers=auth(w.resident),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "attended"
    r = await client.get(f"{COURSES}/me/history", headers=auth(w.resident))
    assert r.status_code == 200, r.text
    assert r.json()["attended"] == 1
    h = await client.post(
        f"{COURSES}/help-requests",
        json={"topic": "hospital_booking", "description": "想学网上挂号", "community_id": str(w.c1.id)},
        headers=auth(w.resident),
    )
    assert h.status_code == 201, h.text
    hid = h.json()["id"]
    r = await client.post(f"{COURSES}/help-requests/{hid}/claim", headers=auth(teachers.li))
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{COURSES}/help-requests/{hid}/complete", json={"minutes": 45}, headers=auth(teachers.li)
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"{COURSES}/volunteer-hours/me", headers=auth(teachers.li))
    assert r.status_code == 200, r.text
    assert r.json()["totals"][0]["minutes"] == 45
    r = await client.get(
        f"{COURSES}/stats", params={"subdistrict_id": str(w.s1.id)}, headers=auth(w.sub_admin)
    )
    assert r.status_code == 200, r.text
    r = await client.get(
        f"{COURSES}/volunteer-hours/export",
        params={"subdistrict_id": str(w.s1.id)},
        headers=auth(w.sub_admin),
    )
    assert r.status_code == 200, r.text
