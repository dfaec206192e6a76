"""The pure scope rules: who may grant which role where, who administers what, and masking."""

import uuid

import pytest

from app.auth.permissions import (
    GRANTABLE,
    ROLE_SCOPE,
    Actor,
    Role,
    Scope,
    ScopeKind,
    administers,
    can_grant,
    mask_address,
    mask_phone,
)

# Two subdistricts: S1 with communities C1, C2 and department D1; S2 with C3 and D2.
S1, S2 = uuid.uuid4(), uuid.uuid4()
C1, C2, C3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
D1, D2 = uuid.uuid4(), uuid.uuid4()

IN_C1 = Scope(subdistrict_id=S1, community_id=C1)
IN_C2 = Scope(subdistrict_id=S1, community_id=C2)
IN_C3 = Scope(subdistrict_id=S2, community_id=C3)
IN_S1 = Scope(subdistrict_id=S1)
IN_S2 = Scope(subdistrict_id=S2)
IN_D1 = Scope(subdistrict_id=S1, department_id=D1)
IN_D2 = Scope(subdistrict_id=S2, department_id=D2)
NO_SCOPE = Scope()

# The scope a grant of each role would carry, in "our" part of the map (S1 / C1 / D1) and elsewhere.
HOME = {
    ScopeKind.NONE: NO_SCOPE,
    ScopeKind.COMMUNITY: IN_C1,
    ScopeKind.SUBDISTRICT: IN_S1,
    ScopeKind.DEPARTMENT: IN_D1,
}
OTHER_SUBDISTRICT = {
    ScopeKind.NONE: NO_SCOPE,
    ScopeKind.COMMUNITY: IN_C3,
    ScopeKind.SUBDISTRICT: IN_S2,
    ScopeKind.DEPARTMENT: IN_D2,
}


def actor(*roles: Role, **scopes: frozenset[uuid.UUID]) -> Actor:
    return Actor(user_id=uuid.uuid4(), roles=frozenset(roles), **scopes)


SUPERADMIN = actor(Role.SUPERADMIN)
S1_ADMIN = actor(Role.SUBDISTRICT_ADMIN, subdistrict_ids=frozenset({S1}))
C1_ADMIN = actor(Role.COMMUNITY_ADMIN, community_ids=frozenset({C1}))
C1_WORKER = actor(Role.GRID_WORKER, worker_community_ids=frozenset({C1}))
D1_STAFF = actor(Role.DEPARTMENT_STAFF, department_ids=frozenset({D1}))
RESIDENT = actor(Role.RESIDENT)
TEACHER = actor(Role.TEACHER, worker_community_ids=frozenset({C1}))
CRAFTSMAN = actor(Role.CRAFTSMAN, craftsman_subdistrict_ids=frozenset({S1}))


class TestRoleTables:
    def test_every_role_has_a_scope_kind(self) -> None:
        assert set(ROLE_SCOPE) == set(Role)

    def test_only_administrators_have_grantable_roles(self) -> None:
        assert set(GRANTABLE) == {Role.SUPERADMIN, Role.SUBDISTRICT_ADMIN, Role.COMMUNITY_ADMIN}


class TestCanGrantSuperadmin:
    @pytest.mark.parametrize("role", list(Role))
    @pytest.mark.parametrize("where", [HOME, OTHER_SUBDISTRICT], ids=["s1", "s2"])
    def test_grants_every_role_anywhere(self, role: Role, where: dict[ScopeKind, Scope]) -> None:
        assert can_grant(SUPERADMIN, role, where[ROLE_SCOPE[role]]) is True


class TestCanGrantSubdistrictAdmin:
    @pytest.mark.parametrize("role", sorted(set(Role) - {Role.SUPERADMIN}))
    def test_grants_every_role_but_superadmin_inside_its_subdistrict(self, role: Role) -> None:
        assert can_grant(S1_ADMIN, role, HOME[ROLE_SCOPE[role]]) is True

    @pytest.mark.parametrize("scope", [IN_C2, IN_S1, NO_SCOPE])
    def test_never_grants_superadmin(self, scope: Scope) -> None:
        assert can_grant(S1_ADMIN, Role.SUPERADMIN, scope) is False

    @pytest.mark.parametrize(
        ("role", "scope"),
        [
            (Role.GRID_WORKER, IN_C3),
            (Role.TEACHER, IN_C3),
            (Role.COMMUNITY_ADMIN, IN_C3),
            (Role.CRAFTSMAN, IN_S2),
            (Role.SUBDISTRICT_ADMIN, IN_S2),
            (Role.DEPARTMENT_STAFF, IN_D2),
        ],
    )
    def test_grants_nothing_scoped_to_another_subdistrict(self, role: Role, scope: Scope) -> None:
        assert can_grant(S1_ADMIN, role, scope) is False

    def test_grants_community_roles_in_every_community_of_its_subdistrict(self) -> None:
        assert can_grant(S1_ADMIN, Role.COMMUNITY_ADMIN, IN_C2) is True
        assert can_grant(S1_ADMIN, Role.GRID_WORKER, IN_C2) is True


