"""GET /api/v1/stats/response: every figure on a hand-built set of tickets, scopes and access."""

import itertools
from datetime import timedelta
from typing import Any

import pytest

from app.auth.permissions import Role
from app.ticket import service
from app.ticket.models import Ticket
from app.ticket.state import TicketStatus
from tests.factories import make_user
from tests.fakes import FrozenClock

URL = "/api/v1/stats/response"
S = TicketStatus
_numbers = itertools.count(1)


async def make_ticket(
    session: Any,
    w: Any,
    *,
    ago: timedelta,
    now: Any,
    status: TicketStatus = TicketStatus.SUBMITTED,
    community: Any = None,
    grid: Any = "g1",
    response: int | None = None,
    responder: Any = None,
    assignee: Any = None,
    resolved_after: timedelta | None = None,
    rating: int | None = None,
    reopen_count: int = 0,
    escalation_count: int = 0,
    department: Any = None,
    **extra: Any,
) -> Ticket:
    """A ticket row submitted `ago` before `now`, answered `response` seconds after submission."""
    community = community or w.c1
    grid_row = getattr(w, grid) if isinstance(grid, str) else grid
    submitted = now - ago
    t = Ticket(
        number=f"T{next(_numbers):014d}",
        subdistrict_id=community.subdistrict_id,
        community_id=community.id,
        grid_id=grid_row.id if grid_row else None,
        category_id=w.category.id,
        priority=3,
        description=extra.pop("description", "路灯不亮"),
        address=extra.pop("address", "西一路小区3号楼东侧"),
        routed_by="grid",
        reporter_id=extra.pop("reporter", w.resident).id,
        status=status,
        status_changed_at=submitted,
        submitted_at=submitted,
        respond_by=submitted + timedelta(minutes=10),
        resolve_by=submitted + timedelta(hours=72),
        responded_at=submitted + timedelta(seconds=response) if response is not None else None,
        responded_by_id=responder.id if responder else None,
        assignee_id=assignee.id if assignee else None,
        resolved_at=submitted + resolved_after if resolved_after else None,
        closed_at=submitted + resolved_after + timedelta(hours=1)
        if status is S.CLOSED and resolved_after
        else None,
        rating=rating,
        reopen_count=reopen_count,
        escalation_count=escalation_count,
        department_id=department.id if department else None,
        **extra,
    )
    service.refresh_due(t)
    session.add(t)
    await session.flush()
    return t


@pytest.fixture
async def worker2(session, w):  # type: ignore[no-untyped-def]
    user = await make_user(session, (Role.GRID_WORKER, w.c1), grids=(w.g1,), display_name="网格员乙")
    await session.commit()
    return user


@pytest.fixture
async def tickets(session, w, worker2, clock: FrozenClock) -> dict[str, Ticket]:  # type: ignore[no-untyped-def]
    """Nine C1 tickets in the last 30 days, one older, one in C2 (see the expected figures below)."""
    now, day, hour = clock.now(), timedelta(days=1), timedelta(hours=1)
    mk = make_ticket
    rows = {
        # answered in 2 min, resolved in a day, rated 5
        "a": await mk(session, w, now=now, ago=5 * day, status=S.CLOSED, response=120, responder=w.worker,
                      assignee=w.worker, resolved_after=24 * hour, rating=5),
        # answered in 5 min, resolved late (80 h), reopened once, rated 3
        "b": await mk(session, w, now=now, ago=5 * day, status=S.CLOSED, response=300, responder=w.worker,
                      assignee=w.worker, resolved_after=80 * hour, rating=3, reopen_count=1),
        # answered late (15 min), still open past its 72 h resolve deadline
        "c": await mk(session, w, now=now, ago=5 * day, status=S.CLAIMED, response=900, responder=worker2,
                      assignee=worker2),
        # answered in 1 min, escalated an hour ago, the department is on it
        "d": await mk(session, w, now=now, ago=hour, status=S.DEPARTMENT_HANDLING, response=60,
                      responder=worker2, assignee=worker2, escalation_count=1, department=w.dept),
        # waiting 20 minutes: the 10-minute promise is broken
        "e": await mk(session, w, now=now, ago=timedelta(minutes=20)),
        # waiting 2 minutes: not due yet, counts neither way
        "f": await mk(session, w, now=now, ago=timedelta(minutes=2)),
        "g": await mk(session, w, now=now, ago=3 * day, status=S.REJECTED),
        "h": await mk(session, w, now=now, ago=3 * day, status=S.MERGED),
        # dispatched by the community admin exactly at the deadline (on time), rated 4
        "k": await mk(session, w, now=now, ago=2 * day, status=S.CLOSED, response=600, responder=w.c1_admin,
                      assignee=w.worker, resolved_after=2 * hour, rating=4),
        # outside the default 30 days
        "old": await mk(session, w, now=now, ago=40 * day, status=S.CLOSED, response=30, responder=w.worker,
                        assignee=w.worker, resolved_after=hour, rating=1),
        # another community of the same subdistrict
        "other": await mk(session, w, now=now, ago=day, community=w.c2, grid="g2"),
    }  # fmt: skip
    await session.commit()
    return rows


