"""Broken object level authorization (BOLA / IDOR, issue #8): ids are guessable in practice (they
travel in links, notifications, screenshots), so every object must be checked against the caller.

The world is the authorization matrix's (tests/test_authz_matrix.py): 刘奶奶 ("resident", C1,
孤寡, phone 13912345678, address 1号楼2单元301) owns the tickets, photo, repair orders, signups,
help requests and notifications; 孙奶奶 (no account, phone 13811112222) is a learner she signed
up. The outsiders who try their luck with those ids:

* 周大爷 ("neighbour"), another resident of the same community;
* a grid worker of another grid (G1b) of the same community;
* the community admin of another community (C2) of the same subdistrict;
* and, where they have a view of their own, the craftsman, the teacher and department staff.

Each test asserts on status and error code (an object outside one's reach answers exactly like a
missing one: no existence oracle) and on response bodies: no phone number, exact address, care
category or name of the resident reaches anyone who need not know it. Every test runs in a
savepoint that is rolled back.
"""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.test_authz_matrix import API, IN_G1, T0, Env, env, jpeg  # noqa: F401  (env: the fixture)

RESIDENT_PHONE = "13912345678"
RESIDENT_NAME = "刘奶奶"
DOOR = "2单元301"  # the door number in the resident's address
ELDER_PHONE = "13811112222"
CARE = ("living_alone", "孤寡")

OUTSIDERS = ("neighbour", "other_grid_worker", "other_community_admin")


@pytest.fixture
async def e(env: Env) -> AsyncIterator[Env]:  # noqa: F811
    async with env.savepoint():
        yield env


