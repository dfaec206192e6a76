"""The ticket lifecycle table: every (status, action) pair, checked against an independent copy."""

import itertools
import re
from pathlib import Path

import pytest

from app.ticket import state
from app.ticket.state import InvalidTransition, TicketAction, TicketStatus, next_status

S, A = TicketStatus, TicketAction

# Written out by hand from issue #3 so that a change to the table has to be made twice.
EXPECTED: dict[tuple[TicketStatus, TicketAction], TicketStatus] = {
    (S.SUBMITTED, A.CLAIM): S.CLAIMED,
    (S.SUBMITTED, A.ASSIGN): S.CLAIMED,
    (S.CLAIMED, A.ASSIGN): S.CLAIMED,
    (S.ON_SITE, A.ASSIGN): S.CLAIMED,
    (S.CLAIMED, A.ARRIVE): S.ON_SITE,
    (S.CLAIMED, A.RESOLVE): S.RESOLVED,
    (S.ON_SITE, A.RESOLVE): S.RESOLVED,
    (S.DEPARTMENT_DONE, A.RESOLVE): S.RESOLVED,
    (S.SUBMITTED, A.ESCALATE): S.ESCALATED,
    (S.CLAIMED, A.ESCALATE): S.ESCALATED,
    (S.ON_SITE, A.ESCALATE): S.ESCALATED,
    (S.ESCALATED, A.ACCEPT_ESCALATION): S.DEPARTMENT_HANDLING,
    (S.DEPARTMENT_HANDLING, A.DEPARTMENT_RESOLVE): S.DEPARTMENT_DONE,
    (S.ESCALATED, A.RECALL): S.CLAIMED,
    (S.DEPARTMENT_HANDLING, A.RECALL): S.CLAIMED,
    (S.SUBMITTED, A.REJECT): S.REJECTED,
    (S.CLAIMED, A.REJECT): S.REJECTED,
    (S.ON_SITE, A.REJECT): S.REJECTED,
    (S.SUBMITTED, A.MERGE): S.MERGED,
    (S.CLAIMED, A.MERGE): S.MERGED,
    (S.ON_SITE, A.MERGE): S.MERGED,
    (S.RESOLVED, A.CONFIRM): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.CLAIMED,
    (S.CLOSED, A.REOPEN): S.CLAIMED,
    (S.RESOLVED, A.AUTO_CLOSE): S.CLOSED,
}

ALL_PAIRS = list(itertools.product(TicketStatus, TicketAction))


def _id(pair: tuple[TicketStatus, TicketAction]) -> str:
    return f"{pair[0].value}-{pair[1].value}"


class TestTransitionTable:
    @pytest.mark.parametrize("pair", ALL_PAIRS, ids=_id)
    def test_every_status_and_action_pair_moves_as_specified_or_is_refused(self, pair) -> None:  # type: ignore[no-untyped-def]
        status, action = pair
        if pair in EXPECTED:
            assert next_status(status, action) is EXPECTED[pair]
        else:
            with pytest.raises(InvalidTransition) as info:
                next_status(status, action)
            assert info.value.status is status
            assert info.value.action is action
            assert action.value in str(info.value) and status.value in str(info.value)

    def test_table_is_exactly_the_specified_one(self) -> None:
        assert dict(state.TRANSITIONS) == EXPECTED

    def test_every_action_is_possible_from_some_status(self) -> None:
        assert {a for _, a in EXPECTED} == set(TicketAction)

    def test_every_status_is_reachable_from_submitted(self) -> None:
        seen, frontier = {S.SUBMITTED}, [S.SUBMITTED]
        while frontier:
            current = frontier.pop()
            for (src, _), dst in state.TRANSITIONS.items():
                if src is current and dst not in seen:
                    seen.add(dst)
                    frontier.append(dst)
        assert seen == set(TicketStatus)


class TestTerminalStatuses:
    def test_terminal_statuses_are_closed_rejected_and_merged(self) -> None:
        assert set(state.TERMINAL) == {S.CLOSED, S.REJECTED, S.MERGED}

    @pytest.mark.parametrize("status", sorted(state.TERMINAL), ids=str)
    def test_terminal_status_has_no_way_out_except_reopening_a_closed_ticket(self, status) -> None:  # type: ignore[no-untyped-def]
        outgoing = {a for (src, a) in state.TRANSITIONS if src is status}
        assert outgoing == ({A.REOPEN} if status is S.CLOSED else set())

    def test_open_statuses_are_the_ones_still_being_worked_on(self) -> None:
        assert set(state.OPEN) == set(TicketStatus) - {S.CLOSED, S.REJECTED, S.MERGED, S.RESOLVED}

    def test_only_submitted_waits_for_a_response(self) -> None:
        assert set(state.AWAITING_RESPONSE) == {S.SUBMITTED}

    def test_claim_assign_and_escalate_count_as_the_first_response(self) -> None:
        assert set(state.RESPONDING_ACTIONS) == {A.CLAIM, A.ASSIGN, A.ESCALATE}


class TestMermaidDiagram:
    def test_diagram_lists_every_transition_once(self) -> None:
        lines = state.mermaid().splitlines()
        assert lines[0] == "stateDiagram-v2"
        assert "    [*] --> submitted" in lines
        edges = [ln.strip() for ln in lines if ": " in ln]
        assert sorted(edges) == sorted(
            f"{s.value} --> {d.value}: {a.value}" for (s, a), d in EXPECTED.items()
        )
        for status in state.TERMINAL:
            assert f"    {status.value} --> [*]" in lines

    def test_readme_shows_exactly_the_generated_diagram_under_ticket_lifecycle(self) -> None:
        readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
        section = readme.split("## Ticket lifecycle", 1)
        assert len(section) == 2, "README.md has no 'Ticket lifecycle' section"
        body = section[1].split("\n## ", 1)[0]
        blocks = re.findall(r"```mermaid\n(.*?)\n```", body, flags=re.DOTALL)
        assert blocks == [state.mermaid()]
