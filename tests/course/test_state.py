"""菜鸟学堂 lifecycles: every (status, action) pair of the signup and help-request tables, the
terminal sets, and the README diagrams. Pure: no database."""

import itertools

import pytest

from app.course import state
from app.course.state import (
    ACTIVE,
    HELP_TERMINAL,
    SEATED,
    SIGNUP_TERMINAL,
    WITH_HELPER,
    HelpAction,
    HelpStatus,
    InvalidTransition,
    SignupAction,
    SignupStatus,
    help_mermaid,
    next_help_status,
    next_signup_status,
    signup_mermaid,
)

S, A = SignupStatus, SignupAction
H, HA = HelpStatus, HelpAction

# The lifecycle as the product describes it, written out independently of the module's table.
SIGNUP_ALLOWED = {
    (S.WAITLISTED, A.PROMOTE): S.CONFIRMED,
    (S.WAITLISTED, A.CANCEL): S.CANCELLED,
    (S.CONFIRMED, A.CANCEL): S.CANCELLED,
    (S.CONFIRMED, A.CHECK_IN): S.ATTENDED,
    (S.CONFIRMED, A.MARK_ABSENT): S.NO_SHOW,
    (S.NO_SHOW, A.CHECK_IN): S.ATTENDED,
    (S.ATTENDED, A.MARK_ABSENT): S.NO_SHOW,
}

HELP_ALLOWED = {
    (H.OPEN, HA.CLAIM): H.CLAIMED,
    (H.OPEN, HA.CANCEL): H.CANCELLED,
    (H.CLAIMED, HA.RELEASE): H.OPEN,
    (H.CLAIMED, HA.SCHEDULE): H.SCHEDULED,
    (H.CLAIMED, HA.COMPLETE): H.DONE,
    (H.CLAIMED, HA.CANCEL): H.CANCELLED,
    (H.SCHEDULED, HA.RELEASE): H.OPEN,
    (H.SCHEDULED, HA.SCHEDULE): H.SCHEDULED,
    (H.SCHEDULED, HA.COMPLETE): H.DONE,
    (H.SCHEDULED, HA.CANCEL): H.CANCELLED,
}

SIGNUP_PAIRS = list(itertools.product(SignupStatus, SignupAction))
HELP_PAIRS = list(itertools.product(HelpStatus, HelpAction))


def _id(pair: tuple[object, object]) -> str:
    status, action = pair
    return f"{status}-{action}"


# --- signups ----------------------------------------------------------------------------


def test_signup_enums_are_the_documented_values() -> None:
    assert {s.value for s in SignupStatus} == {"confirmed", "waitlisted", "attended", "no_show", "cancelled"}
    assert {a.value for a in SignupAction} == {"promote", "cancel", "check_in", "mark_absent"}


def test_signup_table_is_exactly_the_lifecycle() -> None:
    assert dict(state.SIGNUP_TRANSITIONS) == SIGNUP_ALLOWED


@pytest.mark.parametrize("pair", SIGNUP_PAIRS, ids=[_id(p) for p in SIGNUP_PAIRS])
def test_every_signup_pair(pair: tuple[SignupStatus, SignupAction]) -> None:
    status, action = pair
    if pair in SIGNUP_ALLOWED:
        assert next_signup_status(status, action) is SIGNUP_ALLOWED[pair]
    else:
        with pytest.raises(InvalidTransition) as info:
            next_signup_status(status, action)
        assert info.value.status is status
        assert info.value.action is action
        assert action.value in str(info.value) and status.value in str(info.value)


def test_signup_terminal_set() -> None:
    assert frozenset({S.CANCELLED}) == SIGNUP_TERMINAL
    for status in SIGNUP_TERMINAL:
        for action in SignupAction:
            with pytest.raises(InvalidTransition):
                next_signup_status(status, action)


def test_every_non_terminal_signup_status_has_a_way_on() -> None:
    for status in set(SignupStatus) - SIGNUP_TERMINAL:
        assert any((status, a) in SIGNUP_ALLOWED for a in SignupAction), status


def test_attendance_can_be_corrected_both_ways_but_not_cancelled() -> None:
    assert next_signup_status(S.NO_SHOW, A.CHECK_IN) is S.ATTENDED
    assert next_signup_status(S.ATTENDED, A.MARK_ABSENT) is S.NO_SHOW
    for status in (S.ATTENDED, S.NO_SHOW):
        with pytest.raises(InvalidTransition):
            next_signup_status(status, A.CANCEL)


def test_a_waitlisted_signup_cannot_check_in_or_be_marked_absent() -> None:
    for action in (A.CHECK_IN, A.MARK_ABSENT):
        with pytest.raises(InvalidTransition):
            next_signup_status(S.WAITLISTED, action)