async def call(e: Env, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return await e.client.request(method, f"{API}{path}", headers=e.auth(role), **kw)


async def get(e: Env, role: str, path: str, **kw: Any) -> httpx.Response:
    return await call(e, role, "GET", path, **kw)


def no_personal_data(r: httpx.Response, *, name: bool = True) -> None:
    """Nothing in the body identifies the resident or says how vulnerable she is."""
    text = r.text
    assert RESIDENT_PHONE not in text, text
    assert DOOR not in text, text
    for word in CARE:
        assert word not in text, text
    if name:
        assert RESIDENT_NAME not in text, text


async def same_as_missing(e: Env, role: str, method: str, path: str, real: str, **kw: Any) -> dict:
    """The answer for someone else's object is the answer for an id that does not exist."""
    theirs = await call(e, role, method, path.format(id=real), **kw)
    nothing = await call(e, role, method, path.format(id=uuid.uuid4()), **kw)
    assert theirs.status_code == nothing.status_code == 404, (theirs.text, nothing.text)
    assert theirs.json() == nothing.json()
    return theirs.json()


# --- 随手拍 tickets --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [*OUTSIDERS, "craftsman", "teacher", "department_staff"])
async def test_others_read_a_ticket_only_as_the_public_view(e: Env, role: str) -> None:
    r = await get(e, role, f"/tickets/{e.w.t_new}")
    assert r.status_code == 200
    t = r.json()
    assert t["is_full_view"] is False
    assert t["reporter"] is None and t["on_behalf"] is None and t["building_id"] is None
    assert t["address"].endswith("****")
    assert t["photos"] == [] and "/media/" not in r.text  # photos not made public: not even a link
    assert all(ev["actor"] is None for ev in t["timeline"] if ev["action"] == "create")
    assert round(t["location"]["lat"], 3) == t["location"]["lat"]  # about 100 m, not the spot
    assert e.w.uid("resident") not in r.text
    no_personal_data(r)


async def test_the_grid_worker_sees_the_report_but_only_staff_and_handlers_the_full_phone(e: Env) -> None:
    worker = (await get(e, "worker", f"/tickets/{e.w.t_new}")).json()
    assert worker["is_full_view"] is True and DOOR in worker["address"]
    assert worker["reporter"]["phone"] == "139****5678"
    assert len(worker["photos"]) == 1
    staff = (await get(e, "community_admin", f"/tickets/{e.w.t_new}")).json()
    assert staff["reporter"]["phone"] == RESIDENT_PHONE


async def test_a_report_held_by_the_content_check_is_hidden_like_a_missing_one(e: Env) -> None:
    for role in OUTSIDERS:
        body = await same_as_missing(e, role, "GET", "/tickets/{id}", e.w.t_held)
        assert body["code"] == "ticket.not_found"


@pytest.mark.parametrize("role", OUTSIDERS)
async def test_guessed_ticket_ids_do_not_let_outsiders_act(e: Env, role: str) -> None:
    w = e.w
    attempts = [
        ("claim", w.t_new, None),
        ("assign", w.t_new, {"worker_id": w.uid("worker")}),
        ("arrive", w.t_claimed, IN_G1),
        ("resolve", w.t_claimed, {"note": "已处理"}),
        ("escalate", w.t_claimed, {"department_id": w.dept, "note": "请处理"}),
        ("reject", w.t_claimed, {"reason": "无效"}),
        ("merge", w.t_claimed, {"into_ticket_id": w.t_new}),
        ("recall", w.t_escalated, {}),
        ("confirm", w.t_resolved, {"rating": 1}),
        ("reopen", w.t_resolved, {"reason": "没修好"}),
    ]
    for action, ticket, body in attempts:
        path = "/tickets/{id}/" + action
        answer = await same_as_missing(e, role, "POST", path, ticket, json=body)
        assert answer["code"] == "ticket.not_found", action
    for action, ticket, body in (
        ("photos-public", w.t_new, {"photos_public": True}),
        ("moderation", w.t_held, {"decision": "approve"}),
    ):
        r = await call(e, role, "POST", f"/tickets/{ticket}/{action}", json=body)
        assert r.status_code == 403, (action, r.text)
    states = {
        t: (await get(e, "resident", f"/tickets/{t}")).json() for t in (w.t_new, w.t_claimed, w.t_resolved)
    }
    assert states[w.t_new]["status"] == "submitted" and states[w.t_new]["photos"][0]
    assert states[w.t_claimed]["status"] == "claimed"
    assert states[w.t_resolved]["status"] == "resolved" and states[w.t_resolved]["rating"] is None


async def test_lists_and_exports_keep_to_ones_own_scope(e: Env) -> None:
    w = e.w
    mine = (await get(e, "neighbour", "/tickets", params={"view": "mine"})).json()["items"]
    assert mine == []
    for role, view in (("other_community_admin", "all"), ("other_grid_worker", "queue")):
        r = await get(e, role, "/tickets", params={"view": view, "community_id": w.c1})
        assert r.status_code == 200 and r.json()["items"] == [], (role, r.text)
    exported = await get(e, "other_community_admin", "/tickets/export", params={"format": "csv"})
    assert exported.status_code == 200
    numbers = [t["number"] for t in (await get(e, "resident", "/tickets")).json()["items"]]
    assert numbers and not any(n in exported.text for n in numbers)
    board = await get(e, "neighbour", "/public/tickets", params={"community_id": w.c1})
    assert board.status_code == 200 and board.json()["items"]
    no_personal_data(board)
    assert e.w.uid("resident") not in board.text


async def test_one_cannot_report_or_resolve_with_someone_elses_photo(e: Env) -> None:
    w = e.w
    report = {"category_id": w.category, "description": "井盖破损", "location": IN_G1, "photo_ids": [w.photo]}
    r = await call(e, "neighbour", "POST", "/tickets", json=report)
    assert (r.status_code, r.json()["code"]) == (403, "ticket.photo_not_yours")
    r = await call(
        e, "worker", "POST", f"/tickets/{w.t_claimed}/resolve", json={"note": "好了", "photo_ids": [w.photo]}
    )
    assert (r.status_code, r.json()["code"]) == (403, "ticket.photo_not_yours")
    order = {
        "category": "plumbing",
        "description": "漏水",
        "community_id": w.c1,
        "address": "5号楼",
        "photo_ids": [w.photo],
    }
    r = await call(e, "neighbour", "POST", "/repairs/orders", json=order)
    assert r.status_code == 403, r.text


# --- photos -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role",
    ["neighbour", "worker", "other_grid_worker", "community_admin", "other_community_admin", "craftsman"],
)
async def test_a_photo_record_is_its_uploaders_alone(e: Env, role: str) -> None:
    body = await same_as_missing(e, role, "GET", "/uploads/{id}", e.w.photo)
    assert body["code"] == "photo.not_found"


