"""Who may see and act on a repair order. Pure: facts in, yes or no out."""

import uuid
from dataclasses import dataclass
from typing import Any

from app.auth.permissions import Actor, Scope, administers
from app.repair.state import WITH_CRAFTSMAN, RepairAction, RepairStatus


@dataclass(frozen=True)
class OrderFacts:
    status: RepairStatus
    subdistrict_id: uuid.UUID
    community_id: uuid.UUID
    category: str
    resident_id: uuid.UUID | None
    requested_by_id: uuid.UUID
    craftsman_id: uuid.UUID | None

    @property
    def scope(self) -> Scope:
        return Scope(subdistrict_id=self.subdistrict_id, community_id=self.community_id)


@dataclass(frozen=True)
class CraftsmanFacts:
    user_id: uuid.UUID
    subdistrict_id: uuid.UUID
    skills: frozenset[str]
    community_ids: frozenset[uuid.UUID]  # empty: the whole subdistrict
    is_active: bool
    max_active_orders: int


def facts_of(o: Any) -> OrderFacts:
    return OrderFacts(
        status=o.status,
        subdistrict_id=o.subdistrict_id,
        community_id=o.community_id,
        category=str(o.category),
        resident_id=o.resident_id,
        requested_by_id=o.requested_by_id,
        craftsman_id=o.craftsman_id,
    )


def craftsman_facts(c: Any) -> CraftsmanFacts:
    return CraftsmanFacts(
        user_id=c.user_id,
        subdistrict_id=c.subdistrict_id,
        skills=frozenset(c.skills or ()),
        community_ids=frozenset(uuid.UUID(str(x)) for x in (c.community_ids or ())),
        is_active=c.is_active,
        max_active_orders=c.max_active_orders,
    )


def fits(c: CraftsmanFacts | None, o: OrderFacts) -> bool:
    """The craftsman repairs this kind of thing in this community."""
    return (
        c is not None
        and c.is_active
        and c.subdistrict_id == o.subdistrict_id
        and o.category in c.skills
        and (not c.community_ids or o.community_id in c.community_ids)
    )


def is_household(actor: Actor, o: OrderFacts) -> bool:
    return actor.user_id in (o.resident_id, o.requested_by_id)


def is_staff_for(actor: Actor, o: OrderFacts) -> bool:
    return administers(actor, o.scope)


def is_assigned(actor: Actor, o: OrderFacts) -> bool:
    return o.craftsman_id is not None and o.craftsman_id == actor.user_id


def sees_contact(actor: Actor, o: OrderFacts) -> bool:
    """Name, phone and full address: the household, staff in scope, and the assigned craftsman
    while the work is theirs (from acceptance until it is done)."""
    return (
        is_household(actor, o)
        or is_staff_for(actor, o)
        or (is_assigned(actor, o) and o.status in WITH_CRAFTSMAN)
    )


def can_view(actor: Actor, o: OrderFacts, craftsman: CraftsmanFacts | None) -> bool:
    """See the order at all: those above, the craftsman who did it, and craftsmen it fits while
    it waits in the pool (they see what and where, not who)."""
    return (
        sees_contact(actor, o)
        or is_assigned(actor, o)
        or (o.status is RepairStatus.REQUESTED and fits(craftsman, o))
    )


def _household_or_staff(a: Actor, o: OrderFacts, c: CraftsmanFacts | None) -> bool:
    return is_household(a, o) or is_staff_for(a, o)


def _assigned(a: Actor, o: OrderFacts, c: CraftsmanFacts | None) -> bool:
    return is_assigned(a, o)


def _assigned_or_staff(a: Actor, o: OrderFacts, c: CraftsmanFacts | None) -> bool:
    return is_assigned(a, o) or is_staff_for(a, o)


A = RepairAction
_RULES = {
    # Nobody repairs (and collects the subsidy for) their own household's order.
    A.ACCEPT: lambda a, o, c: fits(c, o) and not is_household(a, o),
    A.ASSIGN: lambda a, o, c: is_staff_for(a, o),
    A.HAND_BACK: _assigned_or_staff,
    A.SCHEDULE: lambda a, o, c: is_assigned(a, o) or _household_or_staff(a, o, c),
    A.CRAFTSMAN_NO_SHOW: _household_or_staff,
    A.RESIDENT_ABSENT: _assigned,
    A.ARRIVE: _assigned,
    A.QUOTE: _assigned,
    A.CONFIRM_QUOTE: _household_or_staff,
    A.DECLINE_QUOTE: _household_or_staff,
    A.COMPLETE: _assigned,
    A.SETTLE: _assigned_or_staff,
    A.RATE: lambda a, o, c: is_household(a, o) or (o.resident_id is None and is_staff_for(a, o)),
    A.CANCEL: _household_or_staff,
}


def can_apply(actor: Actor, action: RepairAction, o: OrderFacts, craftsman: CraftsmanFacts | None) -> bool:
    """True if this actor may take this action on this order (whatever its status)."""
    return _RULES[action](actor, o, craftsman)
