"""Roles, the caller as an Actor, and the scope rules. Pure: no database, no web framework."""

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"
    CRAFTSMAN = "craftsman"
    TEACHER = "teacher"
    COMMUNITY_ADMIN = "community_admin"
    SUBDISTRICT_ADMIN = "subdistrict_admin"
    DEPARTMENT_STAFF = "department_staff"
    SUPERADMIN = "superadmin"


class ScopeKind(StrEnum):
    NONE = "none"
    COMMUNITY = "community"
    SUBDISTRICT = "subdistrict"
    DEPARTMENT = "department"


# What each role's grant is scoped to. Grid workers are additionally bound to grids.
ROLE_SCOPE: dict[Role, ScopeKind] = {
    Role.RESIDENT: ScopeKind.NONE,
    Role.GRID_WORKER: ScopeKind.COMMUNITY,
    Role.CRAFTSMAN: ScopeKind.SUBDISTRICT,
    Role.TEACHER: ScopeKind.COMMUNITY,
    Role.COMMUNITY_ADMIN: ScopeKind.COMMUNITY,
    Role.SUBDISTRICT_ADMIN: ScopeKind.SUBDISTRICT,
    Role.DEPARTMENT_STAFF: ScopeKind.DEPARTMENT,
    Role.SUPERADMIN: ScopeKind.NONE,
}

# Which roles an administrator may grant (always within their own scope).
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.SUPERADMIN: frozenset(Role),
    Role.SUBDISTRICT_ADMIN: frozenset(Role) - {Role.SUPERADMIN},
    # Craftsmen serve the whole subdistrict, so only subdistrict admins grant that role.
    Role.COMMUNITY_ADMIN: frozenset({Role.RESIDENT, Role.GRID_WORKER, Role.TEACHER}),
}

STAFF_ROLES = frozenset(
    {Role.COMMUNITY_ADMIN, Role.SUBDISTRICT_ADMIN, Role.DEPARTMENT_STAFF, Role.SUPERADMIN}
)
ADMIN_ROLES = frozenset({Role.COMMUNITY_ADMIN, Role.SUBDISTRICT_ADMIN, Role.SUPERADMIN})


class CareCategory(StrEnum):
    """彩虹网格 care categories: sensitive, shown to staff in scope only."""

    LIVING_ALONE = "living_alone"  # 孤寡
    EMPTY_NEST = "empty_nest"  # 空巢
    LOW_INCOME = "low_income"  # 贫困
    DISABLED = "disabled"  # 残疾
    SPECIAL_ATTENTION = "special_attention"  # 管控
    MILITARY_FAMILY = "military_family"  # 军烈属
    GENERAL = "general"  # 一般户


@dataclass(frozen=True)
class Scope:
    """Where an organisation object sits: the ids of its community and subdistrict."""

    subdistrict_id: uuid.UUID | None = None
    community_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Actor:
    """The authenticated caller with the scopes their roles give them."""

    user_id: uuid.UUID
    roles: frozenset[Role]
    subdistrict_ids: frozenset[uuid.UUID] = frozenset()  # subdistrict_admin
    community_ids: frozenset[uuid.UUID] = frozenset()  # community_admin
    department_ids: frozenset[uuid.UUID] = frozenset()  # department_staff
    worker_community_ids: frozenset[uuid.UUID] = frozenset()  # grid_worker / teacher
    grid_ids: frozenset[uuid.UUID] = frozenset()  # grids the grid worker works in
    craftsman_subdistrict_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    teacher_community_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)  # 菜鸟学堂 teachers

    @property
    def is_superadmin(self) -> bool:
        return Role.SUPERADMIN in self.roles

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)


def administers(actor: Actor, scope: Scope) -> bool:
    """True if the actor may manage objects in this scope (community or subdistrict level)."""
    if actor.is_superadmin:
        return True
    if scope.subdistrict_id is not None and scope.subdistrict_id in actor.subdistrict_ids:
        return True
    return scope.community_id is not None and scope.community_id in actor.community_ids


def administers_subdistrict(actor: Actor, subdistrict_id: uuid.UUID) -> bool:
    """True if the actor manages the whole subdistrict (communities, departments, categories)."""
    return actor.is_superadmin or subdistrict_id in actor.subdistrict_ids


def can_grant(actor: Actor, role: Role, scope: Scope) -> bool:
    """True if the actor may give `role` scoped to `scope`.

    Each administrative role is checked on its own: what a role may grant and where it applies
    are not mixed across roles (a subdistrict admin of S2 who also runs community C1 may not make
    community admins in C1)."""
    if actor.is_superadmin:
        return True
    kind = ROLE_SCOPE[role]
    if (
        Role.SUBDISTRICT_ADMIN in actor.roles
        and role in GRANTABLE[Role.SUBDISTRICT_ADMIN]
        and (kind is ScopeKind.NONE or scope.subdistrict_id in actor.subdistrict_ids)
    ):
        return True
    return (
        Role.COMMUNITY_ADMIN in actor.roles
        and role in GRANTABLE[Role.COMMUNITY_ADMIN]
        and (
            kind is ScopeKind.NONE
            or (kind is ScopeKind.COMMUNITY and scope.community_id in actor.community_ids)
        )
    )


def mask_phone(phone: str | None) -> str | None:
    """138****8000: the form shown to people who need not see the number."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_address(address: str | None) -> str | None:
    """Keep the first part (compound) and hide the rest (building and door number)."""
    if not address:
        return address
    keep = max(1, len(address) // 3)
    return address[:keep] + "*" * 4


def can_see_person(actor: Actor, scopes: list[Scope]) -> bool:
    """Staff see an account's personal data when it lives or works in a scope they administer."""
    return any(administers(actor, s) for s in scopes)
