"""Ticket lifecycle as data: statuses, actions and the transition table. Pure."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from app.core import statemachine


class TicketStatus(StrEnum):
    SUBMITTED = "submitted"  # 待接单
    CLAIMED = "claimed"  # 已接单
    ON_SITE = "on_site"  # 已到场
    ESCALATED = "escalated"  # 已吹哨，等待部门报到
    DEPARTMENT_HANDLING = "department_handling"  # 部门已报到处理中
    DEPARTMENT_DONE = "department_done"  # 部门已处理，待社区销号
    RESOLVED = "resolved"  # 已办结，待居民确认
    CLOSED = "closed"  # 已关闭（已评价或超时自动关闭）
    REJECTED = "rejected"  # 不予受理
    MERGED = "merged"  # 已合并到其他工单


class TicketAction(StrEnum):
    CLAIM = "claim"
    ASSIGN = "assign"
    ARRIVE = "arrive"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    ACCEPT_ESCALATION = "accept_escalation"
    DEPARTMENT_RESOLVE = "department_resolve"
    RECALL = "recall"
    REJECT = "reject"
    MERGE = "merge"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    AUTO_CLOSE = "auto_close"


S, A = TicketStatus, TicketAction
_WORKING = (S.CLAIMED, S.ON_SITE)

TRANSITIONS: Final[Mapping[tuple[TicketStatus, TicketAction], TicketStatus]] = {
    (S.SUBMITTED, A.CLAIM): S.CLAIMED,
    (S.SUBMITTED, A.ASSIGN): S.CLAIMED,
    (S.CLAIMED, A.ASSIGN): S.CLAIMED,
    (S.ON_SITE, A.ASSIGN): S.CLAIMED,
    (S.CLAIMED, A.ARRIVE): S.ON_SITE,
    (S.CLAIMED, A.RESOLVE): S.RESOLVED,
    (S.ON_SITE, A.RESOLVE): S.RESOLVED,
    (S.DEPARTMENT_DONE, A.RESOLVE): S.RESOLVED,  # 销号 by the community after the department
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

TERMINAL: Final = frozenset({S.CLOSED, S.REJECTED, S.MERGED})
# Statuses in which the ticket is still someone's open work (counts for the resolve clock).
OPEN: Final = frozenset(set(S) - TERMINAL - {S.RESOLVED})
# Statuses whose ticket waits for a grid worker to respond (the 10-minute clock runs).
AWAITING_RESPONSE: Final = frozenset({S.SUBMITTED})
# Actions that count as the first response to a report.
RESPONDING_ACTIONS: Final = frozenset({A.CLAIM, A.ASSIGN, A.ESCALATE})


InvalidTransition = statemachine.InvalidTransition


def next_status(current: TicketStatus, action: TicketAction) -> TicketStatus:
    """The status after `action`, or InvalidTransition."""
    return statemachine.next_status(TRANSITIONS, current, action)


def mermaid() -> str:
    """The transition table as a Mermaid state diagram (kept in README.md)."""
    return statemachine.mermaid(TRANSITIONS, S.SUBMITTED, TERMINAL)