EXPECTED_C1 = {
    "tickets": 9,
    "valid_tickets": 7,
    "responded": 5,
    "response_due": 6,
    "responded_on_time": 4,
    "responded_on_time_rate": 0.6667,
    "median_response_seconds": 300.0,
    "p90_response_seconds": 900.0,
    "resolved": 3,
    "closure_rate": 0.4286,
    "resolve_due": 4,
    "resolved_on_time": 2,
    "resolved_on_time_rate": 0.5,
    "rated": 3,
    "mean_rating": 4.0,
    "satisfied": 2,
    "satisfied_rate": 0.6667,
    "escalated": 1,
    "escalation_rate": 0.1429,
    "reopened": 1,
    "reopen_rate": 0.3333,
}


def figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in EXPECTED_C1}


class TestFigures:
    async def test_community_figures_are_exact(self, client, auth, w, tickets, clock) -> None:
        r = await client.get(
            URL, params={"scope": "community", "scope_id": str(w.c1.id)}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert figures(body) == EXPECTED_C1
        assert body["scope"] == "community" and body["scope_name"] == w.c1.name

    async def test_default_range_is_the_last_30_days_by_the_clock(
        self, client, auth, w, tickets, clock
    ) -> None:
        r = await client.get(
            URL, params={"scope": "community", "scope_id": str(w.c1.id)}, headers=auth(w.c1_admin)
        )
        body = r.json()
        assert body["date_to"].startswith("2026-11-22T02:00:00")
        assert body["date_from"].startswith("2026-10-23T02:00:00")
        assert body["as_of"].startswith("2026-11-22T02:00:00")

    async def test_explicit_range_takes_in_older_tickets(self, client, auth, w, tickets, clock) -> None:
        params = {
            "scope": "community",
            "scope_id": str(w.c1.id),
            "date_from": (clock.now() - timedelta(days=50)).isoformat(),
            "date_to": clock.now().isoformat(),
        }
        body = (await client.get(URL, params=params, headers=auth(w.c1_admin))).json()
        assert body["tickets"] == 10
        assert body["rated"] == 4 and body["mean_rating"] == 3.25
        # 30, 60, 120, 300, 600, 900
        assert body["median_response_seconds"] == 210.0 and body["p90_response_seconds"] == 900.0

    async def test_range_is_half_open_on_submission_time(self, client, auth, w, tickets, clock) -> None:
        d = tickets["d"].submitted_at
        params = {"scope": "community", "scope_id": str(w.c1.id), "date_from": d.isoformat(),
                  "date_to": (d + timedelta(minutes=50)).isoformat()}  # fmt: skip
        body = (await client.get(URL, params=params, headers=auth(w.c1_admin))).json()
        # d itself (at date_from) is in; e (20 min ago, 40 min after d) too; f (2 min ago) is out.
        assert body["tickets"] == 2 and body["responded"] == 1

    async def test_grid_scope_counts_the_grid(self, client, auth, w, tickets) -> None:
        r = await client.get(
            URL, params={"scope": "grid", "scope_id": str(w.g1.id)}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200, r.text
        assert figures(r.json()) == EXPECTED_C1

    async def test_subdistrict_scope_adds_its_other_communities(self, client, auth, w, tickets) -> None:
        r = await client.get(
            URL, params={"scope": "subdistrict", "scope_id": str(w.s1.id)}, headers=auth(w.sub_admin)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tickets"] == 10 and body["valid_tickets"] == 8
        # The C2 ticket was reported a day ago and never answered: one more broken promise.
        assert body["response_due"] == 7 and body["responded_on_time_rate"] == round(4 / 7, 4)

    async def test_department_scope_counts_tickets_escalated_to_it(self, client, auth, w, tickets) -> None:
        r = await client.get(
            URL, params={"scope": "department", "scope_id": str(w.dept.id)}, headers=auth(w.dept_staff)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tickets"] == 1 and body["escalated"] == 1 and body["escalation_rate"] == 1.0
        assert body["resolve_due"] == 0 and body["resolved_on_time_rate"] is None

    async def test_an_empty_scope_has_zero_counts_and_no_rates(self, client, auth, w) -> None:
        r = await client.get(
            URL, params={"scope": "community", "scope_id": str(w.c2.id)}, headers=auth(w.c2_admin)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tickets"] == 0 and body["workers"] == []
        for key in ("responded_on_time_rate", "median_response_seconds", "p90_response_seconds",
                    "closure_rate", "mean_rating", "satisfied_rate", "reopen_rate"):  # fmt: skip
            assert body[key] is None, key


class TestPerWorker:
    async def test_breakdown_by_responder_and_handler(self, client, auth, w, worker2, tickets) -> None:
        r = await client.get(
            URL, params={"scope": "community", "scope_id": str(w.c1.id)}, headers=auth(w.c1_admin)
        )
        workers = r.json()["workers"]
        assert [x["display_name"] for x in workers] == ["网格员", "网格员乙", "C1 管理员"]
        first, second, admin = workers
        assert first == {
            "user_id": str(w.worker.id),
            "display_name": "网格员",
            "handled": 3,
            "resolved": 3,
            "responded": 2,
            "responded_on_time": 2,
            "responded_on_time_rate": 1.0,
            "median_response_seconds": 210.0,
            "rated": 3,
            "mean_rating": 4.0,
        }
        assert second == {
            "user_id": str(worker2.id),
            "display_name": "网格员乙",
            "handled": 2,
            "resolved": 0,
            "responded": 2,
            "responded_on_time": 1,
            "responded_on_time_rate": 0.5,
            "median_response_seconds": 480.0,
            "rated": 0,
            "mean_rating": None,
        }
        # The admin who dispatched a ticket answered it, and handled none.
        assert admin["handled"] == 0 and admin["responded"] == 1 and admin["median_response_seconds"] == 600.0
        assert admin["mean_rating"] is None


class TestThroughTheTicketFlow:
    async def test_report_claim_resolve_confirm_feeds_the_figures(
        self, client, auth, w, report, clock
    ) -> None:
        tid = (await report()).json()["id"]
        clock.advance(timedelta(seconds=95))
        assert (await client.post(f"/api/v1/tickets/{tid}/claim", headers=auth(w.worker))).status_code == 200
        clock.advance(timedelta(hours=3))
        r = await client.post(
            f"/api/v1/tickets/{tid}/resolve", json={"note": "已修好"}, headers=auth(w.worker)
        )
        assert r.status_code == 200
        r = await client.post(f"/api/v1/tickets/{tid}/confirm", json={"rating": 4}, headers=auth(w.resident))
        assert r.status_code == 200
        late = (await report()).json()["id"]
        clock.advance(timedelta(minutes=11))
        assert (await client.post(f"/api/v1/tickets/{late}/claim", headers=auth(w.worker))).status_code == 200

        r = await client.get(
            URL, params={"scope": "grid", "scope_id": str(w.g1.id)}, headers=auth(w.c1_admin)
        )
        body = r.json()
        assert body["tickets"] == 2 and body["responded"] == 2 and body["responded_on_time"] == 1
        assert body["median_response_seconds"] == 377.5  # (95 + 660) / 2
        assert body["p90_response_seconds"] == 660.0
        assert body["closure_rate"] == 0.5 and body["resolved_on_time_rate"] == 1.0
        assert body["mean_rating"] == 4.0 and body["satisfied_rate"] == 1.0
        assert body["workers"][0]["handled"] == 2 and body["workers"][0]["display_name"] == "网格员"


class TestAccess:
    @pytest.mark.parametrize(
        ("who", "scope", "target", "status"),
        [
            ("c1_admin", "community", "c1", 200),
            ("c1_admin", "grid", "g1", 200),
            ("c1_admin", "community", "c2", 403),
            ("c1_admin", "grid", "g2", 403),
            ("c1_admin", "subdistrict", "s1", 403),
            ("c1_admin", "department", "dept", 403),
            ("sub_admin", "subdistrict", "s1", 200),
            ("sub_admin", "community", "c2", 200),
            ("sub_admin", "grid", "g1", 200),
            ("sub_admin", "department", "dept", 200),
            ("sub_admin", "subdistrict", "s2", 403),
            ("s2_admin", "community", "c1", 403),
            ("s2_admin", "department", "dept", 403),
            ("dept_staff", "department", "dept", 200),
            ("dept_staff", "community", "c1", 403),
            ("superadmin", "subdistrict", "s2", 200),
            ("worker", "grid", "g1", 403),
            ("resident", "community", "c1", 403),
        ],
    )
    async def test_only_staff_administering_the_scope_see_it(
        self, client, auth, w, who, scope, target, status
    ) -> None:
        params = {"scope": scope, "scope_id": str(getattr(w, target).id)}
        r = await client.get(URL, params=params, headers=auth(getattr(w, who)))
        assert r.status_code == status, r.text
        if status == 403:
            assert r.json()["code"] == "stats.scope_forbidden"

    async def test_unknown_scope_id_is_404_for_staff(self, client, auth, w) -> None:
        params = {"scope": "grid", "scope_id": str(w.resident.id)}
        r = await client.get(URL, params=params, headers=auth(w.superadmin))
        assert r.status_code == 404 and r.json()["code"] == "stats.scope_not_found"

    async def test_a_resident_learns_nothing_about_unknown_ids(self, client, auth, w) -> None:
        params = {"scope": "grid", "scope_id": str(w.resident.id)}
        r = await client.get(URL, params=params, headers=auth(w.resident))
        assert r.status_code == 403 and r.json()["code"] == "stats.scope_forbidden"

    async def test_login_is_required(self, client, w) -> None:
        r = await client.get(URL, params={"scope": "community", "scope_id": str(w.c1.id)})
        assert r.status_code == 401


class TestBadInput:
    async def test_range_must_run_forwards(self, client, auth, w, clock) -> None:
        params = {"scope": "community", "scope_id": str(w.c1.id), "date_from": clock.now().isoformat(),
                  "date_to": (clock.now() - timedelta(days=1)).isoformat()}  # fmt: skip
        r = await client.get(URL, params=params, headers=auth(w.c1_admin))
        assert r.status_code == 422 and r.json()["code"] == "ticket.invalid_date_range"

    async def test_range_over_a_year_is_refused(self, client, auth, w, clock) -> None:
        params = {"scope": "community", "scope_id": str(w.c1.id),
                  "date_from": (clock.now() - timedelta(days=400)).isoformat()}  # fmt: skip
        r = await client.get(URL, params=params, headers=auth(w.c1_admin))
        assert r.status_code == 422 and r.json()["code"] == "ticket.invalid_date_range"

    async def test_times_without_a_zone_are_refused(self, client, auth, w) -> None:
        params = {"scope": "community", "scope_id": str(w.c1.id), "date_from": "2026-11-01T00:00:00"}
        r = await client.get(URL, params=params, headers=auth(w.c1_admin))
        assert r.status_code == 422 and r.json()["code"] == "request.invalid"

    async def test_unknown_scope_kind_is_refused(self, client, auth, w) -> None:
        r = await client.get(
            URL, params={"scope": "city", "scope_id": str(w.c1.id)}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 422