class TestCanGrantCommunityAdmin:
    @pytest.mark.parametrize(
        ("role", "scope"),
        [
            (Role.RESIDENT, NO_SCOPE),
            (Role.GRID_WORKER, IN_C1),
            (Role.TEACHER, IN_C1),
        ],
    )
    def test_grants_resident_grid_worker_and_teacher_in_its_community(self, role: Role, scope: Scope) -> None:
        assert can_grant(C1_ADMIN, role, scope) is True

    @pytest.mark.parametrize("role", [Role.GRID_WORKER, Role.TEACHER])
    @pytest.mark.parametrize("scope", [IN_C2, IN_C3], ids=["same-subdistrict", "other-subdistrict"])
    def test_grants_community_roles_only_in_its_own_community(self, role: Role, scope: Scope) -> None:
        assert can_grant(C1_ADMIN, role, scope) is False

    @pytest.mark.parametrize("scope", [IN_S1, IN_S2])
    def test_cannot_grant_craftsman_which_is_subdistrict_scoped(self, scope: Scope) -> None:
        assert can_grant(C1_ADMIN, Role.CRAFTSMAN, scope) is False

    @pytest.mark.parametrize(
        ("role", "scope"),
        [
            (Role.COMMUNITY_ADMIN, IN_C1),
            (Role.SUBDISTRICT_ADMIN, IN_S1),
            (Role.DEPARTMENT_STAFF, IN_D1),
            (Role.SUPERADMIN, NO_SCOPE),
        ],
    )
    def test_cannot_grant_administrative_roles_even_in_its_own_area(self, role: Role, scope: Scope) -> None:
        assert can_grant(C1_ADMIN, role, scope) is False

    def test_a_second_admin_role_elsewhere_does_not_widen_what_it_grants_in_its_community(self) -> None:
        # Administering S2 lets this person make community admins in S2, not in C1 (S1).
        both = actor(
            Role.COMMUNITY_ADMIN,
            Role.SUBDISTRICT_ADMIN,
            community_ids=frozenset({C1}),
            subdistrict_ids=frozenset({S2}),
        )
        assert can_grant(both, Role.COMMUNITY_ADMIN, IN_C3) is True
        assert can_grant(both, Role.COMMUNITY_ADMIN, IN_C1) is False
        assert can_grant(both, Role.GRID_WORKER, IN_C1) is True


class TestCanGrantNonAdministrators:
    @pytest.mark.parametrize(
        "who",
        [C1_WORKER, D1_STAFF, RESIDENT, TEACHER, CRAFTSMAN],
        ids=["grid_worker", "department_staff", "resident", "teacher", "craftsman"],
    )
    @pytest.mark.parametrize("role", list(Role))
    def test_grant_nothing(self, who: Actor, role: Role) -> None:
        assert can_grant(who, role, HOME[ROLE_SCOPE[role]]) is False


class TestAdministers:
    @pytest.mark.parametrize(
        ("who", "scope", "expected"),
        [
            (SUPERADMIN, IN_C3, True),
            (SUPERADMIN, NO_SCOPE, True),
            (S1_ADMIN, IN_C1, True),
            (S1_ADMIN, IN_C2, True),
            (S1_ADMIN, IN_S1, True),
            (S1_ADMIN, IN_D1, True),
            (S1_ADMIN, IN_C3, False),
            (S1_ADMIN, IN_S2, False),
            (S1_ADMIN, NO_SCOPE, False),
            (C1_ADMIN, IN_C1, True),
            (C1_ADMIN, Scope(community_id=C1), True),
            (C1_ADMIN, IN_C2, False),
            (C1_ADMIN, IN_S1, False),
            (C1_ADMIN, IN_D1, False),
            (C1_ADMIN, NO_SCOPE, False),
            (C1_WORKER, IN_C1, False),
            (D1_STAFF, IN_D1, False),
            (RESIDENT, IN_C1, False),
        ],
    )
    def test_table(self, who: Actor, scope: Scope, expected: bool) -> None:
        assert administers(who, scope) is expected


class TestMaskPhone:
    @pytest.mark.parametrize(
        ("phone", "masked"),
        [
            ("13912345678", "139****5678"),
            ("13700001111", "137****1111"),
            ("02988881234", "029****1234"),
        ],
    )
    def test_keeps_the_first_three_and_last_four_digits(self, phone: str, masked: str) -> None:
        assert mask_phone(phone) == masked

    @pytest.mark.parametrize("phone", [None, ""])
    def test_nothing_to_mask_is_returned_as_is(self, phone: str | None) -> None:
        assert mask_phone(phone) == phone

    @pytest.mark.parametrize("phone", ["1", "12", "123456"])
    def test_short_numbers_are_hidden_entirely(self, phone: str) -> None:
        assert mask_phone(phone) == "*" * len(phone)

    @pytest.mark.parametrize("phone", ["1234567", "12345678", "13912345678"])
    def test_never_reveals_the_whole_number(self, phone: str) -> None:
        masked = mask_phone(phone)
        assert masked is not None and masked != phone
        assert len(masked) == len(phone) and "*" in masked


class TestMaskAddress:
    def test_keeps_the_compound_and_hides_building_and_door(self) -> None:
        address = "西一路小区1号楼2单元301"
        assert mask_address(address) == "西一路小****"

    @pytest.mark.parametrize("address", [None, ""])
    def test_nothing_to_mask_is_returned_as_is(self, address: str | None) -> None:
        assert mask_address(address) == address

    @pytest.mark.parametrize("address", ["幸福里3号", "a" * 30, "西一路小区1号楼2单元301"])
    def test_reveals_at_most_a_third(self, address: str) -> None:
        masked = mask_address(address)
        assert masked is not None and masked.endswith("****")
        shown = masked.removesuffix("****")
        assert address.startswith(shown) and len(shown) <= len(address) // 3
