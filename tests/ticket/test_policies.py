"""Who may see and act on a ticket: pure rules over an Actor and the ticket's facts."""

import uuid
from dataclasses import replace

import pytest

from app.auth.permissions import Actor, Role
from app.ticket.policies import TicketFacts, can_apply, can_view, may_report_for_others, sees_contact
from app.ticket.state import TicketAction, TicketStatus

A = TicketAction
SD1, SD2 = uuid.uuid4(), uuid.uuid4()
C1, C1B, C2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
G1, G1B, G2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
DEPT, OTHER_DEPT = uuid.uuid4(), uuid.uuid4()


def _actor(*roles: Role, **scopes: frozenset[uuid.UUID]) -> Actor:
    return Actor(user_id=uuid.uuid4(), roles=frozenset(roles), **scopes)


ACTORS: dict[str, Actor] = {
    "reporter": _actor(Role.RESIDENT),
    "handler": _actor(Role.GRID_WORKER, worker_community_ids=frozenset({C1}), grid_ids=frozenset({G1})),
    "worker_of_grid": _actor(
        Role.GRID_WORKER, worker_community_ids=frozenset({C1}), grid_ids=frozenset({G1})
    ),
    "worker_of_other_grid": _actor(
        Role.GRID_WORKER, worker_community_ids=frozenset({C1}), grid_ids=frozenset({G1B})
    ),
    "worker_of_other_community": _actor(
        Role.GRID_WORKER, worker_community_ids=frozenset({C2}), grid_ids=frozenset({G2})
    ),
    "community_admin": _actor(Role.COMMUNITY_ADMIN, community_ids=frozenset({C1})),
    "other_community_admin": _actor(Role.COMMUNITY_ADMIN, community_ids=frozenset({C2})),
    "subdistrict_admin": _actor(Role.SUBDISTRICT_ADMIN, subdistrict_ids=frozenset({SD1})),
    "other_subdistrict_admin": _actor(Role.SUBDISTRICT_ADMIN, subdistrict_ids=frozenset({SD2})),
    "superadmin": _actor(Role.SUPERADMIN),
    "department_staff": _actor(Role.DEPARTMENT_STAFF, department_ids=frozenset({DEPT})),
    "other_department_staff": _actor(Role.DEPARTMENT_STAFF, department_ids=frozenset({OTHER_DEPT})),
    "stranger": _actor(Role.RESIDENT),
}

# A ticket in grid G1 of community C1 (subdistrict SD1), handled, escalated to DEPT.
TICKET = TicketFacts(
    status=TicketStatus.CLAIMED,
    subdistrict_id=SD1,
    community_id=C1,
    grid_id=G1,
    reporter_id=ACTORS["reporter"].user_id,
    assignee_id=ACTORS["handler"].user_id,
    department_id=DEPT,
)

ADMINS = {"community_admin", "subdistrict_admin", "superadmin"}
ALLOWED: dict[TicketAction, set[str]] = {
    A.CLAIM: {"handler", "worker_of_grid"},
    A.ASSIGN: ADMINS,
    A.ARRIVE: {"handler"},
    A.RESOLVE: {"handler", *ADMINS},
    A.ESCALATE: {"handler", *ADMINS},
    A.ACCEPT_ESCALATION: {"department_staff"},
    A.DEPARTMENT_RESOLVE: {"department_staff"},
    A.RECALL: ADMINS,
    A.REJECT: {"handler", *ADMINS},
    A.MERGE: ADMINS,
    A.CONFIRM: {"reporter"},
    A.REOPEN: {"reporter"},
    A.AUTO_CLOSE: set(),
}
FULL_VIEW = {"reporter", "handler", "worker_of_grid", "department_staff", *ADMINS}


