"""Who may see and act on a ticket. Pure: facts in, yes or no out."""

import uuid
from dataclasses import dataclass
from typing import Any

from app.auth.permissions import Actor, Role, Scope, administers
from app.ticket.state import TicketAction, TicketStatus


@dataclass(frozen=True)
class TicketFacts:
    status: TicketStatus
    subdistrict_id: uuid.UUID
    community_id: uuid.UUID
    grid_id: uuid.UUID | None
    reporter_id: uuid.UUID
    assignee_id: uuid.UUID | None
    department_id: uuid.UUID | None

    @property
    def scope(self) -> Scope:
        return Scope(subdistrict_id=self.subdistrict_id, community_id=self.community_id)


def facts_of(t: Any) -> TicketFacts:
    """The facts of a ticket row (anything with the ticket's attributes)."""
    return TicketFacts(
        status=t.status,
        subdistrict_id=t.subdistrict_id,
        community_id=t.community_id,
        grid_id=t.grid_id,
        reporter_id=t.reporter_id,
        assignee_id=t.assignee_id,
        department_id=t.department_id,
    )


def works_here(actor: Actor, t: TicketFacts) -> bool:
    """A grid worker of the ticket's grid (or, for the community duty queue, of its community)."""
    if Role.GRID_WORKER not in actor.roles:
        return False
    if t.grid_id is not None:
        return t.grid_id in actor.grid_ids
    return t.community_id in actor.worker_community_ids


def is_department_on_it(actor: Actor, t: TicketFacts) -> bool:
    return t.department_id is not None and t.department_id in actor.department_ids


def can_view(actor: Actor, t: TicketFacts) -> bool:
    """Full view with the private parts (reporter, exact address, photos)."""
    return (
        actor.user_id in (t.reporter_id, t.assignee_id)
        or works_here(actor, t)
        or administers(actor, t.scope)
        or is_department_on_it(actor, t)
    )


def sees_contact(actor: Actor, t: TicketFacts) -> bool:
    """Full phone numbers of the reporter: the handler and the community's staff."""
    return actor.user_id in (t.reporter_id, t.assignee_id) or administers(actor, t.scope)


def _is_handler(actor: Actor, t: TicketFacts) -> bool:
    return t.assignee_id == actor.user_id


_RULES = {
    TicketAction.CLAIM: works_here,
    TicketAction.ASSIGN: lambda a, t: administers(a, t.scope),
    TicketAction.ARRIVE: _is_handler,
    TicketAction.RESOLVE: lambda a, t: _is_handler(a, t) or administers(a, t.scope),
    TicketAction.ESCALATE: lambda a, t: _is_handler(a, t) or administers(a, t.scope),
    TicketAction.ACCEPT_ESCALATION: is_department_on_it,
    TicketAction.DEPARTMENT_RESOLVE: is_department_on_it,
    TicketAction.RECALL: lambda a, t: administers(a, t.scope),
    TicketAction.REJECT: lambda a, t: _is_handler(a, t) or administers(a, t.scope),
    TicketAction.MERGE: lambda a, t: administers(a, t.scope),
    TicketAction.CONFIRM: lambda a, t: a.user_id == t.reporter_id,
    TicketAction.REOPEN: lambda a, t: a.user_id == t.reporter_id,
    TicketAction.AUTO_CLOSE: lambda a, t: False,  # the sweeper only
}


def can_apply(actor: Actor, action: TicketAction, t: TicketFacts) -> bool:
    """True if this actor may take this action on this ticket (whatever its status)."""
    return _RULES[action](actor, t)


def may_report_for_others(actor: Actor) -> bool:
    """Staff and grid workers file reports for residents who phoned or came by."""
    return actor.is_staff or Role.GRID_WORKER in actor.roles
