"""Own profile (/me) and staff-managed accounts (/users): scope, masking, roles and logging out."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import CareCategory, Role
from app.user.models import GridMember, User, UserIdentity, UserRole
from tests.factories import World, bearer, make_building, make_user, make_world

ME = "/api/v1/me"
USERS = "/api/v1/users"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
WECHAT_LOGIN = "/api/v1/auth/wechat/login"
PASSWORD = "correct-horse-1"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    return body


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(TOKEN, data={"username": username, "password": password})


async def _list_all(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every account the caller may list, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": params.get("limit", 100), **({"cursor": cursor} if cursor else {})}
        r = await client.get(USERS, headers=headers, params=query)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def _reload(session: AsyncSession, user: User) -> User:
    await session.refresh(user)
    return user


async def _role_rows(session: AsyncSession, user: User) -> list[tuple[Role, uuid.UUID | None]]:
    rows = await session.execute(
        select(UserRole.role, UserRole.community_id).where(UserRole.user_id == user.id)
    )
    return sorted((role, cid) for role, cid in rows)


def _grid_worker(community_id: uuid.UUID) -> dict[str, Any]:
    return {"role": "grid_worker", "community_id": str(community_id)}


@pytest.fixture
async def w(session: AsyncSession) -> World:
    return await make_world(session)


class TestMe:
    async def test_shows_the_callers_own_phone_and_address_unmasked(self, client, settings, clock, w) -> None:
        r = await client.get(ME, headers=bearer(settings, clock, w.resident))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == str(w.resident.id)
        assert body["phone"] == "13912345678"
        assert body["address"] == "西一路小区1号楼2单元301"
        assert body["home_community_id"] == str(w.c1.id)
        assert [g["role"] for g in body["roles"]] == ["resident"]

    async def test_never_shows_the_care_category_even_to_its_subject(
        self, client, settings, clock, w
    ) -> None:
        r = await client.get(ME, headers=bearer(settings, clock, w.resident))
        assert r.status_code == 200
        assert "care_category" not in r.json()
        assert "living_alone" not in r.text

    async def test_a_grid_worker_sees_their_grids_and_community_role(
        self, client, settings, clock, w
    ) -> None:
        body = (await client.get(ME, headers=bearer(settings, clock, w.worker))).json()
        assert body["grid_ids"] == [str(w.g1.id)]
        assert [(g["role"], g["community_id"]) for g in body["roles"]] == [("grid_worker", str(w.c1.id))]

    async def test_requires_a_token(self, client, w) -> None:
        _error(await client.get(ME), 401, "auth.token_missing")

    async def test_patch_changes_name_phone_and_home(self, client, settings, clock, session, w) -> None:
        building = await make_building(session, w.c2)
        await session.commit()
        r = await client.patch(
            ME,
            headers=bearer(settings, clock, w.resident),
            json={
                "display_name": "  新名字 ",
                "phone": "13800138000",
                "home_community_id": str(w.c2.id),
                "home_building_id": str(building.id),
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["display_name"] == "新名字"
        assert r.json()["phone"] == "13800138000"
        again = (await client.get(ME, headers=bearer(settings, clock, w.resident))).json()
        assert (again["display_name"], again["phone"]) == ("新名字", "13800138000")
        assert (again["home_community_id"], again["home_building_id"]) == (str(w.c2.id), str(building.id))
        user = await _reload(session, w.resident)
        assert (user.home_community_id, user.home_building_id) == (w.c2.id, building.id)

    async def test_moving_to_another_community_drops_the_old_building(
        self, client, settings, clock, session, w
    ) -> None:
        building = await make_building(session, w.c1)
        await session.commit()
        headers = bearer(settings, clock, w.resident)
        r = await client.patch(ME, headers=headers, json={"home_building_id": str(building.id)})
        assert r.status_code == 200, r.text
        assert r.json()["home_building_id"] == str(building.id)
        r = await client.patch(ME, headers=headers, json={"home_community_id": str(w.c2.id)})
        assert r.status_code == 200, r.text
        assert r.json()["home_community_id"] == str(w.c2.id)
        assert r.json()["home_building_id"] is None

    async def test_an_invalid_phone_is_refused_naming_the_field(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.patch(ME, headers=bearer(settings, clock, w.resident), json={"phone": "12345"})
        body = _error(r, 422, "request.invalid")
        assert body["details"]["errors"][0]["field"] == "phone"
        assert (await _reload(session, w.resident)).phone == "13912345678"

    async def test_a_building_of_another_community_is_refused(
        self, client, settings, clock, session, w
    ) -> None:
        elsewhere = await make_building(session, w.c2)
        await session.commit()
        r = await client.patch(
            ME, headers=bearer(settings, clock, w.resident), json={"home_building_id": str(elsewhere.id)}
        )
        _error(r, 422, "user.building_mismatch")
        assert (await _reload(session, w.resident)).home_building_id is None

    async def test_an_unknown_community_is_refused(self, client, settings, clock, w) -> None:
        r = await client.patch(
            ME, headers=bearer(settings, clock, w.resident), json={"home_community_id": str(uuid.uuid4())}
        )
        _error(r, 404, "org.community_not_found")

    async def test_unknown_fields_are_refused(self, client, settings, clock, session, w) -> None:
        r = await client.patch(
            ME,
            headers=bearer(settings, clock, w.resident),
            json={"display_name": "x", "care_category": "general"},
        )
        body = _error(r, 422, "request.invalid")
        assert [(e["field"], e["type"]) for e in body["details"]["errors"]] == [
            ("care_category", "extra_forbidden")
        ]
        user = await _reload(session, w.resident)
        assert (user.display_name, user.care_category) == ("居民甲", CareCategory.LIVING_ALONE)

    @pytest.mark.parametrize("field", ["display_name"])
    async def test_a_required_field_cannot_be_cleared(
        self, client, settings, clock, session, w, field: str
    ) -> None:
        r = await client.patch(ME, headers=bearer(settings, clock, w.resident), json={field: None})
        body = _error(r, 422, "request.invalid")
        assert body["details"]["errors"][0]["field"] == field
        assert (await _reload(session, w.resident)).display_name == "居民甲"


class TestCreateUser:
    async def test_a_community_admin_opens_a_grid_worker_account_that_can_log_in(
        self, client, settings, clock, w
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "张网格",
                "username": " wg_zhang ",
                "password": PASSWORD,
                "phone": "13600001234",
                "roles": [_grid_worker(w.c1.id)],
            },
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["username"] == "wg_zhang"
        assert created["phone"] == "13600001234"
        assert [(g["role"], g["community_id"], g["subdistrict_id"]) for g in created["roles"]] == [
            ("grid_worker", str(w.c1.id), str(w.s1.id))
        ]

        login = await _login(client, "wg_zhang", PASSWORD)
        assert login.status_code == 200, login.text
        me = await client.get(ME, headers=_auth(login.json()["access_token"]))
        assert me.status_code == 200
        assert me.json()["id"] == created["id"]
        assert [g["role"] for g in me.json()["roles"]] == ["grid_worker"]

    async def test_a_community_admin_cannot_open_a_grid_worker_for_another_community(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "越权",
                "username": "wg_other",
                "password": PASSWORD,
                "roles": [_grid_worker(w.c2.id)],
            },
        )
        _error(r, 403, "user.role_not_grantable")
        assert await session.scalar(select(User.id).where(User.username == "wg_other")) is None

    async def test_a_community_admin_cannot_open_a_community_admin(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "新管理员",
                "username": "c1_admin2",
                "password": PASSWORD,
                "roles": [{"role": "community_admin", "community_id": str(w.c1.id)}],
            },
        )
        _error(r, 403, "user.role_not_grantable")
        assert await session.scalar(select(User.id).where(User.username == "c1_admin2")) is None

    async def test_a_community_admin_cannot_open_a_craftsman(self, client, settings, clock, w) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "乐修匠",
                "username": "fixer",
                "password": PASSWORD,
                "roles": [{"role": "craftsman", "subdistrict_id": str(w.s1.id)}],
            },
        )
        _error(r, 403, "user.role_not_grantable")

    async def test_a_community_admin_cannot_open_a_resident_living_outside_its_community(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "外区居民",
                "username": "far_away",
                "password": PASSWORD,
                "home_community_id": str(w.c3.id),
                "care_category": "low_income",
                "roles": [{"role": "resident"}],
            },
        )
        _error(r, 403, "user.role_not_grantable")
        assert await session.scalar(select(User.id).where(User.username == "far_away")) is None

    async def test_a_subdistrict_admin_opens_department_staff_for_its_department(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.sub_admin),
            json={
                "display_name": "城管员",
                "username": "dept_li",
                "password": PASSWORD,
                "roles": [{"role": "department_staff", "department_id": str(w.dept.id)}],
            },
        )
        assert r.status_code == 201, r.text
        assert [(g["role"], g["department_id"], g["subdistrict_id"]) for g in r.json()["roles"]] == [
            ("department_staff", str(w.dept.id), str(w.s1.id))
        ]
        grant = await session.scalar(select(UserRole).where(UserRole.user_id == uuid.UUID(r.json()["id"])))
        assert grant is not None and grant.department_id == w.dept.id

    @pytest.mark.parametrize(
        "roles",
        [
            [{"role": "grid_worker", "community_id": "C1"}],
            [{"role": "craftsman", "subdistrict_id": "S1"}],
            [{"role": "department_staff", "department_id": "DEPT"}],
        ],
        ids=["grid_worker", "craftsman", "department_staff"],
    )
    async def test_another_subdistricts_admin_cannot_open_accounts_here(
        self, client, settings, clock, session, w, roles: list[dict[str, str]]
    ) -> None:
        ids = {"C1": w.c1.id, "S1": w.s1.id, "DEPT": w.dept.id}
        roles = [{k: str(ids.get(v, v)) for k, v in g.items()} for g in roles]
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.s2_admin),
            json={
                "display_name": "越界",
                "username": "s2_made",
                "password": PASSWORD,
                "roles": roles,
            },
        )
        _error(r, 403, "user.role_not_grantable")
        assert await session.scalar(select(User.id).where(User.username == "s2_made")) is None

    @pytest.mark.parametrize("who", ["resident", "worker", "dept_staff"])
    async def test_non_administrators_cannot_open_accounts(
        self, client, settings, clock, w, who: str
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, getattr(w, who)),
            json={
                "display_name": "x",
                "username": "nobody1",
                "password": PASSWORD,
                "roles": [{"role": "resident"}],
            },
        )
        _error(r, 403, "auth.staff_only")

    async def test_a_taken_username_is_refused(self, client, settings, clock, app, session, w) -> None:
        await make_user(
            session, Role.RESIDENT, hasher=app.state.hasher, password=PASSWORD, username="taken_name"
        )
        await session.commit()
        before = await session.scalar(select(func.count(User.id)))
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "重名",
                "username": "taken_name",
                "password": PASSWORD,
                "roles": [_grid_worker(w.c1.id)],
            },
        )
        _error(r, 409, "user.username_taken")
        assert await session.scalar(select(func.count(User.id))) == before

    async def test_usernames_are_stored_lowercase_and_log_in_in_any_case(
        self, client, settings, clock, w
    ) -> None:
        # So "Taken_Name" can never sit beside "taken_name", and a user typing capitals still gets in.
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "大写",
                "username": "Taken_Name",
                "password": PASSWORD,
                "roles": [_grid_worker(w.c1.id)],
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["username"] == "taken_name"
        login = await client.post("/api/v1/auth/token", data={"username": "TAKEN_name", "password": PASSWORD})
        assert login.status_code == 200

    @pytest.mark.parametrize(
        "credentials",
        [
            {},
            {"username": "only_name"},
            {"password": PASSWORD},
        ],
        ids=["nothing", "username-only", "password-only"],
    )
    async def test_an_account_that_could_not_log_in_is_refused(
        self, client, settings, clock, w, credentials: dict[str, str]
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "无法登录",
                **credentials,
                "roles": [_grid_worker(w.c1.id)],
            },
        )
        body = _error(r, 422, "request.invalid")
        assert body["details"]["errors"][0]["type"] == "value_error"

    async def test_a_role_without_its_scope_is_refused(self, client, settings, clock, session, w) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "缺社区",
                "username": "no_scope",
                "password": PASSWORD,
                "roles": [{"role": "grid_worker"}],
            },
        )
        body = _error(r, 422, "user.role_scope_invalid")
        assert body["details"]["required"] == ["community_id"]
        assert await session.scalar(select(User.id).where(User.username == "no_scope")) is None

    async def test_a_role_with_a_scope_of_the_wrong_kind_is_refused(self, client, settings, clock, w) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.sub_admin),
            json={
                "display_name": "错范围",
                "username": "wrong_scope",
                "password": PASSWORD,
                "roles": [
                    {"role": "grid_worker", "community_id": str(w.c1.id), "subdistrict_id": str(w.s1.id)}
                ],
            },
        )
        _error(r, 422, "user.role_scope_invalid")

    async def test_a_pre_bound_openid_logs_in_to_the_created_account(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "微信网格员",
                "wechat_openid": "prebound-openid-1",
                "roles": [_grid_worker(w.c1.id)],
            },
        )
        assert r.status_code == 201, r.text
        users_before = await session.scalar(select(func.count(User.id)))

        login = await client.post(WECHAT_LOGIN, json={"code": "ok:prebound-openid-1"})
        assert login.status_code == 200, login.text
        assert login.json()["user"]["id"] == r.json()["id"]
        assert login.json()["is_new_user"] is False
        assert [g["role"] for g in login.json()["user"]["roles"]] == ["grid_worker"]
        assert await session.scalar(select(func.count(User.id))) == users_before

    async def test_an_openid_bound_to_someone_else_is_refused(
        self, client, settings, clock, session, w
    ) -> None:
        await make_user(session, Role.RESIDENT, openid="already-bound")
        await session.commit()
        r = await client.post(
            USERS,
            headers=bearer(settings, clock, w.c1_admin),
            json={
                "display_name": "抢绑",
                "wechat_openid": "already-bound",
                "roles": [_grid_worker(w.c1.id)],
            },
        )
        _error(r, 409, "user.openid_taken")
        owners = await session.scalars(
            select(UserIdentity.user_id).where(UserIdentity.subject == "already-bound")
        )
        assert len(list(owners)) == 1


class TestListUsers:
    async def test_a_community_admin_sees_its_residents_and_workers_in_full(
        self, client, settings, clock, w
    ) -> None:
        items = {u["id"]: u for u in await _list_all(client, bearer(settings, clock, w.c1_admin))}
        resident, worker = items[str(w.resident.id)], items[str(w.worker.id)]
        assert resident["phone"] == "13912345678"
        assert resident["address"] == "西一路小区1号楼2单元301"
        assert resident["care_category"] == "living_alone"
        assert worker["phone"] == "13700001111"
        assert worker["grid_ids"] == [str(w.g1.id)]

    async def test_a_community_admin_does_not_see_other_communities(self, client, settings, clock, w) -> None:
        ids = {u["id"] for u in await _list_all(client, bearer(settings, clock, w.c1_admin))}
        assert str(w.other_resident.id) not in ids
        assert str(w.c2_admin.id) not in ids
        assert str(w.s2_admin.id) not in ids

    async def test_a_subdistrict_admin_sees_only_its_subdistrict(self, client, settings, clock, w) -> None:
        s2_ids = {u["id"] for u in await _list_all(client, bearer(settings, clock, w.s2_admin))}
        assert str(w.other_resident.id) in s2_ids
        assert str(w.resident.id) not in s2_ids
        assert str(w.worker.id) not in s2_ids
        s1_ids = {u["id"] for u in await _list_all(client, bearer(settings, clock, w.sub_admin))}
        assert {
            str(w.resident.id),
            str(w.worker.id),
            str(w.c1_admin.id),
            str(w.c2_admin.id),
            str(w.dept_staff.id),
        } <= s1_ids
        assert str(w.other_resident.id) not in s1_ids

    async def test_an_out_of_scope_account_looks_the_same_as_a_missing_one(
        self, client, settings, clock, w
    ) -> None:
        headers = bearer(settings, clock, w.s2_admin)
        hidden = await client.get(f"{USERS}/{w.resident.id}", headers=headers)
        missing = await client.get(f"{USERS}/{uuid.uuid4()}", headers=headers)
        assert _error(hidden, 404, "user.not_found") == _error(missing, 404, "user.not_found")

    async def test_an_in_scope_account_can_be_read(self, client, settings, clock, w) -> None:
        r = await client.get(f"{USERS}/{w.resident.id}", headers=bearer(settings, clock, w.c1_admin))
        assert r.status_code == 200, r.text
        assert (r.json()["phone"], r.json()["care_category"]) == ("13912345678", "living_alone")

    @pytest.mark.parametrize("who", ["dept_staff", "worker", "resident"])
    async def test_non_administrators_cannot_list(self, client, settings, clock, w, who: str) -> None:
        headers = bearer(settings, clock, getattr(w, who))
        _error(await client.get(USERS, headers=headers), 403, "auth.staff_only")
        _error(await client.get(f"{USERS}/{w.resident.id}", headers=headers), 403, "auth.staff_only")

    async def test_filter_by_role(self, client, settings, clock, w) -> None:
        items = await _list_all(client, bearer(settings, clock, w.c1_admin), role="grid_worker")
        assert [u["id"] for u in items] == [str(w.worker.id)]

    async def test_filter_by_name_or_phone(self, client, settings, clock, w) -> None:
        headers = bearer(settings, clock, w.sub_admin)
        by_name = await _list_all(client, headers, q="居民甲")
        by_phone = await _list_all(client, headers, q="1370000")
        assert [u["id"] for u in by_name] == [str(w.resident.id)]
        assert [u["id"] for u in by_phone] == [str(w.worker.id)]

    @pytest.mark.parametrize("q", ["%", "_", "1370000_111", "%00"])
    async def test_wildcards_typed_in_the_search_are_text(self, client, settings, clock, w, q: str) -> None:
        items = await _list_all(client, bearer(settings, clock, w.sub_admin), q=q)
        assert items == []

    async def test_an_unknown_role_filter_is_refused(self, client, settings, clock, w) -> None:
        r = await client.get(USERS, headers=bearer(settings, clock, w.c1_admin), params={"role": "mayor"})
        _error(r, 422, "request.invalid")

    async def test_pages_of_one_walk_every_account_once(self, client, settings, clock, session, w) -> None:
        for n in range(3):
            await make_user(session, Role.RESIDENT, home=w.c1, display_name=f"翻页{n}")
        await session.commit()
        headers = bearer(settings, clock, w.sub_admin)
        everyone = [u["id"] for u in await _list_all(client, headers)]
        paged = [u["id"] for u in await _list_all(client, headers, limit=1)]
        assert len(paged) == len(set(paged))
        assert paged == everyone
        assert len(everyone) >= 9

    async def test_the_superadmin_sees_everyone(self, client, settings, clock, w) -> None:
        ids = {u["id"] for u in await _list_all(client, bearer(settings, clock, w.superadmin))}
        assert {str(w.resident.id), str(w.other_resident.id), str(w.s2_admin.id)} <= ids


class TestMasking:
    async def test_someone_working_in_the_admins_community_is_shown_in_full(
        self, client, settings, clock, session, w
    ) -> None:
        # Lives in C3 (another subdistrict) and teaches in C2: C2's admin sees them because of the role.
        teacher = await make_user(
            session,
            (Role.TEACHER, w.c2),
            home=w.c3,
            phone="13655556666",
            care=CareCategory.EMPTY_NEST,
            address="东大街5号院3栋",
        )
        await session.commit()
        items = {u["id"]: u for u in await _list_all(client, bearer(settings, clock, w.c2_admin))}
        seen = items[str(teacher.id)]
        assert seen["phone"] == "13655556666"
        assert seen["address"] == "东大街5号院3栋"
        assert seen["care_category"] == "empty_nest"

    # No masked case here: every account an administrator can list or read lives or holds a role in a
    # scope that administrator administers, so the service always shows it in full (see the report).


class TestUpdateUser:
    async def test_a_community_admin_sets_a_residents_care_category(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.patch(
            f"{USERS}/{w.resident.id}",
            headers=bearer(settings, clock, w.c1_admin),
            json={"care_category": "empty_nest"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["care_category"] == "empty_nest"
        assert (await _reload(session, w.resident)).care_category is CareCategory.EMPTY_NEST

    async def test_another_communitys_admin_cannot_edit_and_nothing_changes(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.patch(
            f"{USERS}/{w.resident.id}",
            headers=bearer(settings, clock, w.c2_admin),
            json={"care_category": "general", "is_active": False},
        )
        _error(r, 404, "user.not_found")
        user = await _reload(session, w.resident)
        assert (user.care_category, user.is_active, user.token_version) == (
            CareCategory.LIVING_ALONE,
            True,
            1,
        )

    async def test_an_admin_cannot_move_a_resident_out_of_its_scope(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.patch(
            f"{USERS}/{w.resident.id}",
            headers=bearer(settings, clock, w.c1_admin),
            json={"home_community_id": str(w.c3.id)},
        )
        _error(r, 403, "user.role_not_grantable")
        assert (await _reload(session, w.resident)).home_community_id == w.c1.id

    async def test_deactivating_logs_the_account_out_and_blocks_password_login(
        self, client, settings, clock, app, session, w
    ) -> None:
        member = await make_user(
            session,
            (Role.GRID_WORKER, w.c1),
            hasher=app.state.hasher,
            password=PASSWORD,
            username="to_deactivate",
            home=w.c1,
        )
        await session.commit()
        tokens = (await _login(client, "to_deactivate", PASSWORD)).json()
        assert (await client.get(ME, headers=_auth(tokens["access_token"]))).status_code == 200

        r = await client.patch(
            f"{USERS}/{member.id}", headers=bearer(settings, clock, w.c1_admin), json={"is_active": False}
        )
        assert r.status_code == 200, r.text
        assert r.json()["is_active"] is False
        assert (await _reload(session, member)).token_version == 2

        _error(await client.get(ME, headers=_auth(tokens["access_token"])), 401, "auth.token_invalid")
        _error(await _login(client, "to_deactivate", PASSWORD), 403, "auth.user_inactive")
        refreshed = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 401, refreshed.text

    async def test_a_new_password_ends_existing_logins(
        self, client, settings, clock, app, session, w
    ) -> None:
        member = await make_user(
            session,
            Role.RESIDENT,
            hasher=app.state.hasher,
            password=PASSWORD,
            username="forgetful",
            home=w.c1,
        )
        await session.commit()
        tokens = (await _login(client, "forgetful", PASSWORD)).json()

        r = await client.patch(
            f"{USERS}/{member.id}",
            headers=bearer(settings, clock, w.c1_admin),
            json={"password": "brand-new-pass"},
        )
        assert r.status_code == 200, r.text

        _error(
            await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}),
            401,
            "auth.refresh_invalid",
        )
        _error(await client.get(ME, headers=_auth(tokens["access_token"])), 401, "auth.token_invalid")
        _error(await _login(client, "forgetful", PASSWORD), 401, "auth.invalid_credentials")
        assert (await _login(client, "forgetful", "brand-new-pass")).status_code == 200

    async def test_a_community_admin_cannot_take_over_a_higher_account_living_in_its_community(
        self, client, settings, clock, app, session, w
    ) -> None:
        boss = await make_user(
            session,
            (Role.SUBDISTRICT_ADMIN, w.s1),
            hasher=app.state.hasher,
            password=PASSWORD,
            username="boss",
            home=w.c1,
        )
        await session.commit()
        headers = bearer(settings, clock, w.c1_admin)
        _error(
            await client.patch(f"{USERS}/{boss.id}", headers=headers, json={"password": "hijacked-123"}),
            403,
            "user.role_not_grantable",
        )
        _error(
            await client.patch(f"{USERS}/{boss.id}", headers=headers, json={"is_active": False}),
            403,
            "user.role_not_grantable",
        )
        assert (await _reload(session, boss)).is_active is True
        assert (await _login(client, "boss", PASSWORD)).status_code == 200
        assert (await _login(client, "boss", "hijacked-123")).status_code == 401

    @pytest.mark.parametrize("field", ["display_name", "is_active"])
    async def test_a_required_field_cannot_be_cleared(
        self, client, settings, clock, session, w, field: str
    ) -> None:
        r = await client.patch(
            f"{USERS}/{w.resident.id}", headers=bearer(settings, clock, w.c1_admin), json={field: None}
        )
        body = _error(r, 422, "request.invalid")
        assert body["details"]["errors"][0]["field"] == field
        user = await _reload(session, w.resident)
        assert (user.display_name, user.is_active) == ("居民甲", True)


class TestRoles:
    async def test_grant_then_revoke_a_teacher_role(self, client, settings, clock, session, w) -> None:
        headers = bearer(settings, clock, w.c1_admin)
        r = await client.post(
            f"{USERS}/{w.resident.id}/roles",
            headers=headers,
            json={"role": "teacher", "community_id": str(w.c1.id)},
        )
        assert r.status_code == 201, r.text
        teacher = [g for g in r.json()["roles"] if g["role"] == "teacher"]
        assert [(g["community_id"], g["subdistrict_id"]) for g in teacher] == [(str(w.c1.id), str(w.s1.id))]
        shown = (await client.get(f"{USERS}/{w.resident.id}", headers=headers)).json()
        assert sorted(g["role"] for g in shown["roles"]) == ["resident", "teacher"]

        again = await client.post(
            f"{USERS}/{w.resident.id}/roles",
            headers=headers,
            json={"role": "teacher", "community_id": str(w.c1.id)},
        )
        _error(again, 409, "user.role_exists")
        assert await _role_rows(session, w.resident) == sorted(
            [(Role.RESIDENT, None), (Role.TEACHER, w.c1.id)]
        )

        r = await client.delete(f"{USERS}/{w.resident.id}/roles/{teacher[0]['id']}", headers=headers)
        assert r.status_code == 200, r.text
        assert [g["role"] for g in r.json()["roles"]] == ["resident"]
        assert await _role_rows(session, w.resident) == [(Role.RESIDENT, None)]

    async def test_a_community_admin_cannot_grant_in_another_community(
        self, client, settings, clock, session, w
    ) -> None:
        r = await client.post(
            f"{USERS}/{w.resident.id}/roles",
            headers=bearer(settings, clock, w.c1_admin),
            json=_grid_worker(w.c2.id),
        )
        _error(r, 403, "user.role_not_grantable")
        assert await _role_rows(session, w.resident) == [(Role.RESIDENT, None)]

    async def test_revoking_grid_work_also_leaves_the_grids(
        self, client, settings, clock, session, w
    ) -> None:
        headers = bearer(settings, clock, w.c1_admin)
        workers = f"/api/v1/grids/{w.g1.id}/workers"
        before = await client.get(workers, headers=headers)
        assert [x["user_id"] for x in before.json()] == [str(w.worker.id)]
        role_id = await session.scalar(select(UserRole.id).where(UserRole.user_id == w.worker.id))

        r = await client.delete(f"{USERS}/{w.worker.id}/roles/{role_id}", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["roles"] == [] and r.json()["grid_ids"] == []
        assert (await client.get(workers, headers=headers)).json() == []
        assert (
            await session.scalar(
                select(func.count()).select_from(GridMember).where(GridMember.user_id == w.worker.id)
            )
            == 0
        )

    async def test_revoking_grid_work_in_one_community_keeps_the_grids_of_another(
        self, client, settings, clock, session, w
    ) -> None:
        both = await make_user(
            session, (Role.GRID_WORKER, w.c1), (Role.GRID_WORKER, w.c2), grids=(w.g1, w.g2)
        )
        await session.commit()
        c1_role = await session.scalar(
            select(UserRole.id).where(UserRole.user_id == both.id, UserRole.community_id == w.c1.id)
        )
        r = await client.delete(
            f"{USERS}/{both.id}/roles/{c1_role}", headers=bearer(settings, clock, w.c1_admin)
        )
        assert r.status_code == 200, r.text
        assert r.json()["grid_ids"] == [str(w.g2.id)]
        assert await _role_rows(session, both) == [(Role.GRID_WORKER, w.c2.id)]

    async def test_another_communitys_admin_cannot_revoke_a_role_here(
        self, client, settings, clock, session, w
    ) -> None:
        # Works in both C1 and C2, so C2's admin can see the account, but the C1 role is not theirs.
        both = await make_user(
            session, (Role.GRID_WORKER, w.c1), (Role.GRID_WORKER, w.c2), grids=(w.g1, w.g2)
        )
        await session.commit()
        c1_role = await session.scalar(
            select(UserRole.id).where(UserRole.user_id == both.id, UserRole.community_id == w.c1.id)
        )
        r = await client.delete(
            f"{USERS}/{both.id}/roles/{c1_role}", headers=bearer(settings, clock, w.c2_admin)
        )
        _error(r, 403, "user.role_not_grantable")
        assert await _role_rows(session, both) == sorted(
            [(Role.GRID_WORKER, w.c1.id), (Role.GRID_WORKER, w.c2.id)]
        )
        member_of = await session.scalars(select(GridMember.grid_id).where(GridMember.user_id == both.id))
        assert set(member_of) == {w.g1.id, w.g2.id}

    async def test_an_account_out_of_scope_is_not_found(self, client, settings, clock, session, w) -> None:
        role_id = await session.scalar(select(UserRole.id).where(UserRole.user_id == w.worker.id))
        r = await client.delete(
            f"{USERS}/{w.worker.id}/roles/{role_id}", headers=bearer(settings, clock, w.c2_admin)
        )
        _error(r, 404, "user.not_found")
        assert await _role_rows(session, w.worker) == [(Role.GRID_WORKER, w.c1.id)]

    async def test_an_unknown_role_id_is_not_found(self, client, settings, clock, w) -> None:
        r = await client.delete(
            f"{USERS}/{w.resident.id}/roles/{uuid.uuid4()}", headers=bearer(settings, clock, w.c1_admin)
        )
        _error(r, 404, "user.role_not_found")
