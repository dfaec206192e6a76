"""The 乐修匠 order lifecycle table: every (status, action) pair, checked against an independent copy."""

import itertools

import pytest

from app.repair import state
from app.repair.state import InvalidTransition, RepairAction, RepairStatus, next_status

S, A = RepairStatus, RepairAction

# Written out by hand so that a change to the lifecycle has to be made twice.
HAPPY_PATH: list[tuple[RepairAction, RepairStatus]] = [
    (A.ACCEPT, S.ACCEPTED),
    (A.SCHEDULE, S.SCHEDULED),
    (A.ARRIVE, S.ON_SITE),
    (A.QUOTE, S.QUOTED),
    (A.CONFIRM_QUOTE, S.IN_PROGRESS),
    (A.COMPLETE, S.COMPLETED),
    (A.SETTLE, S.SETTLED),
    (A.RATE, S.RATED),
]

EXPECTED: dict[tuple[RepairStatus, RepairAction], RepairStatus] = {
    # The happy path.
    (S.REQUESTED, A.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, A.SCHEDULE): S.SCHEDULED,
    (S.SCHEDULED, A.ARRIVE): S.ON_SITE,
    (S.ON_SITE, A.QUOTE): S.QUOTED,
    (S.QUOTED, A.CONFIRM_QUOTE): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.COMPLETE): S.COMPLETED,
    (S.COMPLETED, A.SETTLE): S.SETTLED,
    (S.SETTLED, A.RATE): S.RATED,
    # Staff assign (or re-assign, which drops the agreed time).
    (S.REQUESTED, A.ASSIGN): S.ACCEPTED,
    (S.ACCEPTED, A.ASSIGN): S.ACCEPTED,
    (S.SCHEDULED, A.ASSIGN): S.ACCEPTED,
    # Rescheduling and a corrected quote stay where they are.
    (S.SCHEDULED, A.SCHEDULE): S.SCHEDULED,
    (S.QUOTED, A.QUOTE): S.QUOTED,
    # Back to the pool: the craftsman hands it back or did not come.
    (S.ACCEPTED, A.HAND_BACK): S.REQUESTED,
    (S.SCHEDULED, A.HAND_BACK): S.REQUESTED,
    (S.SCHEDULED, A.CRAFTSMAN_NO_SHOW): S.REQUESTED,
    # Nobody home: a new time is needed, the craftsman keeps the order.
    (S.SCHEDULED, A.RESIDENT_ABSENT): S.ACCEPTED,
    # The resident turns the quote down.
    (S.QUOTED, A.DECLINE_QUOTE): S.CANCELLED,
    # Cancelling, any time before the work is done.
    (S.REQUESTED, A.CANCEL): S.CANCELLED,
    (S.ACCEPTED, A.CANCEL): S.CANCELLED,
    (S.SCHEDULED, A.CANCEL): S.CANCELLED,
    (S.ON_SITE, A.CANCEL): S.CANCELLED,
    (S.QUOTED, A.CANCEL): S.CANCELLED,
    (S.IN_PROGRESS, A.CANCEL): S.CANCELLED,
}

ALL_PAIRS = list(itertools.product(RepairStatus, RepairAction))


def _id(pair: tuple[RepairStatus, RepairAction]) -> str:
    return f"{pair[0].value}-{pair[1].value}"


def _walk(start: RepairStatus, actions: list[RepairAction]) -> list[RepairStatus]:
    seen, current = [], start
    for action in actions:
        current = next_status(current, action)
        seen.append(current)
    return seen


def _reachable(start: RepairStatus) -> set[RepairStatus]:
    seen, frontier = {start}, [start]
    while frontier:
        current = frontier.pop()
        for (src, _), dst in state.TRANSITIONS.items():
            if src is current and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    return seen


class TestTransitionTable:
    @pytest.mark.parametrize("pair", ALL_PAIRS, ids=_id)
    def test_every_status_and_action_pair_moves_as_specified_or_is_refused(
        self, pair: tuple[RepairStatus, RepairAction]
    ) -> None:
        status, action = pair
        if pair in EXPECTED:
            assert next_status(status, action) is EXPECTED[pair]
        else:
            with pytest.raises(InvalidTransition) as info:
                next_status(status, action)
            assert info.value.status is status
            assert info.value.action is action
            assert str(info.value) == f"{action.value} is not allowed in {status.value}"

    def test_table_is_exactly_the_specified_one(self) -> None:
        assert dict(state.TRANSITIONS) == EXPECTED

    def test_every_action_is_possible_from_some_status(self) -> None:
        assert {a for _, a in state.TRANSITIONS} == set(RepairAction)