async def test_signed_photo_links_cannot_be_moved_to_another_photo_variant_or_time(e: Env) -> None:
    w = e.w
    link = (await get(e, "resident", f"/uploads/{w.photo}")).json()["url"]
    path, _, query = link.partition("?")
    ok = await e.client.get(link)  # a capability: <image src> sends no login
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    theirs = await call(
        e, "neighbour", "POST", "/uploads", files={"file": ("b.jpg", jpeg((1, 2, 3)), "image/jpeg")}
    )
    other_photo = theirs.json()["id"]
    params = dict(p.split("=", 1) for p in query.split("&"))
    forged = [
        (path.replace(w.photo, other_photo), params),  # the signature of one photo on another
        (path.replace("/full.jpg", "/thumb.jpg"), params),  # ... or on another variant
        (path, {**params, "exp": str(int(params["exp"]) + 86400)}),  # a longer life
        (path, {**params, "sig": params["sig"][:-2] + ("AA" if not params["sig"].endswith("AA") else "BB")}),
    ]
    for url, query_params in forged:
        r = await e.client.get(url, params=query_params)
        assert (r.status_code, r.json()["code"]) == (403, "photo.link_invalid"), url
    r = await e.client.get(path, params={"exp": params["exp"]})
    assert r.status_code == 422  # no signature at all
    e.clock.set(T0 + timedelta(seconds=int(params["exp"]) - int(T0.timestamp()) + 1))
    r = await e.client.get(link)
    assert (r.status_code, r.json()["code"]) == (403, "photo.link_invalid")  # expired


# --- 乐修匠 repair orders -------------------------------------------------------------------


@pytest.mark.parametrize("role", [*OUTSIDERS, "worker", "teacher", "department_staff"])
async def test_repair_orders_are_hidden_from_everyone_outside_the_job(e: Env, role: str) -> None:
    w = e.w
    for order in (w.o_requested, w.o_accepted, w.o_settled):
        body = await same_as_missing(e, role, "GET", "/repairs/orders/{id}", order)
        assert body["code"] == "repair.order_not_found"
    for action, order, body in (
        ("cancel", w.o_requested, {"reason": "不修了"}),
        ("assign", w.o_requested, {"craftsman_id": w.uid("craftsman")}),
        ("confirm-quote", w.o_quoted, None),
        ("rate", w.o_settled, {"rating": 1}),
    ):
        await same_as_missing(e, role, "POST", "/repairs/orders/{id}/" + action, order, json=body)
    listed = await get(e, role, "/repairs/orders", params={"view": "mine"})
    assert listed.json()["items"] == []
    still = (await get(e, "resident", f"/repairs/orders/{w.o_requested}")).json()
    assert still["status"] == "requested"


async def test_a_craftsman_browsing_the_pool_sees_the_job_not_the_household(e: Env) -> None:
    r = await get(e, "craftsman", f"/repairs/orders/{e.w.o_requested}")
    assert r.status_code == 200
    o = r.json()
    assert o["is_full_view"] is False
    assert o["contact"] is None and o["resident_id"] is None and o["requested_by_id"] is None
    assert o["care_category"] is None and o["address"].endswith("****")
    no_personal_data(r)
    pool = await get(e, "craftsman", "/repairs/orders", params={"view": "open"})
    assert e.w.o_requested in pool.text
    no_personal_data(pool)


async def test_the_assigned_craftsman_gets_the_contact_but_never_the_care_category(e: Env) -> None:
    w = e.w
    accepted = await get(e, "craftsman", f"/repairs/orders/{w.o_accepted}")
    o = accepted.json()
    assert o["contact"]["phone"] == RESIDENT_PHONE and DOOR in o["address"]
    assert o["care_category"] is None and o["subsidy_cents"] is None
    for word in CARE:
        assert word not in accepted.text
    quoted = await get(e, "craftsman", f"/repairs/orders/{w.o_quoted}")
    quote = quoted.json()["quote"]
    assert quote["care_category"] is None
    assert all("孤寡" not in line["rule"] for line in quote["lines"])
    for word in CARE:
        assert word not in quoted.text
    # Once the work is settled the address and phone are no longer the craftsman's business.
    settled = await get(e, "craftsman", f"/repairs/orders/{w.o_settled}")
    assert settled.json()["contact"] is None
    no_personal_data(settled)
    # The household and the community's staff see it all.
    for role in ("resident", "community_admin"):
        full = (await get(e, role, f"/repairs/orders/{w.o_quoted}")).json()
        assert full["care_category"] == "living_alone" and full["contact"]["phone"] == RESIDENT_PHONE