class TestCanApply:
    def test_every_action_has_a_rule(self) -> None:
        assert set(ALLOWED) == set(TicketAction)

    @pytest.mark.parametrize("action", list(TicketAction), ids=str)
    @pytest.mark.parametrize("who", list(ACTORS))
    def test_only_the_specified_actors_may_take_each_action(self, action, who) -> None:  # type: ignore[no-untyped-def]
        assert can_apply(ACTORS[who], action, TICKET) is (who in ALLOWED[action])

    @pytest.mark.parametrize("status", list(TicketStatus), ids=str)
    def test_the_answer_does_not_depend_on_the_status(self, status) -> None:  # type: ignore[no-untyped-def]
        facts = replace(TICKET, status=status)
        for action, allowed in ALLOWED.items():
            assert {w for w, a in ACTORS.items() if can_apply(a, action, facts)} == allowed

    def test_auto_close_is_never_allowed_through_the_api_not_even_for_a_superadmin(self) -> None:
        assert not any(can_apply(a, A.AUTO_CLOSE, TICKET) for a in ACTORS.values())

    def test_a_grid_worker_of_another_grid_cannot_claim(self) -> None:
        assert not can_apply(ACTORS["worker_of_other_grid"], A.CLAIM, TICKET)

    def test_any_grid_worker_of_the_community_may_claim_from_the_duty_queue(self) -> None:
        queued = replace(TICKET, grid_id=None, assignee_id=None)
        assert can_apply(ACTORS["worker_of_other_grid"], A.CLAIM, queued)
        assert can_apply(ACTORS["worker_of_grid"], A.CLAIM, queued)
        assert not can_apply(ACTORS["worker_of_other_community"], A.CLAIM, queued)

    def test_a_community_admin_role_does_not_make_one_a_claimer(self) -> None:
        assert not can_apply(ACTORS["community_admin"], A.CLAIM, TICKET)

    def test_department_staff_act_only_while_the_ticket_is_escalated_to_their_department(self) -> None:
        not_escalated = replace(TICKET, department_id=None)
        staff = ACTORS["department_staff"]
        assert not can_apply(staff, A.ACCEPT_ESCALATION, not_escalated)
        assert not can_apply(staff, A.DEPARTMENT_RESOLVE, not_escalated)
        assert not can_apply(ACTORS["other_department_staff"], A.ACCEPT_ESCALATION, TICKET)

    def test_without_a_handler_only_admins_may_resolve(self) -> None:
        unassigned = replace(TICKET, assignee_id=None)
        who = {w for w, a in ACTORS.items() if can_apply(a, A.RESOLVE, unassigned)}
        assert who == ADMINS


class TestCanView:
    @pytest.mark.parametrize("who", list(ACTORS))
    def test_full_view_for_the_people_involved_and_the_staff_in_scope(self, who) -> None:  # type: ignore[no-untyped-def]
        assert can_view(ACTORS[who], TICKET) is (who in FULL_VIEW)

    def test_duty_queue_ticket_is_visible_to_every_grid_worker_of_the_community(self) -> None:
        queued = replace(TICKET, grid_id=None, assignee_id=None)
        assert can_view(ACTORS["worker_of_other_grid"], queued)
        assert not can_view(ACTORS["worker_of_other_community"], queued)

    def test_department_loses_sight_once_the_escalation_is_recalled(self) -> None:
        assert not can_view(ACTORS["department_staff"], replace(TICKET, department_id=None))


class TestSeesContact:
    @pytest.mark.parametrize("who", list(ACTORS))
    def test_full_phone_numbers_for_reporter_handler_and_admins_only(self, who) -> None:  # type: ignore[no-untyped-def]
        assert sees_contact(ACTORS[who], TICKET) is (who in {"reporter", "handler", *ADMINS})


class TestReportingForOthers:
    @pytest.mark.parametrize(
        ("who", "allowed"),
        [
            ("reporter", False),
            ("stranger", False),
            ("worker_of_grid", True),
            ("community_admin", True),
            ("subdistrict_admin", True),
            ("department_staff", True),
            ("superadmin", True),
        ],
    )
    def test_staff_and_grid_workers_may_report_on_behalf_of_residents(self, who, allowed) -> None:  # type: ignore[no-untyped-def]
        assert may_report_for_others(ACTORS[who]) is allowed