class TestPaths:
    def test_happy_path_from_requested_to_rated(self) -> None:
        actions = [a for a, _ in HAPPY_PATH]
        assert _walk(S.REQUESTED, actions) == [s for _, s in HAPPY_PATH]

    @pytest.mark.parametrize("start", [S.ACCEPTED, S.SCHEDULED], ids=str)
    def test_hand_back_returns_the_order_to_the_pool(self, start: RepairStatus) -> None:
        assert next_status(start, A.HAND_BACK) is S.REQUESTED
        assert next_status(S.REQUESTED, A.ACCEPT) is S.ACCEPTED

    def test_no_show_returns_the_order_to_the_pool_and_another_craftsman_may_take_it(self) -> None:
        assert _walk(S.SCHEDULED, [A.CRAFTSMAN_NO_SHOW, A.ACCEPT, A.SCHEDULE]) == [
            S.REQUESTED,
            S.ACCEPTED,
            S.SCHEDULED,
        ]

    def test_resident_absent_needs_a_new_time_before_the_next_visit(self) -> None:
        assert next_status(S.SCHEDULED, A.RESIDENT_ABSENT) is S.ACCEPTED
        with pytest.raises(InvalidTransition):
            next_status(S.ACCEPTED, A.ARRIVE)
        assert _walk(S.ACCEPTED, [A.SCHEDULE, A.ARRIVE]) == [S.SCHEDULED, S.ON_SITE]

    def test_declining_the_quote_cancels_the_order(self) -> None:
        assert _walk(S.ON_SITE, [A.QUOTE, A.QUOTE, A.DECLINE_QUOTE]) == [S.QUOTED, S.QUOTED, S.CANCELLED]

    def test_work_starts_only_after_the_quote_is_confirmed(self) -> None:
        for status in (S.ON_SITE, S.QUOTED):
            with pytest.raises(InvalidTransition):
                next_status(status, A.COMPLETE)
            with pytest.raises(InvalidTransition):
                next_status(status, A.SETTLE)

    def test_cancel_is_possible_until_the_work_is_completed(self) -> None:
        cancellable = {src for (src, a) in state.TRANSITIONS if a is A.CANCEL}
        assert cancellable == {S.REQUESTED, S.ACCEPTED, S.SCHEDULED, S.ON_SITE, S.QUOTED, S.IN_PROGRESS}
        assert all(state.TRANSITIONS[(s, A.CANCEL)] is S.CANCELLED for s in cancellable)

    def test_every_status_is_reachable_from_requested(self) -> None:
        assert _reachable(S.REQUESTED) == set(RepairStatus)

    @pytest.mark.parametrize("status", sorted(set(RepairStatus) - state.TERMINAL), ids=str)
    def test_every_open_status_can_still_end(self, status: RepairStatus) -> None:
        assert _reachable(status) & state.TERMINAL


class TestStatusSets:
    def test_terminal_statuses_are_rated_and_cancelled(self) -> None:
        assert set(state.TERMINAL) == {S.RATED, S.CANCELLED}

    @pytest.mark.parametrize("status", sorted(state.TERMINAL), ids=str)
    def test_terminal_status_has_no_outgoing_transition(self, status: RepairStatus) -> None:
        assert [pair for pair in state.TRANSITIONS if pair[0] is status] == []
        for action in RepairAction:
            with pytest.raises(InvalidTransition):
                next_status(status, action)

    @pytest.mark.parametrize("status", sorted(set(RepairStatus) - state.TERMINAL), ids=str)
    def test_non_terminal_status_has_a_way_out(self, status: RepairStatus) -> None:
        assert any(src is status for src, _ in state.TRANSITIONS)

    def test_active_statuses_are_the_ones_the_craftsman_is_busy_with(self) -> None:
        assert set(state.ACTIVE) == {S.ACCEPTED, S.SCHEDULED, S.ON_SITE, S.QUOTED, S.IN_PROGRESS}

    def test_contact_stays_with_the_craftsman_until_settled(self) -> None:
        assert set(state.WITH_CRAFTSMAN) == set(state.ACTIVE) | {S.COMPLETED}
        assert not state.WITH_CRAFTSMAN & {S.REQUESTED, S.SETTLED, S.RATED, S.CANCELLED}

    def test_resident_may_cancel_only_before_the_craftsman_is_at_the_door(self) -> None:
        assert set(state.RESIDENT_MAY_CANCEL) == {S.REQUESTED, S.ACCEPTED, S.SCHEDULED}

    def test_resident_cancel_window_is_a_strict_subset_of_the_cancellable_statuses(self) -> None:
        cancellable = {src for (src, a) in state.TRANSITIONS if a is A.CANCEL}
        assert cancellable > state.RESIDENT_MAY_CANCEL


class TestMermaidDiagram:
    def test_diagram_lists_every_transition_once_and_nothing_else(self) -> None:
        lines = state.mermaid().splitlines()
        assert lines[:2] == ["stateDiagram-v2", "    [*] --> requested"]
        edges = [ln.strip() for ln in lines if ": " in ln]
        assert sorted(edges) == sorted(
            f"{s.value} --> {d.value}: {a.value}" for (s, a), d in EXPECTED.items()
        )
        assert len(edges) == len(set(edges))
        assert len(lines) == 2 + len(EXPECTED) + len(state.TERMINAL)

    def test_diagram_ends_in_the_terminal_statuses(self) -> None:
        ends = [ln.strip() for ln in state.mermaid().splitlines() if ln.endswith("--> [*]")]
        assert sorted(ends) == ["cancelled --> [*]", "rated --> [*]"]