async def test_staff_enter_phone_orders_only_for_residents_of_their_own_communities(e: Env) -> None:
    w = e.w
    base = {"category": "plumbing", "description": "水管漏水", "address": "1号楼"}
    for_her = {"for_resident": {"resident_id": w.uid("resident")}}
    r = await call(
        e, "other_community_admin", "POST", "/repairs/orders", json={**base, **for_her, "community_id": w.c1}
    )
    assert (r.status_code, r.json()["code"]) == (403, "repair.scope_forbidden")
    r = await call(
        e, "other_community_admin", "POST", "/repairs/orders", json={**base, **for_her, "community_id": w.c2}
    )
    assert r.status_code == 422  # she does not live in C2
    no_personal_data(r)
    r = await call(e, "neighbour", "POST", "/repairs/orders", json={**base, **for_her, "community_id": w.c1})
    assert r.status_code == 403
    no_personal_data(r)


# --- 菜鸟学堂 signups, learners, help requests ----------------------------------------------


@pytest.mark.parametrize("role", [*OUTSIDERS, "worker", "craftsman", "department_staff"])
async def test_signups_and_learners_are_hidden_from_outsiders(e: Env, role: str) -> None:
    w = e.w
    for signup in (w.su_resident, w.su_proxy):
        body = await same_as_missing(e, role, "GET", "/courses/signups/{id}", signup)
        assert body["code"] == "course.signup_not_found"
        await same_as_missing(e, role, "POST", "/courses/signups/{id}/cancel", signup, json={})
    await same_as_missing(e, role, "GET", "/courses/attendees/{id}/history", w.attendee_proxy)
    still = (await get(e, "resident", f"/courses/signups/{w.su_resident}")).json()
    assert still["status"] == "confirmed"
    mine = await get(e, role, "/courses/signups/mine", params={"upcoming": "false"})
    assert w.su_resident not in mine.text and ELDER_PHONE not in mine.text


@pytest.mark.parametrize("role", ["neighbour", "other_community_admin", "teacher"])
async def test_someone_elses_learner_cannot_be_signed_up_or_asked_for_by_id(e: Env, role: str) -> None:
    w = e.w
    proxy = {"attendee_id": w.attendee_proxy, "relationship": "child", "consent": True}
    r = await call(e, role, "POST", f"/courses/sessions/{w.s_open}/signups", json=proxy)
    assert (r.status_code, r.json()["code"]) == (404, "course.attendee_not_found")
    ask = {"topic": "wechat", "description": "想学视频", **proxy}
    r = await call(e, role, "POST", "/courses/help-requests", json=ask)
    assert (r.status_code, r.json()["code"]) == (404, "course.attendee_not_found")
    assert ELDER_PHONE not in r.text


async def test_teachers_see_their_learners_phones_masked_staff_in_full(e: Env) -> None:
    w = e.w
    roster = await get(e, "teacher", f"/courses/sessions/{w.s_future}/signups")
    assert roster.status_code == 200
    elder = next(s for s in roster.json() if s["id"] == w.su_proxy)
    assert elder["attendee"]["phone"] == "138****2222" and elder["signed_up_by_id"] is None
    assert ELDER_PHONE not in roster.text and RESIDENT_PHONE not in roster.text
    staff = (await get(e, "community_admin", f"/courses/sessions/{w.s_future}/signups")).json()
    assert next(s for s in staff if s["id"] == w.su_proxy)["attendee"]["phone"] == ELDER_PHONE
    r = await get(e, "other_community_admin", f"/courses/sessions/{w.s_future}/signups")
    assert r.status_code == 403
    r = await get(e, "other_community_admin", "/courses/attendees", params={"community_id": w.c1})
    assert r.status_code == 403 and ELDER_PHONE not in r.text


