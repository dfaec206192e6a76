"""菜鸟学堂 pure rules: overlapping times, who manages a community's classes, who may claim a help
request, the cancel cutoff, and the rotating check-in code. No database."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.auth.permissions import Actor, Role, Scope
from app.course.policies import (
    TokenProblem,
    cancel_cutoff,
    check_token,
    issue_token,
    manages,
    may_claim_help,
    overlaps,
)

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)

# --- overlaps() -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 2), (2, 4), False),  # back to back: one ends when the next begins
        ((2, 4), (0, 2), False),
        ((0, 2), (3, 5), False),  # apart
        ((3, 5), (0, 2), False),
        ((0, 2), (1, 3), True),  # partly
        ((1, 3), (0, 2), True),
        ((0, 4), (1, 2), True),  # one inside the other
        ((1, 2), (0, 4), True),
        ((0, 2), (0, 2), True),  # the same time
        ((0, 2), (0, 1), True),  # same start
        ((0, 2), (1, 2), True),  # same end
    ],
)
def test_overlaps_half_open(a: tuple[int, int], b: tuple[int, int], expected: bool) -> None:
    assert overlaps(T0 + a[0] * H, T0 + a[1] * H, T0 + b[0] * H, T0 + b[1] * H) is expected


def test_overlaps_by_one_second() -> None:
    s = timedelta(seconds=1)
    assert overlaps(T0, T0 + H, T0 + H - s, T0 + 2 * H)
    assert not overlaps(T0, T0 + H, T0 + H, T0 + 2 * H)
    assert not overlaps(T0 + H, T0 + 2 * H, T0, T0 + H)


def test_overlaps_across_timezones() -> None:
    beijing = timezone(timedelta(hours=8))
    # 10:00-12:00 Beijing is 02:00-04:00 UTC.
    a_start = datetime(2026, 11, 22, 10, 0, tzinfo=beijing)
    assert overlaps(a_start, a_start + 2 * H, datetime(2026, 11, 22, 3, 0, tzinfo=UTC), T0 + 4 * H)
    assert not overlaps(a_start, a_start + 2 * H, datetime(2026, 11, 22, 4, 0, tzinfo=UTC), T0 + 5 * H)


def test_cancel_cutoff() -> None:
    assert cancel_cutoff(T0, 120) == T0 - 2 * H
    assert cancel_cutoff(T0, 0) == T0


# --- manages() and may_claim_help() -----------------------------------------------------

SD1, SD2 = uuid.uuid4(), uuid.uuid4()
C1, C2, C3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # C1, C2 in SD1; C3 in SD2
SCOPE_C1 = Scope(subdistrict_id=SD1, community_id=C1)
SCOPE_C2 = Scope(subdistrict_id=SD1, community_id=C2)
SCOPE_C3 = Scope(subdistrict_id=SD2, community_id=C3)


def actor(*roles: Role, **scopes: frozenset[uuid.UUID]) -> Actor:
    """An Actor as app/auth/dependencies.py builds it (teachers' communities are also worker
    communities)."""
    teacher = scopes.get("teacher_community_ids", frozenset())
    worker = scopes.pop("worker_community_ids", frozenset())
    return Actor(
        user_id=uuid.uuid4(), roles=frozenset(roles), worker_community_ids=worker | teacher, **scopes
    )


def community_admin(c: uuid.UUID = C1) -> Actor:
    return actor(Role.COMMUNITY_ADMIN, community_ids=frozenset({c}))


def subdistrict_admin(sd: uuid.UUID = SD1) -> Actor:
    return actor(Role.SUBDISTRICT_ADMIN, subdistrict_ids=frozenset({sd}))


def teacher(*communities: uuid.UUID) -> Actor:
    return actor(Role.TEACHER, teacher_community_ids=frozenset(communities or {C1}))


def grid_worker(c: uuid.UUID = C1) -> Actor:
    return actor(Role.GRID_WORKER, worker_community_ids=frozenset({c}))


class TestManages:
    def test_staff_of_the_community(self) -> None:
        assert manages(community_admin(C1), SCOPE_C1)

    def test_staff_of_another_community(self) -> None:
        assert not manages(community_admin(C2), SCOPE_C1)
        assert not manages(community_admin(C1), SCOPE_C3)

    def test_subdistrict_admin_of_the_communitys_subdistrict(self) -> None:
        assert manages(subdistrict_admin(SD1), SCOPE_C1)
        assert manages(subdistrict_admin(SD1), SCOPE_C2)

    def test_subdistrict_admin_of_another_subdistrict(self) -> None:
        assert not manages(subdistrict_admin(SD2), SCOPE_C1)

    def test_superadmin(self) -> None:
        su = actor(Role.SUPERADMIN)
        assert manages(su, SCOPE_C1) and manages(su, SCOPE_C3)

    def test_teacher_of_that_community(self) -> None:
        assert manages(teacher(C1), SCOPE_C1)
        assert manages(teacher(C2, C1), SCOPE_C1)

    def test_teacher_of_another_community(self) -> None:
        assert not manages(teacher(C2), SCOPE_C1)
        assert not manages(teacher(C1), SCOPE_C3)

    def test_grid_worker_of_the_community(self) -> None:
        assert not manages(grid_worker(C1), SCOPE_C1)

    def test_resident(self) -> None:
        assert not manages(actor(Role.RESIDENT), SCOPE_C1)

    def test_department_staff(self) -> None:
        assert not manages(actor(Role.DEPARTMENT_STAFF, department_ids=frozenset({uuid.uuid4()})), SCOPE_C1)

    def test_nobody_but_superadmin_manages_an_empty_scope(self) -> None:
        empty = Scope()
        assert manages(actor(Role.SUPERADMIN), empty)
        for a in (community_admin(), subdistrict_admin(), teacher(), grid_worker(), actor(Role.RESIDENT)):
            assert not manages(a, empty)


class TestMayClaimHelp:
    def test_teacher_of_the_community(self) -> None:
        assert may_claim_help(teacher(C1), C1)

    def test_teacher_of_another_community(self) -> None:
        assert not may_claim_help(teacher(C2), C1)

    def test_staff_are_not_volunteers(self) -> None:
        for a in (community_admin(C1), subdistrict_admin(SD1), actor(Role.SUPERADMIN)):
            assert not may_claim_help(a, C1)

    def test_grid_worker_and_resident(self) -> None:
        assert not may_claim_help(grid_worker(C1), C1)
        assert not may_claim_help(actor(Role.RESIDENT), C1)

    def test_needs_the_teacher_role_not_just_the_community(self) -> None:
        # A stale scope without the role grant does not make a volunteer.
        stale = Actor(
            user_id=uuid.uuid4(), roles=frozenset({Role.RESIDENT}), teacher_community_ids=frozenset({C1})
        )
        assert not may_claim_help(stale, C1)


# --- the rotating check-in code -----------------------------------------------------------

SECRET = b"test-secret-0123456789"
PERIOD = 60
# A moment on a period boundary, and one in the middle of a period.
BOUNDARY = datetime.fromtimestamp(29_000_000 * PERIOD, tz=UTC)
SESSION = uuid.UUID("6771791c-e769-4bd5-9128-a7e39c665fa0")
OTHER = uuid.UUID("0e2f0a7b-52c4-4f38-9d6a-35b0a8f0c111")


def _swap_char(s: str) -> str:
    return ("B" if s[0] == "A" else "A") + s[1:]


class TestIssueToken:
    def test_token_names_session_and_window(self) -> None:
        t = issue_token(SECRET, SESSION, BOUNDARY, PERIOD)
        sid, window, sig = t.token.split(".")
        assert sid == SESSION.hex
        assert int(window) == 29_000_000
        assert sig and "=" not in sig

    @pytest.mark.parametrize("offset", [0, 1, 17, 30, 59])
    def test_valid_until_and_refresh(self, offset: int) -> None:
        now = BOUNDARY + timedelta(seconds=offset)
        t = issue_token(SECRET, SESSION, now, PERIOD)
        # Good through the next period: until two period starts after its own.
        assert t.valid_until == BOUNDARY + 2 * timedelta(seconds=PERIOD)
        assert t.valid_until.tzinfo is not None
        # Fetch a new one when the next period begins.
        assert t.refresh_in_seconds == PERIOD - offset
        assert 1 <= t.refresh_in_seconds <= PERIOD
        # The code is still accepted until valid_until, and not at it.
        assert check_token(SECRET, t.token, SESSION, t.valid_until - timedelta(seconds=1), PERIOD) is None
        assert check_token(SECRET, t.token, SESSION, t.valid_until, PERIOD) is TokenProblem.EXPIRED

    def test_other_period_length(self) -> None:
        period = 600
        start = datetime.fromtimestamp(3_000_000 * period, tz=UTC)
        t = issue_token(SECRET, SESSION, start + timedelta(seconds=250), period)
        assert t.refresh_in_seconds == 350
        assert t.valid_until == start + timedelta(seconds=2 * period)

    def test_same_period_same_code_next_period_new_code(self) -> None:
        a = issue_token(SECRET, SESSION, BOUNDARY, PERIOD).token
        b = issue_token(SECRET, SESSION, BOUNDARY + timedelta(seconds=PERIOD - 1), PERIOD).token
        c = issue_token(SECRET, SESSION, BOUNDARY + timedelta(seconds=PERIOD), PERIOD).token
        assert a == b != c

    def test_codes_differ_by_session_and_secret(self) -> None:
        a = issue_token(SECRET, SESSION, BOUNDARY, PERIOD).token
        assert issue_token(SECRET, OTHER, BOUNDARY, PERIOD).token != a
        assert (
            issue_token(b"another secret", SESSION, BOUNDARY, PERIOD).token.split(".")[2] != a.split(".")[2]
        )


class TestCheckToken:
    def issued(self, at: datetime = BOUNDARY, session: uuid.UUID = SESSION) -> str:
        return issue_token(SECRET, session, at, PERIOD).token

    def check(self, token: str, at: datetime, session: uuid.UUID = SESSION) -> TokenProblem | None:
        return check_token(SECRET, token, session, at, PERIOD)

    @pytest.mark.parametrize("seconds", [0, 1, 59, 60, 90, 119])
    def test_valid_in_its_own_period_and_the_next(self, seconds: int) -> None:
        assert self.check(self.issued(), BOUNDARY + timedelta(seconds=seconds)) is None

    def test_issued_late_in_a_period(self) -> None:
        token = self.issued(BOUNDARY + timedelta(seconds=59))
        assert self.check(token, BOUNDARY + timedelta(seconds=60)) is None
        assert self.check(token, BOUNDARY + timedelta(seconds=119)) is None
        assert self.check(token, BOUNDARY + timedelta(seconds=120)) is TokenProblem.EXPIRED

    @pytest.mark.parametrize("seconds", [120, 121, 179, 3600, 86400 * 30])
    def test_expired_two_periods_later(self, seconds: int) -> None:
        assert self.check(self.issued(), BOUNDARY + timedelta(seconds=seconds)) is TokenProblem.EXPIRED

    def test_another_sessions_valid_code(self) -> None:
        token = self.issued(session=OTHER)
        assert self.check(token, BOUNDARY) is TokenProblem.WRONG_SESSION
        assert self.check(token, BOUNDARY, session=OTHER) is None

    def test_tampered_signature(self) -> None:
        sid, window, sig = self.issued().split(".")
        for bad in (
            _swap_char(sig),
            sig[:-1],
            sig + "A",
            "",
            sig.upper() if sig != sig.upper() else sig.lower(),
        ):
            assert self.check(f"{sid}.{window}.{bad}", BOUNDARY) is TokenProblem.INVALID, bad

    def test_non_ascii_signature_is_invalid_not_an_error(self) -> None:
        sid, window, _ = self.issued().split(".")
        assert self.check(f"{sid}.{window}.签名", BOUNDARY) is TokenProblem.INVALID
        assert self.check(f"{sid}.{window}.é", BOUNDARY) is TokenProblem.INVALID

    def test_tampered_window(self) -> None:
        # Moving the window forward (to stretch a code's life) breaks the signature.
        sid, window, sig = self.issued().split(".")
        later = f"{sid}.{int(window) + 5}.{sig}"
        assert self.check(later, BOUNDARY + timedelta(seconds=5 * PERIOD)) is TokenProblem.INVALID

    def test_tampered_session(self) -> None:
        # Putting another session's id on a code breaks the signature: it is not WRONG_SESSION.
        _, window, sig = self.issued().split(".")
        assert self.check(f"{OTHER.hex}.{window}.{sig}", BOUNDARY, session=OTHER) is TokenProblem.INVALID

    @pytest.mark.parametrize(
        "garbage",
        [
            "",
            "hello",
            "a.b",
            "a.b.c",
            "a.b.c.d",
            "..",
            f"{SESSION.hex}.notanumber.sig",
            f"{SESSION.hex}..sig",
            "not-a-uuid.29000000.sig",
            f"{SESSION.hex}.29000000",
            f"{SESSION.hex}.29000000.sig.extra",
            "https://example.com/?token=x",
            "签到码",
        ],
    )
    def test_garbage(self, garbage: str) -> None:
        assert self.check(garbage, BOUNDARY) is TokenProblem.INVALID

    def test_wrong_secret(self) -> None:
        token = issue_token(b"someone else's secret", SESSION, BOUNDARY, PERIOD).token
        assert self.check(token, BOUNDARY) is TokenProblem.INVALID
        # Also for another session: without our secret it is not even WRONG_SESSION.
        other = issue_token(b"someone else's secret", OTHER, BOUNDARY, PERIOD).token
        assert self.check(other, BOUNDARY) is TokenProblem.INVALID

    @pytest.mark.parametrize("periods_ahead", [1, 2, 100])
    def test_future_window(self, periods_ahead: int) -> None:
        # A correctly signed code for a window that has not begun was never shown: not ours.
        token = self.issued(BOUNDARY + periods_ahead * timedelta(seconds=PERIOD))
        assert self.check(token, BOUNDARY) is TokenProblem.INVALID
        assert self.check(token, BOUNDARY + timedelta(seconds=PERIOD - 1)) is TokenProblem.INVALID
        # Once its window arrives, the same code is good.
        assert self.check(token, BOUNDARY + periods_ahead * timedelta(seconds=PERIOD)) is None
