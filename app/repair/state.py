"""乐修匠 order lifecycle as data: statuses, actions and the transition table. Pure."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from app.core import statemachine


class RepairStatus(StrEnum):
    REQUESTED = "requested"  # 待接单
    ACCEPTED = "accepted"  # 已接单，待约时间
    SCHEDULED = "scheduled"  # 已约上门时间
    ON_SITE = "on_site"  # 师傅已上门
    QUOTED = "quoted"  # 已报价，待居民确认
    IN_PROGRESS = "in_progress"  # 维修中
    COMPLETED = "completed"  # 已完工，待结算
    SETTLED = "settled"  # 已结算，待评价
    RATED = "rated"  # 已评价
    CANCELLED = "cancelled"  # 已取消


class RepairAction(StrEnum):
    ACCEPT = "accept"  # a craftsman takes an open order
    ASSIGN = "assign"  # staff give the order to a craftsman
    HAND_BACK = "hand_back"  # the craftsman returns the order to the pool
    SCHEDULE = "schedule"  # agree (or change) the visit time
    CRAFTSMAN_NO_SHOW = "craftsman_no_show"  # the craftsman did not come: back to the pool
    RESIDENT_ABSENT = "resident_absent"  # nobody home: a new time is needed
    ARRIVE = "arrive"
    QUOTE = "quote"  # price the work from the price list (again, while not confirmed)
    CONFIRM_QUOTE = "confirm_quote"
    DECLINE_QUOTE = "decline_quote"
    COMPLETE = "complete"
    SETTLE = "settle"
    RATE = "rate"
    CANCEL = "cancel"


S, A = RepairStatus, RepairAction

TRANSITIONS: Final[Mapping[tuple[RepairStatus, RepairAction], RepairStatus]] = {
    (S.REQUESTED, A.ACCEPT): S.ACCEPTED,
    (S.REQUESTED, A.ASSIGN): S.ACCEPTED,
    (S.ACCEPTED, A.ASSIGN): S.ACCEPTED,
    (S.SCHEDULED, A.ASSIGN): S.ACCEPTED,
    (S.ACCEPTED, A.HAND_BACK): S.REQUESTED,
    (S.SCHEDULED, A.HAND_BACK): S.REQUESTED,
    (S.ACCEPTED, A.SCHEDULE): S.SCHEDULED,
    (S.SCHEDULED, A.SCHEDULE): S.SCHEDULED,  # reschedule
    (S.SCHEDULED, A.CRAFTSMAN_NO_SHOW): S.REQUESTED,
    (S.SCHEDULED, A.RESIDENT_ABSENT): S.ACCEPTED,
    (S.SCHEDULED, A.ARRIVE): S.ON_SITE,
    (S.ON_SITE, A.QUOTE): S.QUOTED,
    (S.QUOTED, A.QUOTE): S.QUOTED,  # a corrected quote replaces the previous one
    (S.QUOTED, A.CONFIRM_QUOTE): S.IN_PROGRESS,
    (S.QUOTED, A.DECLINE_QUOTE): S.CANCELLED,
    (S.IN_PROGRESS, A.COMPLETE): S.COMPLETED,
    (S.COMPLETED, A.SETTLE): S.SETTLED,
    (S.SETTLED, A.RATE): S.RATED,
    # Cancelling: who may cancel in which status is a policy (residents only before on_site).
    (S.REQUESTED, A.CANCEL): S.CANCELLED,
    (S.ACCEPTED, A.CANCEL): S.CANCELLED,
    (S.SCHEDULED, A.CANCEL): S.CANCELLED,
    (S.ON_SITE, A.CANCEL): S.CANCELLED,
    (S.QUOTED, A.CANCEL): S.CANCELLED,
    (S.IN_PROGRESS, A.CANCEL): S.CANCELLED,
}

TERMINAL: Final = frozenset({S.RATED, S.CANCELLED})
# The craftsman is busy with it: counts towards their workload cap.
ACTIVE: Final = frozenset({S.ACCEPTED, S.SCHEDULED, S.ON_SITE, S.QUOTED, S.IN_PROGRESS})
# Until the craftsman is at the door, the resident may change their mind.
RESIDENT_MAY_CANCEL: Final = frozenset({S.REQUESTED, S.ACCEPTED, S.SCHEDULED})
# The address and phone are the assigned craftsman's from acceptance until the work is settled.
WITH_CRAFTSMAN: Final = ACTIVE | {S.COMPLETED}


InvalidTransition = statemachine.InvalidTransition


def next_status(current: RepairStatus, action: RepairAction) -> RepairStatus:
    """The status after `action`, or InvalidTransition."""
    return statemachine.next_status(TRANSITIONS, current, action)


def mermaid() -> str:
    """The transition table as a Mermaid state diagram (kept in README.md)."""
    return statemachine.mermaid(TRANSITIONS, S.REQUESTED, TERMINAL)