@pytest.mark.parametrize("role", [*OUTSIDERS, "craftsman"])
async def test_help_requests_are_hidden_from_outsiders(e: Env, role: str) -> None:
    w = e.w
    for request in (w.h_open, w.h_claimed):
        body = await same_as_missing(e, role, "GET", "/courses/help-requests/{id}", request)
        assert body["code"] == "course.help_request_not_found"
    await same_as_missing(
        e, role, "POST", "/courses/help-requests/{id}/cancel", w.h_open, json={"reason": "x"}
    )
    await same_as_missing(e, role, "POST", "/courses/help-requests/{id}/claim", w.h_open)
    listed = await get(e, role, "/courses/help-requests", params={"view": "mine"})
    assert listed.json()["items"] == []


async def test_a_volunteer_deciding_whether_to_help_sees_a_masked_phone(e: Env) -> None:
    r = await get(e, "teacher", f"/courses/help-requests/{e.w.h_open}")
    h = r.json()
    assert h["attendee"]["phone"] == "139****5678" and h["requested_by_id"] is None
    assert RESIDENT_PHONE not in r.text


async def test_staff_link_a_learner_only_to_an_account_in_their_scope(e: Env) -> None:
    """A C2 administrator enters a learner in a C2 class, then links that record to 刘奶奶 (C1)."""
    w = e.w
    course = {"community_id": w.c2, "title": "防诈骗", "topics": ["anti_fraud"]}
    cid = (await call(e, "other_community_admin", "POST", "/courses", json=course)).json()["id"]
    start = T0 + timedelta(hours=30)
    slot = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "venue": "C2",
        "capacity": 5,
    }
    sid = (await call(e, "other_community_admin", "POST", f"/courses/{cid}/sessions", json=slot)).json()["id"]
    entered = {"attendee": {"name": "王大爷"}, "relationship": "grid_worker", "consent": True}
    signup = await call(e, "other_community_admin", "POST", f"/courses/sessions/{sid}/signups", json=entered)
    assert signup.status_code == 201, signup.text
    attendee = signup.json()["attendee"]["id"]
    r = await call(
        e,
        "other_community_admin",
        "POST",
        f"/courses/attendees/{attendee}/link",
        json={"user_id": w.uid("resident")},
    )
    assert r.status_code in (403, 404, 422), r.text
    no_personal_data(r, name=False)
    own = (await get(e, "community_admin", "/courses/attendees", params={"community_id": w.c1})).json()
    assert next(a for a in own if a["user_id"] == w.uid("resident"))["phone"] == RESIDENT_PHONE


# --- accounts ---------------------------------------------------------------------------


async def test_accounts_outside_ones_scope_look_missing(e: Env) -> None:
    w = e.w
    body = await same_as_missing(e, "other_community_admin", "GET", "/users/{id}", w.uid("resident"))
    assert body["code"] == "user.not_found"
    await same_as_missing(
        e, "other_community_admin", "PATCH", "/users/{id}", w.uid("resident"), json={"phone": "13000000000"}
    )
    await same_as_missing(
        e,
        "other_community_admin",
        "POST",
        "/users/{id}/roles",
        w.uid("resident"),
        json={"role": "grid_worker", "community_id": w.c2},
    )
    found = await get(e, "other_community_admin", "/users", params={"q": RESIDENT_PHONE})
    assert found.status_code == 200 and found.json()["items"] == []
    everyone = await get(e, "other_community_admin", "/users", params={"limit": 100})
    no_personal_data(everyone)
    for role in ("neighbour", "worker", "other_grid_worker", "craftsman", "teacher", "department_staff"):
        r = await get(e, role, f"/users/{w.uid('resident')}")
        assert (r.status_code, r.json()["code"]) == (403, "auth.staff_only")
        no_personal_data(r)
    me = (await get(e, "resident", "/me")).json()
    assert me["phone"] == RESIDENT_PHONE and "care_category" not in me


async def test_staff_of_the_community_see_the_care_category_others_never(e: Env) -> None:
    w = e.w
    staff = (await get(e, "community_admin", f"/users/{w.uid('resident')}")).json()
    assert staff["care_category"] == "living_alone" and staff["phone"] == RESIDENT_PHONE
    workers = await get(e, "resident", f"/grids/{w.g1}/workers")
    assert workers.json()[0]["phone"] == "137****1111"
    assert "13700001111" in (await get(e, "community_admin", f"/grids/{w.g1}/workers")).text
    assert "13700001111" not in (await get(e, "other_community_admin", f"/grids/{w.g1}/workers")).text


