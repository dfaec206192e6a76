"""菜鸟学堂 lifecycles as data: signups and one-on-one help requests. Pure."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from app.core import statemachine


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"  # 已报名（有座位）
    WAITLISTED = "waitlisted"  # 候补中
    ATTENDED = "attended"  # 已签到
    NO_SHOW = "no_show"  # 未到
    CANCELLED = "cancelled"  # 已取消


class SignupAction(StrEnum):
    PROMOTE = "promote"  # a seat came free (or staff moved them up)
    CANCEL = "cancel"
    CHECK_IN = "check_in"  # QR at the venue, or present at the teacher's roll call
    MARK_ABSENT = "mark_absent"  # absent at roll call, or no check-in when the session closed


S, A = SignupStatus, SignupAction

SIGNUP_TRANSITIONS: Final[Mapping[tuple[SignupStatus, SignupAction], SignupStatus]] = {
    (S.WAITLISTED, A.PROMOTE): S.CONFIRMED,
    (S.CONFIRMED, A.CANCEL): S.CANCELLED,
    (S.WAITLISTED, A.CANCEL): S.CANCELLED,
    (S.CONFIRMED, A.CHECK_IN): S.ATTENDED,
    (S.CONFIRMED, A.MARK_ABSENT): S.NO_SHOW,
    # The teacher's roll call corrects either way (a learner who came but could not scan).
    (S.NO_SHOW, A.CHECK_IN): S.ATTENDED,
    (S.ATTENDED, A.MARK_ABSENT): S.NO_SHOW,
}

SIGNUP_TERMINAL: Final = frozenset({S.CANCELLED})
# Holding a place in the session: blocks another signup of the same attendee to it or an
# overlapping one.
ACTIVE: Final = frozenset({S.CONFIRMED, S.WAITLISTED, S.ATTENDED, S.NO_SHOW})
# Taking a seat.
SEATED: Final = frozenset({S.CONFIRMED, S.ATTENDED, S.NO_SHOW})


class HelpStatus(StrEnum):
    OPEN = "open"  # 待认领
    CLAIMED = "claimed"  # 志愿者已认领，待约时间
    SCHEDULED = "scheduled"  # 已约时间
    DONE = "done"  # 已完成
    CANCELLED = "cancelled"  # 已取消


class HelpAction(StrEnum):
    CLAIM = "claim"
    RELEASE = "release"  # the volunteer gives it back
    SCHEDULE = "schedule"  # agree (or change) the time and place
    COMPLETE = "complete"
    CANCEL = "cancel"


H, HA = HelpStatus, HelpAction

HELP_TRANSITIONS: Final[Mapping[tuple[HelpStatus, HelpAction], HelpStatus]] = {
    (H.OPEN, HA.CLAIM): H.CLAIMED,
    (H.CLAIMED, HA.RELEASE): H.OPEN,
    (H.SCHEDULED, HA.RELEASE): H.OPEN,
    (H.CLAIMED, HA.SCHEDULE): H.SCHEDULED,
    (H.SCHEDULED, HA.SCHEDULE): H.SCHEDULED,
    (H.CLAIMED, HA.COMPLETE): H.DONE,
    (H.SCHEDULED, HA.COMPLETE): H.DONE,
    (H.OPEN, HA.CANCEL): H.CANCELLED,
    (H.CLAIMED, HA.CANCEL): H.CANCELLED,
    (H.SCHEDULED, HA.CANCEL): H.CANCELLED,
}

HELP_TERMINAL: Final = frozenset({H.DONE, H.CANCELLED})
WITH_HELPER: Final = frozenset({H.CLAIMED, H.SCHEDULED})

InvalidTransition = statemachine.InvalidTransition


def next_signup_status(current: SignupStatus, action: SignupAction) -> SignupStatus:
    return statemachine.next_status(SIGNUP_TRANSITIONS, current, action)


def next_help_status(current: HelpStatus, action: HelpAction) -> HelpStatus:
    return statemachine.next_status(HELP_TRANSITIONS, current, action)


def signup_mermaid() -> str:
    """The signup table as a Mermaid diagram (kept in README.md). A signup starts confirmed or
    waitlisted, depending on the seats left."""
    lines = statemachine.mermaid(SIGNUP_TRANSITIONS, S.CONFIRMED, SIGNUP_TERMINAL).split("\n")
    lines.insert(2, f"    [*] --> {S.WAITLISTED.value}")
    return "\n".join(lines)


def help_mermaid() -> str:
    return statemachine.mermaid(HELP_TRANSITIONS, H.OPEN, HELP_TERMINAL)