def test_active_and_seated_sets() -> None:
    assert frozenset(SignupStatus) - ACTIVE == {S.CANCELLED}
    assert {S.CONFIRMED, S.ATTENDED, S.NO_SHOW} == SEATED
    assert SEATED < ACTIVE
    assert S.WAITLISTED in ACTIVE and S.WAITLISTED not in SEATED


# --- help requests ----------------------------------------------------------------------


def test_help_enums_are_the_documented_values() -> None:
    assert {s.value for s in HelpStatus} == {"open", "claimed", "scheduled", "done", "cancelled"}
    assert {a.value for a in HelpAction} == {"claim", "release", "schedule", "complete", "cancel"}


def test_help_table_is_exactly_the_lifecycle() -> None:
    assert dict(state.HELP_TRANSITIONS) == HELP_ALLOWED


@pytest.mark.parametrize("pair", HELP_PAIRS, ids=[_id(p) for p in HELP_PAIRS])
def test_every_help_pair(pair: tuple[HelpStatus, HelpAction]) -> None:
    status, action = pair
    if pair in HELP_ALLOWED:
        assert next_help_status(status, action) is HELP_ALLOWED[pair]
    else:
        with pytest.raises(InvalidTransition) as info:
            next_help_status(status, action)
        assert info.value.status is status
        assert info.value.action is action


def test_help_terminal_set() -> None:
    assert frozenset({H.DONE, H.CANCELLED}) == HELP_TERMINAL
    for status in HELP_TERMINAL:
        for action in HelpAction:
            with pytest.raises(InvalidTransition):
                next_help_status(status, action)


def test_every_non_terminal_help_status_has_a_way_on() -> None:
    for status in set(HelpStatus) - HELP_TERMINAL:
        assert any((status, a) in HELP_ALLOWED for a in HelpAction), status


def test_with_helper_set() -> None:
    assert frozenset({H.CLAIMED, H.SCHEDULED}) == WITH_HELPER
    # A request with a helper can be given back; one without cannot.
    for status in HelpStatus:
        assert ((status, HA.RELEASE) in HELP_ALLOWED) == (status in WITH_HELPER)


def test_a_claimed_request_cannot_be_claimed_again() -> None:
    for status in (H.CLAIMED, H.SCHEDULED):
        with pytest.raises(InvalidTransition):
            next_help_status(status, HA.CLAIM)


# --- diagrams ---------------------------------------------------------------------------


def _lines(diagram: str) -> list[str]:
    return [line.strip() for line in diagram.splitlines()]


def test_signup_mermaid_has_every_transition_and_both_starts() -> None:
    lines = _lines(signup_mermaid())
    assert lines[0] == "stateDiagram-v2"
    starts = [line for line in lines if line.startswith("[*] -->")]
    assert sorted(starts) == ["[*] --> confirmed", "[*] --> waitlisted"]
    for (src, act), dst in SIGNUP_ALLOWED.items():
        assert f"{src.value} --> {dst.value}: {act.value}" in lines
    ends = [line for line in lines if line.endswith("--> [*]")]
    assert ends == ["cancelled --> [*]"]
    # Nothing but the header, the starts, the transitions and the ends.
    assert len(lines) == 1 + 2 + len(SIGNUP_ALLOWED) + 1
    assert len(set(lines)) == len(lines)


def test_help_mermaid_has_every_transition() -> None:
    lines = _lines(help_mermaid())
    assert lines[0] == "stateDiagram-v2"
    assert [line for line in lines if line.startswith("[*] -->")] == ["[*] --> open"]
    for (src, act), dst in HELP_ALLOWED.items():
        assert f"{src.value} --> {dst.value}: {act.value}" in lines
    ends = sorted(line for line in lines if line.endswith("--> [*]"))
    assert ends == ["cancelled --> [*]", "done --> [*]"]
    assert len(lines) == 1 + 1 + len(HELP_ALLOWED) + 2
    assert len(set(lines)) == len(lines)


def test_every_status_in_the_diagrams_is_reachable_from_a_start() -> None:
    for diagram, statuses in ((signup_mermaid(), SignupStatus), (help_mermaid(), HelpStatus)):
        edges: dict[str, set[str]] = {}
        seen: set[str] = set()
        for line in _lines(diagram)[1:]:
            src, _, rest = line.partition(" --> ")
            dst = rest.split(":")[0]
            if src == "[*]":
                seen.add(dst)
            elif dst != "[*]":
                edges.setdefault(src, set()).add(dst)
        todo = list(seen)
        while todo:
            for nxt in edges.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        assert seen == {s.value for s in statuses}