async def test_a_request_cannot_set_what_the_caller_may_not_set(e: Env) -> None:
    """Mass assignment: fields a caller may not set are refused, not silently applied."""
    w = e.w
    for field, value in (
        ("care_category", "low_income"),
        ("is_active", True),
        ("roles", [{"role": "superadmin"}]),
        ("token_version", 0),
        ("username", "liu"),
    ):
        r = await call(e, "resident", "PATCH", "/me", json={field: value})
        assert (r.status_code, r.json()["details"]["errors"][0]["type"]) == (422, "extra_forbidden"), field
    report = {"category_id": w.category, "description": "井盖", "location": IN_G1}
    for field, value in (("status", "closed"), ("assignee_id", w.uid("resident")), ("grid_id", w.g2)):
        r = await call(e, "resident", "POST", "/tickets", json={**report, field: value})
        assert r.status_code == 422, field
    order = {"category": "plumbing", "description": "漏水", "community_id": w.c1, "address": "5号楼"}
    for field, value in (
        ("care_category", "low_income"),
        ("due_cents", 0),
        ("craftsman_id", w.uid("craftsman")),
    ):
        r = await call(e, "neighbour", "POST", "/repairs/orders", json={**order, field: value})
        assert r.status_code == 422, field
    r = await call(
        e, "community_admin", "POST", f"/users/{w.uid('neighbour')}/roles", json={"role": "superadmin"}
    )
    assert (r.status_code, r.json()["code"]) == (403, "user.role_not_grantable")


# --- notifications ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [*OUTSIDERS, "worker", "community_admin", "superadmin"])
async def test_a_notification_is_read_only_by_its_addressee(e: Env, role: str) -> None:
    w = e.w
    body = await same_as_missing(e, role, "POST", "/notifications/{id}/read", w.notification)
    assert body["code"] == "notification.not_found"
    assert (await call(e, role, "POST", "/notifications/read-all")).status_code == 200
    listed = await get(e, role, "/notifications", params={"limit": 100})
    assert w.notification not in listed.text
    unread = (await get(e, "resident", "/notifications", params={"unread": "true", "limit": 100})).json()
    assert w.notification in [n["id"] for n in unread["items"]]


# --- one's own data, and what one's reports show others -------------------------------------


@pytest.mark.parametrize("role", ["neighbour", "worker", "community_admin"])
async def test_the_personal_data_export_holds_only_the_callers_own_data(e: Env, role: str) -> None:
    r = await get(e, role, "/me/export")
    assert r.status_code == 200
    no_personal_data(r)
    assert ELDER_PHONE not in r.text and e.w.uid("resident") not in r.text


async def test_possible_duplicates_shown_to_a_reporter_are_anonymous(e: Env) -> None:
    w = e.w
    report = {"category_id": w.category, "description": "井盖破损", "location": IN_G1}
    r = await call(e, "neighbour", "POST", "/tickets", json=report)
    assert r.status_code == 201
    duplicates = r.json()["possible_duplicates"]
    assert {d["id"] for d in duplicates} >= {w.t_new, w.t_claimed}
    assert all(d["address"].endswith("****") for d in duplicates)
    assert w.t_held not in r.text  # held by the content check: not even as a duplicate
    no_personal_data(r)
    assert w.uid("resident") not in r.text


# --- the WeChat push URL: the only caller without a login ----------------------------------


async def test_a_replayed_push_signature_cannot_erase_a_resident(e: Env) -> None:
    from app.wechat.push_crypto import signature

    old = {"timestamp": "1700000000", "nonce": "seen-in-a-log"}  # November 2023
    query = {**old, "signature": signature("dev-push-token", **old)}
    event = {
        "ToUserName": "gh_linli",
        "FromUserName": "authz-resident",
        "CreateTime": int(T0.timestamp()),
        "MsgType": "event",
        "Event": "user_authorization_cancellation",
        "OpenID": "authz-resident",
    }
    r = await e.client.post(f"{API}/wechat/push", params=query, json=event)
    still = (await get(e, "community_admin", f"/users/{e.w.uid('resident')}")).json()
    assert still["phone"] == RESIDENT_PHONE and still["is_active"] is True
    assert r.status_code == 403, r.text
