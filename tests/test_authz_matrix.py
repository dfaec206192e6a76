"""Authorization matrix (issue #8): every operation of the API × every kind of caller.

`MATRIX` has one row per operation (method and path, as in the live OpenAPI document; a few
operations have extra rows for another view or a forged signature). A row says who is allowed
and how everyone else is turned away; `test_authorization` runs every cell against the app and
`test_matrix_covers_every_operation` fails when an operation has no row (a new endpoint must be
added here) or a row names an operation that no longer exists.

The callers (`ROLES`), each one account:

* anonymous: no token.
* resident: 刘奶奶, lives in community C1 (孤寡); owns every target object: reporter of the tickets,
  household of the repair orders, learner and signer of the signups (and signer of 孙奶奶, who
  has no account), asker of the help requests, uploader of the photo, addressee of the
  notification.
* neighbour: another resident of C1 (same community, owns none of it).
* worker: grid worker of G1, the grid the tickets were reported in (C1); claimed them.
* other_grid_worker: grid worker of G1b, another grid of the same community C1.
* community_admin: of C1. other_community_admin: of C2 (same subdistrict S1).
* subdistrict_admin: of S1. department_staff: of the S1 department the tickets are escalated to.
* craftsman: 乐修匠 of S1 (plumbing, the whole subdistrict); accepted the orders.
* teacher: 菜鸟学堂 teacher of C1; teaches the sessions, claimed one help request.
* superadmin.

The world is built once per module (through the API, as the people who would do it) inside a
transaction that is rolled back at the end; every case runs inside a savepoint that is rolled
back, so each starts from the same world and the clock stands still at T0. Each target object is
real and in the state the action needs, so a denial means the rule, not a missing object.

Every cell is one exact status:

* allowed: the success status of the operation (200, 201 or 204), or, where listed in `other`,
  the business answer a permitted caller gets (for example 409 "you cannot +1 your own report");
* denied: 401 without a login; 403 when the caller may not do this (the default, or `seen`: the
  caller can see the object but may not act on it); 404 when the object is hidden from the
  caller (`hidden`, or `deny=404`): ids of objects outside one's reach look like missing ones.
  A 404 must carry the object's own not-found code, never the router's.

Known authorization bugs are strict xfails on their cells (`bugs`, "BUG: ..."), so they stay
visible and the test says so once one is fixed. No cell is one today; the open findings of issue
#8 concern request bodies and the push signature and live in tests/test_bola.py.

`python -m tests.test_authz_matrix` prints the matrix as a Markdown table.
"""

import asyncio
import contextlib
import io
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.permissions import CareCategory, Role
from app.core.config import Settings
from app.core.security import PasswordHashing
from app.course.models import Attendee, CourseSession
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.notification.models import Notification
from app.user.models import User, UserRole
from app.wechat.client import FakeWeChatClient
from app.wechat.push_crypto import signature as push_signature
from tests.conftest import make_settings
from tests.factories import (
    bearer,
    make_building,
    make_category,
    make_community,
    make_department,
    make_grid,
    make_subdistrict,
    make_user,
    square,
)
from tests.fakes import FrozenClock

API = "/api/v1"
T0 = FrozenClock().now()  # every case runs at this instant
BUILD_AT = T0 - timedelta(hours=3)  # the world is made earlier, so that a booked visit is due by T0
PASSWORD = "authz-matrix-2026"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}

ROLES = (
    "anonymous",
    "resident",
    "neighbour",
    "worker",
    "other_grid_worker",
    "community_admin",
    "other_community_admin",
    "subdistrict_admin",
    "department_staff",
    "craftsman",
    "teacher",
    "superadmin",
)

# --- who ---------------------------------------------------------------------------------

EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
RESIDENT = frozenset({"resident"})
RESIDENTS = frozenset({"resident", "neighbour"})
WORKER = frozenset({"worker"})
GRID_WORKERS = frozenset({"worker", "other_grid_worker"})
C1_STAFF = frozenset({"community_admin", "subdistrict_admin", "superadmin"})  # administer C1
S1_STAFF = frozenset({"subdistrict_admin", "superadmin"})  # administer the whole of S1
ADMINS = C1_STAFF | {"other_community_admin"}  # pass the "administrators only" gate
C1_CLASSES = C1_STAFF | {"teacher"}  # run C1's classes
CRAFTSMAN = frozenset({"craftsman"})
TEACHER = frozenset({"teacher"})
DEPT = frozenset({"department_staff"})
NOBODY: frozenset[str] = frozenset()


# --- the world ---------------------------------------------------------------------------


def jpeg(color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


@dataclass
class World:
    """Ids of everything the cases act on (as strings, for URLs and bodies) and the accounts."""

    users: dict[str, User] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None

    def uid(self, role: str) -> str:
        return str(self.users[role].id)

    def link_query(self, name: str) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.links[name]).query))


class Builder:
    """Arranges the world through the API as the people who would do it."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, clock: FrozenClock) -> None:
        self.client, self.settings, self.clock = client, settings, clock

    async def call(self, method: str, url: str, user: User | None, expect: int = 200, **kw: Any) -> Any:
        headers = bearer(self.settings, self.clock, user) if user is not None else {}
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code == expect, f"{method} {url}: {r.status_code} {r.text}"
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else None


async def build_world(
    session: AsyncSession, client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> World:
    """S1 (C1 with grids G1 and G1b, C2 with G2) and S2 (C3 with G3); one account per role; the
    resident's photo, tickets, repair orders, signups and help requests, each in the state its
    actions need."""
    w = World()
    ids = w.ids
    clock.set(BUILD_AT)
    b = Builder(client, settings, clock)

    s1, s2 = await make_subdistrict(session), await make_subdistrict(session)
    c1, c2 = await make_community(session, s1), await make_community(session, s1)
    c3 = await make_community(session, s2)
    g1 = await make_grid(session, c1, square(108.950, 34.270))
    g1b = await make_grid(session, c1, square(108.946, 34.270))
    g2 = await make_grid(session, c2, square(108.954, 34.270))
    g3 = await make_grid(session, c3, square(108.990, 34.300))
    dept = await make_department(session, s1)
    category = await make_category(session, s1, name="设施损坏", respond_minutes=10, resolve_hours=72)
    building = await make_building(session, c1, grid_id=g1.id)
    for name, row in zip(
        ("s1", "s2", "c1", "c2", "c3", "g1", "g1b", "g2", "g3", "dept"),
        (s1, s2, c1, c2, c3, g1, g1b, g2, g3, dept),
        strict=True,
    ):
        ids[name] = str(row.id)
    ids["category"], ids["building"] = str(category.id), str(building.id)

    # One account per role, each with a WeChat identity as mini-program users have.
    def account(role: str, *grants: Any, **kw: Any) -> Any:
        kw.setdefault("display_name", role)
        return make_user(session, *grants, openid=f"authz-{role}", **kw)

    u = w.users
    u["resident"] = await account(
        "resident",
        Role.RESIDENT,
        display_name="刘奶奶",
        home=c1,
        phone="13912345678",
        care=CareCategory.LIVING_ALONE,
        address="西一路小区1号楼2单元301",
    )
    u["neighbour"] = await account(
        "neighbour",
        Role.RESIDENT,
        display_name="周大爷",
        home=c1,
        phone="13987654321",
        care=CareCategory.EMPTY_NEST,
        address="西一路小区3号楼1单元101",
    )
    u["worker"] = await account("worker", (Role.GRID_WORKER, c1), grids=(g1,), phone="13700001111")
    u["other_grid_worker"] = await account(
        "other_grid_worker", (Role.GRID_WORKER, c1), grids=(g1b,), phone="13700002222"
    )
    u["community_admin"] = await account(
        "community_admin",
        (Role.COMMUNITY_ADMIN, c1),
        hasher=PasswordHashing(settings.password),
        password=PASSWORD,
        username="authz_c1",
    )
    u["other_community_admin"] = await account("other_community_admin", (Role.COMMUNITY_ADMIN, c2))
    u["subdistrict_admin"] = await account("subdistrict_admin", (Role.SUBDISTRICT_ADMIN, s1))
    u["department_staff"] = await account("department_staff", (Role.DEPARTMENT_STAFF, dept))
    u["craftsman"] = await account("craftsman", (Role.CRAFTSMAN, s1), phone="13600001111")
    u["teacher"] = await account("teacher", (Role.TEACHER, c1), phone="13700003333")
    u["superadmin"] = await account("superadmin", Role.SUPERADMIN)
    # A resident without a learner record, for staff to link 孙奶奶's record to.
    ids["elder_user"] = str((await make_user(session, Role.RESIDENT, home=c1, display_name="孙奶奶")).id)
    ids["teacher_role"] = str(
        await session.scalar(select(UserRole.id).where(UserRole.user_id == u["teacher"].id))
    )
    await session.commit()
    U = dict(u)

    tokens = await b.call(
        "POST", f"{API}/auth/token", None, data={"username": "authz_c1", "password": PASSWORD}
    )
    ids["refresh_token"] = tokens["refresh_token"]

    # The resident's photo and its signed link.
    photo = await b.call(
        "POST", f"{API}/uploads", U["resident"], 201, files={"file": ("a.jpg", jpeg(), "image/jpeg")}
    )
    ids["photo"] = photo["id"]

    # 随手拍: the resident's reports in G1, one per state.
    async def report(**extra: Any) -> str:
        body = {
            "category_id": ids["category"],
            "description": "井盖破损，晚上很危险",
            "location": IN_G1,
            "address": "西一路小区1号楼2单元301门口",
            **extra,
        }
        return (await b.call("POST", f"{API}/tickets", U["resident"], 201, json=body))["id"]

    async def act(ticket: str, action: str, who: str, body: Any = None) -> None:
        await b.call("POST", f"{API}/tickets/{ticket}/{action}", U[who], json=body)

    escalate = {"department_id": ids["dept"], "note": "井盖属市政设施，请城管处理"}
    ids["t_new"] = await report(photo_ids=[ids["photo"]])
    ids["t_claimed"] = await report()
    await act(ids["t_claimed"], "claim", "worker")
    ids["t_escalated"] = await report()
    await act(ids["t_escalated"], "claim", "worker")
    await act(ids["t_escalated"], "escalate", "worker", escalate)
    ids["t_dept"] = await report()
    await act(ids["t_dept"], "claim", "worker")
    await act(ids["t_dept"], "escalate", "worker", escalate)
    await act(ids["t_dept"], "accept-escalation", "department_staff", {})
    ids["t_resolved"] = await report()
    await act(ids["t_resolved"], "claim", "worker")
    await act(ids["t_resolved"], "resolve", "worker", {"note": "已更换井盖"})
    ids["t_held"] = await report(description="井盖破损 REVIEW")  # held by the content check
    ids["notification"] = str(
        await session.scalar(
            select(Notification.id)
            .where(Notification.user_id == U["resident"].id)
            .order_by(Notification.created_at)
            .limit(1)
        )
    )

    # Open311: a partner key for S1, issued by the subdistrict (the key is shown only then).
    key = {"subdistrict_id": ids["s1"], "partner_name": "12345 热线"}
    key = await b.call("POST", f"{API}/open311/keys", U["subdistrict_admin"], 201, json=key)
    ids["open311_key"], ids["open311_key_id"] = key["api_key"], key["id"]

    for who in GRID_WORKERS:
        await b.call("POST", f"{API}/workers/me/duty", U[who], json={"on_duty": True, **IN_G1})

    # 乐修匠: a price item, the craftsman's profile, and the resident's orders in every state.
    item = {
        "subdistrict_id": ids["s1"],
        "category": "plumbing",
        "name": "更换水龙头",
        "unit": "个",
        "price_cents": 2000,
    }
    ids["price_item"] = (
        await b.call("POST", f"{API}/repairs/price-items", U["subdistrict_admin"], 201, json=item)
    )["id"]
    profile = {"subdistrict_id": ids["s1"], "skills": ["plumbing", "electrical"], "max_active_orders": 20}
    await b.call("PUT", f"{API}/repairs/craftsmen/{U['craftsman'].id}", U["subdistrict_admin"], json=profile)
    lifecycle = [
        ("accept", "craftsman", None),
        ("schedule", "craftsman", {"visit_at": (T0 - timedelta(hours=1)).isoformat()}),  # due by T0
        ("arrive", "craftsman", {}),
        ("quote", "craftsman", {"items": [{"price_item_id": ids["price_item"], "quantity": 1}]}),
        ("confirm-quote", "resident", None),
        ("complete", "craftsman", {}),
        ("settle", "craftsman", {"amount_cents": 0, "method": "free"}),  # 孤寡: free
    ]
    states = (
        "requested",
        "accepted",
        "scheduled",
        "on_site",
        "quoted",
        "in_progress",
        "completed",
        "settled",
    )
    for steps, state in enumerate(states):
        body = {"category": "plumbing", "description": "厨房水龙头一直滴水"}
        oid = (await b.call("POST", f"{API}/repairs/orders", U["resident"], 201, json=body))["id"]
        for action, who, step_body in lifecycle[:steps]:
            await b.call("POST", f"{API}/repairs/orders/{oid}/{action}", U[who], json=step_body)
        ids[f"o_{state}"] = oid

    # 菜鸟学堂: a C1 course taught by the teacher, its sessions, signups and help requests.
    course = {"community_id": ids["c1"], "title": "智能手机入门", "topics": ["wechat"]}
    ids["course"] = (await b.call("POST", f"{API}/courses", U["community_admin"], 201, json=course))["id"]

    async def new_session(starts: datetime, capacity: int = 10) -> str:
        body = {
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "venue": "西一路社区活动室",
            "capacity": capacity,
            "teacher_ids": [str(U["teacher"].id)],
        }
        url = f"{API}/courses/{ids['course']}/sessions"
        return (await b.call("POST", url, U["community_admin"], 201, json=body))["id"]

    async def sign_up(session_id: str, who: str, body: Any = None) -> dict:
        url = f"{API}/courses/sessions/{session_id}/signups"
        return await b.call("POST", url, U[who], 201, json=body or {})

    ids["s_future"] = await new_session(T0 + timedelta(hours=48))
    ids["su_resident"] = (await sign_up(ids["s_future"], "resident"))["id"]
    elder = {"name": "孙奶奶", "phone": "13811112222", "age": 78}
    proxy = await sign_up(
        ids["s_future"], "resident", {"attendee": elder, "relationship": "neighbour", "consent": True}
    )
    ids["su_proxy"], ids["attendee_proxy"] = proxy["id"], proxy["attendee"]["id"]
    ids["s_full"] = await new_session(T0 + timedelta(hours=72), capacity=1)
    await sign_up(ids["s_full"], "neighbour")
    ids["su_waitlisted"] = (await sign_up(ids["s_full"], "resident"))["id"]
    ids["s_soon"] = await new_session(T0 + timedelta(minutes=10))  # check-in and roll call open at T0
    ids["su_soon"] = (await sign_up(ids["s_soon"], "resident"))["id"]
    ids["s_open"] = await new_session(T0 + timedelta(hours=96), capacity=50)

    async def ask() -> str:
        body = {"topic": "wechat", "description": "想学视频通话", "community_id": ids["c1"]}
        return (await b.call("POST", f"{API}/courses/help-requests", U["resident"], 201, json=body))["id"]

    ids["h_open"] = await ask()
    ids["h_claimed"] = await ask()
    await b.call("POST", f"{API}/courses/help-requests/{ids['h_claimed']}/claim", U["teacher"])

    # A free seat while someone waits (what staff promote out of turn): one more seat, no refill.
    await session.execute(
        update(CourseSession).where(CourseSession.id == uuid.UUID(ids["s_full"])).values(capacity=2)
    )
    # Everyone has a learner record, so GET /courses/me/history answers 200 rather than "none yet".
    have = set(await session.scalars(select(Attendee.user_id).where(Attendee.user_id.is_not(None))))
    for usr in U.values():
        if usr.id not in have:
            session.add(
                Attendee(
                    id=uuid.uuid4(),
                    user_id=usr.id,
                    name=usr.display_name,
                    phone=usr.phone,
                    community_id=usr.home_community_id,
                    created_by_id=usr.id,
                )
            )
    await session.commit()

    clock.set(T0)
    w.links["photo"] = (await b.call("GET", f"{API}/uploads/{ids['photo']}", U["resident"]))["url"]
    token = await b.call("GET", f"{API}/courses/sessions/{ids['s_soon']}/checkin-token", U["teacher"])
    ids["checkin_token"] = token["token"]
    return w


@dataclass
class Env:
    app: Any
    client: httpx.AsyncClient
    conn: AsyncConnection
    settings: Settings
    clock: FrozenClock
    w: World
    headers: dict[str, dict[str, str]]

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Whatever happens inside is undone afterwards."""
        sp = await self.conn.begin_nested()
        try:
            yield
        finally:
            self.clock.set(T0)
            if sp.is_active:
                await sp.rollback()

    def auth(self, role: str) -> dict[str, str]:
        return self.headers[role]


@pytest.fixture(scope="module")
async def env(
    engine: AsyncEngine, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    """The app on one connection whose transaction is rolled back at the end, and the world."""
    settings = make_settings(database_url, tmp_path_factory.mktemp("authz"))
    clock = FrozenClock()
    async with engine.connect() as conn:
        outer = await conn.begin()
        maker = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
        app.state.sessionmaker = maker
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with maker() as session:
                w = await build_world(session, client, settings, clock)
            headers = {role: bearer(settings, clock, w.users[role]) for role in SIGNED_IN}
            yield Env(app, client, conn, settings, clock, w, {**headers, "anonymous": {}})
        await outer.rollback()


# --- the matrix --------------------------------------------------------------------------

Body = Mapping[str, Any] | Callable[[World, str], Any] | None


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    allow: frozenset[str]  # these roles succeed with `ok`
    ok: int = 200
    deny: int = 403  # every other signed-in role (anonymous: 401 when the operation needs a login)
    seen: frozenset[str] = NOBODY  # denied with 403 although deny is 404: they can see the object
    hidden: frozenset[str] = NOBODY  # denied with 404 although deny is 403: the object is hidden
    other: Mapping[str, int] = field(default_factory=dict)  # permitted, with a business answer
    ids: Mapping[str, str] = field(default_factory=dict)  # path parameter -> World id (or literal)
    body: Body = None
    params: Body = None
    form: Body = None
    upload: bool = False
    login: bool = True  # False: no bearer token involved (anonymous is like everyone else)
    stream: bool = False  # Server-Sent Events: only the response status is read
    variant: str = ""
    bugs: Mapping[str, str] = field(default_factory=dict)  # role -> "BUG: ..." (strict xfail)

    def expected(self, role: str) -> int:
        if role in self.other:
            return self.other[role]
        if role in self.allow:
            return self.ok
        if role == "anonymous" and self.login:
            return 401
        if role in self.seen:
            return 403
        if role in self.hidden:
            return 404
        return self.deny

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.variant}]" if self.variant else "")


def op(method: str, path: str, allow: Iterable[str], *, on: str | None = None, **kw: Any) -> Op:
    """A row. `on`: the World id that fills the path's only parameter."""
    for key in ("seen", "hidden"):
        if key in kw:
            kw[key] = frozenset(kw[key])
    if on is not None:
        (param,) = re.findall(r"{(\w+)}", path)
        kw["ids"] = {param: on}
    full = path if path.startswith(OUTSIDE_API) else API + path
    return Op(method, full, frozenset(allow), **kw)


OUTSIDE_API = ("/media/", "/healthz", "/readyz")


def everyone_else(allowed: Iterable[str], status: int) -> dict[str, int]:
    return dict.fromkeys(SIGNED_IN - set(allowed), status)


# Signed at the instant every case runs (pushes more than 5 minutes off the clock are refused).
PUSH_QUERY = {"timestamp": str(int(T0.timestamp())), "nonce": "authz"}


def push(echostr: str | None = None, *, forged: bool = False) -> Callable[[World, str], Any]:
    """Query of a WeChat message push, signed with the (test) push token or forged."""

    def params(w: World, role: str) -> dict[str, str]:
        sig = "0" * 40 if forged else push_signature("dev-push-token", **PUSH_QUERY)
        return {**PUSH_QUERY, "signature": sig, **({"echostr": echostr} if echostr else {})}

    return params


def later(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def in_c1(key: str = "community_id", **body: Any) -> Callable[[World, str], Any]:
    return lambda w, r: {**body, key: w.c1}


def in_s1(**body: Any) -> Callable[[World, str], Any]:
    return lambda w, r: {**body, "subdistrict_id": w.s1}


NEW_ACCOUNT = {"display_name": "新居民", "wechat_openid": "o-new", "roles": [{"role": "resident"}]}
REPORT = {"description": "路灯不亮", "location": IN_G1}
EVENT = {"ToUserName": "gh_authz", "Event": "authz_unknown_event"}


def stats_of(scope: str, target: str) -> Callable[[World, str], Any]:
    return lambda w, r: {"scope": scope, "scope_id": w.ids[target]}


def c1_figures(w: World, r: str) -> dict[str, str]:
    return {"subdistrict_id": w.s1, "community_id": w.c1}


# fmt: off
MATRIX: list[Op] = [
    # --- auth (no login needed) ----------------------------------------------------------------
    op("POST", "/auth/wechat/login", EVERYONE, body=lambda w, r: {"code": f"ok:authz-login-{r}"}),
    op("POST", "/auth/token", EVERYONE, form={"username": "authz_c1", "password": PASSWORD}),
    op("POST", "/auth/refresh", EVERYONE, body=lambda w, r: {"refresh_token": w.refresh_token}),
    op("POST", "/auth/logout", EVERYONE, ok=204, body=lambda w, r: {"refresh_token": w.refresh_token}),
    # --- me and accounts ------------------------------------------------------------------------
    op("GET", "/me", SIGNED_IN),
    op("PATCH", "/me", SIGNED_IN, body={"display_name": "新名字"}),
    op("GET", "/me/export", SIGNED_IN),
    # Residents close their own account; anyone holding another role is closed by administrators.
    op("DELETE", "/me", RESIDENTS, ok=204, other=everyone_else(RESIDENTS, 409), body={"confirm": "注销"}),
    op("GET", "/audit-log", S1_STAFF),
    op("POST", "/users", C1_STAFF, ok=201, body=in_c1("home_community_id", **NEW_ACCOUNT)),
    op("GET", "/users", ADMINS),
    op("GET", "/users/{user_id}", C1_STAFF, hidden={"other_community_admin"}, on="@resident"),
    op("PATCH", "/users/{user_id}", C1_STAFF, hidden={"other_community_admin"}, on="@resident",
       body={"display_name": "居民甲"}),
    op("POST", "/users/{user_id}/roles", C1_STAFF, ok=201, hidden={"other_community_admin"}, on="@resident",
       body=lambda w, r: {"role": "teacher", "community_id": w.c1}),
    op("DELETE", "/users/{user_id}/roles/{role_id}", C1_STAFF, hidden={"other_community_admin"},
       ids={"user_id": "@teacher", "role_id": "teacher_role"}),
    # --- organisation ---------------------------------------------------------------------------
    op("GET", "/subdistricts", SIGNED_IN),
    op("POST", "/subdistricts", {"superadmin"}, ok=201, body={"code": "authz-s", "name": "新街道"}),
    op("GET", "/subdistricts/{subdistrict_id}", SIGNED_IN, on="s1"),
    op("PATCH", "/subdistricts/{subdistrict_id}", S1_STAFF, on="s1", body={"name": "西一路街道"}),
    op("GET", "/communities", SIGNED_IN),
    op("POST", "/communities", S1_STAFF, ok=201, body=in_s1(code="authz-c", name="新社区")),
    op("GET", "/communities/{community_id}", SIGNED_IN, on="c1"),
    op("PATCH", "/communities/{community_id}", C1_STAFF, on="c1", body={"name": "西一路社区"}),
    op("GET", "/grids/locate", SIGNED_IN, params=IN_G1),
    op("GET", "/grids", SIGNED_IN),
    op("POST", "/grids", C1_STAFF, ok=201,
       body=in_c1(code="authz-g", name="新网格", boundary=square(108.94, 34.26), coord_system="wgs84")),
    op("GET", "/grids/{grid_id}", SIGNED_IN, on="g1"),
    op("PATCH", "/grids/{grid_id}", C1_STAFF, on="g1", body={"name": "第一网格"}),
    op("GET", "/grids/{grid_id}/workers", SIGNED_IN, on="g1"),
    op("POST", "/grids/{grid_id}/workers", C1_STAFF, ok=204, on="g1",
       body=lambda w, r: {"user_id": w.uid("other_grid_worker")}),
    op("DELETE", "/grids/{grid_id}/workers/{user_id}", C1_STAFF, ok=204,
       ids={"grid_id": "g1", "user_id": "@worker"}),
    op("GET", "/buildings", SIGNED_IN),
    op("POST", "/buildings", C1_STAFF, ok=201, body=in_c1(name="9号楼")),
    op("PATCH", "/buildings/{building_id}", C1_STAFF, on="building", body={"name": "10号楼"}),
    op("GET", "/departments", SIGNED_IN),
    op("POST", "/departments", S1_STAFF, ok=201, body=in_s1(name="新部门")),
    op("PATCH", "/departments/{department_id}", S1_STAFF, on="dept", body={"name": "城管中队"}),
    op("GET", "/categories", SIGNED_IN),
    op("POST", "/categories", S1_STAFF, ok=201, body=in_s1(code="authz-cat", name="新分类")),
    op("PATCH", "/categories/{category_id}", S1_STAFF, on="category", body={"name": "设施"}),
    # --- photos (the file itself: a signed link, no login) --------------------------------------
    op("POST", "/uploads", SIGNED_IN, ok=201, upload=True),
    op("GET", "/uploads/{photo_id}", {"resident", "superadmin"}, deny=404, on="photo"),
    op("GET", "/media/{photo_id}/{variant}.jpg", EVERYONE, login=False,
       ids={"photo_id": "photo", "variant": "full"}, params=lambda w, r: w.link_query("photo")),
    op("GET", "/media/{photo_id}/{variant}.jpg", NOBODY, login=False,
       ids={"photo_id": "photo", "variant": "full"},
       params=lambda w, r: {**w.link_query("photo"), "sig": "0" * 43}, variant="forged signature"),
    # --- 随手拍 tickets (all reported by the resident in G1) --------------------------------------
    op("GET", "/stats/response", C1_STAFF, params=stats_of("community", "c1"), variant="scope=community"),
    op("GET", "/stats/response", S1_STAFF | DEPT, params=stats_of("department", "dept"),
       variant="scope=department"),
    op("GET", "/tickets/export", ADMINS | DEPT),
    op("GET", "/public/tickets", SIGNED_IN, params=lambda w, r: {"community_id": w.c1}),
    op("POST", "/tickets", SIGNED_IN, ok=201, body=lambda w, r: {**REPORT, "category_id": w.category}),
    op("GET", "/tickets", SIGNED_IN, params={"view": "mine"}, variant="view=mine"),
    op("GET", "/tickets", GRID_WORKERS | ADMINS | DEPT, params={"view": "queue"}, variant="view=queue"),
    op("GET", "/tickets", GRID_WORKERS | ADMINS | DEPT, params={"view": "all"}, variant="view=all"),
    op("GET", "/tickets/{ticket_id}", SIGNED_IN, on="t_new"),  # the public view for most
    op("GET", "/tickets/{ticket_id}", RESIDENT | WORKER | C1_STAFF, deny=404, on="t_held",
       variant="held by the content check"),
    op("POST", "/tickets/{ticket_id}/support", SIGNED_IN, other={"resident": 409}, on="t_new"),
    op("POST", "/tickets/{ticket_id}/photos-public", C1_STAFF, on="t_new", body={"photos_public": True}),
    op("POST", "/tickets/{ticket_id}/claim", WORKER, deny=404, seen=RESIDENT | C1_STAFF, on="t_new"),
    op("POST", "/tickets/{ticket_id}/assign", C1_STAFF, deny=404, seen=RESIDENT | WORKER, on="t_new",
       body=lambda w, r: {"worker_id": w.uid("worker")}),
    op("POST", "/tickets/{ticket_id}/arrive", WORKER, deny=404, seen=RESIDENT | C1_STAFF, on="t_claimed",
       body=IN_G1),
    op("POST", "/tickets/{ticket_id}/resolve", WORKER | C1_STAFF, deny=404, seen=RESIDENT, on="t_claimed",
       body={"note": "已更换井盖"}),
    op("POST", "/tickets/{ticket_id}/escalate", WORKER | C1_STAFF, deny=404, seen=RESIDENT, on="t_claimed",
       body=lambda w, r: {"department_id": w.dept, "note": "请城管处理"}),
    op("POST", "/tickets/{ticket_id}/accept-escalation", DEPT, deny=404, seen=RESIDENT | WORKER | C1_STAFF,
       on="t_escalated", body={}),
    op("POST", "/tickets/{ticket_id}/department-resolve", DEPT, deny=404, seen=RESIDENT | WORKER | C1_STAFF,
       on="t_dept", body={"note": "已处理"}),
    op("POST", "/tickets/{ticket_id}/recall", C1_STAFF, deny=404, seen=RESIDENT | WORKER | DEPT,
       on="t_escalated", body={}),
    op("POST", "/tickets/{ticket_id}/reject", WORKER | C1_STAFF, deny=404, seen=RESIDENT, on="t_claimed",
       body={"reason": "不属于受理范围"}),
    op("POST", "/tickets/{ticket_id}/merge", C1_STAFF, deny=404, seen=RESIDENT | WORKER, on="t_claimed",
       body=lambda w, r: {"into_ticket_id": w.t_new}),
    op("POST", "/tickets/{ticket_id}/confirm", RESIDENT, deny=404, seen=WORKER | C1_STAFF, on="t_resolved",
       body={"rating": 5}),
    op("POST", "/tickets/{ticket_id}/reopen", RESIDENT, deny=404, seen=WORKER | C1_STAFF, on="t_resolved",
       body={"reason": "还是坏的"}),
    op("POST", "/tickets/{ticket_id}/moderation", C1_STAFF, on="t_held", body={"decision": "approve"}),
    # --- notifications and live events ----------------------------------------------------------
    op("GET", "/notifications", SIGNED_IN),
    op("POST", "/notifications/read-all", SIGNED_IN),
    op("POST", "/notifications/{notification_id}/read", RESIDENT, deny=404, on="notification"),
    op("GET", "/events", SIGNED_IN, stream=True),
    # --- grid workers on duty -------------------------------------------------------------------
    op("GET", "/workers/me/duty", GRID_WORKERS),
    op("POST", "/workers/me/duty", GRID_WORKERS, body={"on_duty": True, **IN_G1}),
    op("POST", "/workers/me/heartbeat", GRID_WORKERS, body=IN_G1),
    # --- 乐修匠 repairs (orders of the resident, accepted by the craftsman) ------------------------
    op("GET", "/repairs/price-items", SIGNED_IN, params=in_s1()),
    op("POST", "/repairs/price-items", S1_STAFF, ok=201,
       body=in_s1(category="plumbing", name="疏通下水管", unit="次", price_cents=3500)),
    op("PATCH", "/repairs/price-items/{item_id}", S1_STAFF, on="price_item", body={"price_cents": 2200}),
    op("GET", "/repairs/price-items/{item_id}/versions", SIGNED_IN, on="price_item"),
    op("GET", "/repairs/policies/{subdistrict_id}", SIGNED_IN, on="s1"),
    op("PUT", "/repairs/policies/{subdistrict_id}", S1_STAFF, on="s1",
       body={"visit_fee_cents": 0, "rules": {}}),
    op("POST", "/repairs/estimate", SIGNED_IN,
       body=lambda w, r: {"subdistrict_id": w.s1, "items": [{"price_item_id": w.price_item}]}),
    op("GET", "/repairs/craftsmen", ADMINS, params=in_s1()),
    op("GET", "/repairs/craftsmen/me", CRAFTSMAN),
    op("PUT", "/repairs/craftsmen/{user_id}", S1_STAFF, on="@craftsman",
       body=in_s1(skills=["plumbing"], max_active_orders=20)),
    op("POST", "/repairs/orders", SIGNED_IN, ok=201,
       body=in_c1(category="plumbing", description="水管漏水", address="西一路小区5号楼")),
    op("GET", "/repairs/orders", SIGNED_IN, params={"view": "mine"}, variant="view=mine"),
    op("GET", "/repairs/orders", SIGNED_IN, params={"view": "assigned"}, variant="view=assigned"),
    op("GET", "/repairs/orders", CRAFTSMAN, params={"view": "open"}, variant="view=open"),
    op("GET", "/repairs/orders", ADMINS, params={"view": "all"}, variant="view=all"),
    op("POST", "/repairs/orders/from-ticket/{ticket_id}", C1_STAFF, ok=201, on="t_new",
       body={"category": "plumbing", "description": "家里水管漏水"}),
    op("GET", "/repairs/stats", C1_STAFF, params=c1_figures),
    op("GET", "/repairs/orders/{order_id}", RESIDENT | CRAFTSMAN | C1_STAFF, deny=404, on="o_requested"),
    op("POST", "/repairs/orders/{order_id}/accept", CRAFTSMAN, deny=404, seen=RESIDENT | C1_STAFF,
       on="o_requested"),
    op("POST", "/repairs/orders/{order_id}/assign", C1_STAFF, deny=404, seen=RESIDENT | CRAFTSMAN,
       on="o_requested", body=lambda w, r: {"craftsman_id": w.uid("craftsman")}),
    op("POST", "/repairs/orders/{order_id}/hand-back", CRAFTSMAN | C1_STAFF, deny=404, seen=RESIDENT,
       on="o_accepted", body={}),
    op("POST", "/repairs/orders/{order_id}/schedule", RESIDENT | CRAFTSMAN | C1_STAFF, deny=404,
       on="o_accepted", body={"visit_at": later(24)}),
    op("POST", "/repairs/orders/{order_id}/craftsman-no-show", RESIDENT | C1_STAFF, deny=404, seen=CRAFTSMAN,
       on="o_scheduled", body={}),
    op("POST", "/repairs/orders/{order_id}/resident-absent", CRAFTSMAN, deny=404, seen=RESIDENT | C1_STAFF,
       on="o_scheduled", body={}),
    op("POST", "/repairs/orders/{order_id}/arrive", CRAFTSMAN, deny=404, seen=RESIDENT | C1_STAFF,
       on="o_scheduled", body={}),
    op("POST", "/repairs/orders/{order_id}/quote", CRAFTSMAN, deny=404, seen=RESIDENT | C1_STAFF,
       on="o_on_site", body=lambda w, r: {"items": [{"price_item_id": w.price_item}]}),
    op("POST", "/repairs/orders/{order_id}/confirm-quote", RESIDENT | C1_STAFF, deny=404, seen=CRAFTSMAN,
       on="o_quoted"),
    op("POST", "/repairs/orders/{order_id}/decline-quote", RESIDENT | C1_STAFF, deny=404, seen=CRAFTSMAN,
       on="o_quoted", body={}),
    op("POST", "/repairs/orders/{order_id}/complete", CRAFTSMAN, deny=404, seen=RESIDENT | C1_STAFF,
       on="o_in_progress", body={}),
    op("POST", "/repairs/orders/{order_id}/settle", CRAFTSMAN | C1_STAFF, deny=404, seen=RESIDENT,
       on="o_completed", body={"amount_cents": 0, "method": "free"}),
    op("POST", "/repairs/orders/{order_id}/rate", RESIDENT, deny=404, seen=CRAFTSMAN | C1_STAFF,
       on="o_settled", body={"rating": 5}),
    op("POST", "/repairs/orders/{order_id}/cancel", RESIDENT | C1_STAFF, deny=404, seen=CRAFTSMAN,
       on="o_requested", body={"reason": "不用修了"}),
    # --- 菜鸟学堂 classes (a C1 course; the resident's signups and help requests) ---------------
    op("GET", "/courses", SIGNED_IN),
    op("POST", "/courses", C1_CLASSES, ok=201, body=in_c1(title="网上挂号", topics=["hospital_booking"])),
    op("GET", "/courses/signups/mine", SIGNED_IN),
    op("GET", "/courses/me/history", SIGNED_IN),
    op("GET", "/courses/attendees", C1_STAFF, params=in_c1()),
    op("GET", "/courses/attendees/{attendee_id}/history", RESIDENT | C1_STAFF, deny=404, on="attendee_proxy"),
    op("POST", "/courses/attendees/{attendee_id}/link", C1_STAFF, hidden={"other_community_admin"},
       on="attendee_proxy", body=lambda w, r: {"user_id": w.elder_user}),
    op("POST", "/courses/help-requests", SIGNED_IN, ok=201,
       body=in_c1(topic="wechat", description="想学发语音")),
    op("GET", "/courses/help-requests", SIGNED_IN, params={"view": "mine"}, variant="view=mine"),
    op("GET", "/courses/help-requests", SIGNED_IN, params={"view": "assigned"}, variant="view=assigned"),
    op("GET", "/courses/help-requests", TEACHER, params={"view": "open"}, variant="view=open"),
    op("GET", "/courses/help-requests", ADMINS, params={"view": "all"}, variant="view=all"),
    op("GET", "/courses/help-requests/{request_id}", RESIDENT | TEACHER | C1_STAFF, deny=404, on="h_open"),
    op("POST", "/courses/help-requests/{request_id}/claim", TEACHER, deny=404, seen=RESIDENT | C1_STAFF,
       on="h_open"),
    op("POST", "/courses/help-requests/{request_id}/schedule", TEACHER | C1_STAFF, deny=404, seen=RESIDENT,
       on="h_claimed", body={"scheduled_for": later(24), "place": "社区活动室"}),
    op("POST", "/courses/help-requests/{request_id}/complete", TEACHER | C1_STAFF, deny=404, seen=RESIDENT,
       on="h_claimed", body={"minutes": 30}),
    op("POST", "/courses/help-requests/{request_id}/release", TEACHER | C1_STAFF, deny=404, seen=RESIDENT,
       on="h_claimed"),
    op("POST", "/courses/help-requests/{request_id}/cancel", RESIDENT | C1_STAFF, deny=404, seen=TEACHER,
       on="h_open", body={"reason": "已经学会了"}),
    op("GET", "/courses/volunteer-hours/me", SIGNED_IN),
    op("GET", "/courses/volunteer-hours", C1_STAFF, params=c1_figures),
    op("GET", "/courses/volunteer-hours/export", C1_STAFF, params=c1_figures),
    op("GET", "/courses/stats", C1_STAFF, params=c1_figures),
    op("GET", "/courses/signups/{signup_id}", RESIDENT | C1_CLASSES, deny=404, on="su_resident"),
    op("POST", "/courses/signups/{signup_id}/cancel", RESIDENT | C1_STAFF, deny=404, seen=TEACHER,
       on="su_resident", body={}),
    op("POST", "/courses/signups/{signup_id}/promote", C1_STAFF, on="su_waitlisted"),
    op("POST", "/courses/signups/{signup_id}/move", C1_STAFF, on="su_waitlisted", body={"position": 1}),
    op("GET", "/courses/sessions/{session_id}", SIGNED_IN, on="s_future"),
    op("PATCH", "/courses/sessions/{session_id}", C1_CLASSES, on="s_future",
       body={"venue": "西一路社区会议室"}),
    op("POST", "/courses/sessions/{session_id}/cancel", C1_CLASSES, on="s_future",
       body={"reason": "老师生病"}),
    op("POST", "/courses/sessions/{session_id}/signups", SIGNED_IN, ok=201, on="s_open", body={}),
    op("GET", "/courses/sessions/{session_id}/signups", C1_CLASSES, on="s_future"),
    op("GET", "/courses/sessions/{session_id}/checkin-token", C1_CLASSES, on="s_soon"),
    # Anyone may scan the code shown at the venue; only a learner (or their signer) is checked in.
    op("POST", "/courses/sessions/{session_id}/check-in", RESIDENT, other=everyone_else(RESIDENT, 409),
       on="s_soon", body=lambda w, r: {"token": w.checkin_token}),
    op("POST", "/courses/sessions/{session_id}/roll-call", C1_CLASSES, on="s_soon",
       body=lambda w, r: {"entries": [{"signup_id": w.su_soon, "present": True}]}),
    op("GET", "/courses/{course_id}", SIGNED_IN, on="course"),
    op("PATCH", "/courses/{course_id}", C1_CLASSES, on="course", body={"title": "智能手机入门（二）"}),
    op("POST", "/courses/{course_id}/sessions", C1_CLASSES, ok=201, on="course",
       body=lambda w, r: {"starts_at": later(120), "ends_at": later(121), "venue": "活动室", "capacity": 10,
                          "teacher_ids": [w.uid("teacher")]}),
    # --- WeChat (the push URL is authenticated by WeChat's signature, not by a login) -----------
    op("GET", "/me/subscriptions", SIGNED_IN),
    op("POST", "/me/subscriptions", SIGNED_IN, body={"results": {"dev-ticket.claimed": "accept"}}),
    op("POST", "/me/phone", SIGNED_IN, body=lambda w, r: {"code": f"phone:1390000{ROLES.index(r):04d}"}),
    op("GET", "/wechat/push", EVERYONE, login=False, params=push("echo")),
    op("GET", "/wechat/push", NOBODY, login=False, params=push("echo", forged=True),
       variant="forged signature"),
    op("POST", "/wechat/push", EVERYONE, login=False, params=push(), body=EVENT),
    op("POST", "/wechat/push", NOBODY, login=False, params=push(forged=True), body=EVENT,
       variant="forged signature"),
    # --- operations -----------------------------------------------------------------------------
    op("GET", "/healthz", EVERYONE),
    op("GET", "/readyz", EVERYONE),
    # --- Open311 GeoReport v2 (no login; filing takes a partner api_key) and its keys -----------
    op("POST", "/open311/keys", S1_STAFF, ok=201, body=in_s1(partner_name="城市网格平台")),
    op("GET", "/open311/keys", S1_STAFF, params=in_s1()),
    op("DELETE", "/open311/keys/{key_id}", S1_STAFF, ok=204, deny=404, on="open311_key_id"),
    Op("GET", "/open311/v2/discovery.{format}", EVERYONE, login=False, ids={"format": "json"}),
    Op("GET", "/open311/v2/services.{format}", EVERYONE, login=False, ids={"format": "xml"}),
    Op("GET", "/open311/v2/services/{service_code}.{format}", EVERYONE, login=False,
       ids={"service_code": "category", "format": "json"}),
    Op("POST", "/open311/v2/requests.{format}", EVERYONE, ok=201, login=False, ids={"format": "json"},
       form=lambda w, r: {"api_key": w.open311_key, "service_code": w.category, "description": "路灯不亮",
                          "lat": "34.272", "long": "108.952"}),
    Op("GET", "/open311/v2/tokens/{token_id}.{format}", EVERYONE, login=False,
       ids={"token_id": "t_new", "format": "json"}),
    Op("GET", "/open311/v2/requests.{format}", EVERYONE, login=False, ids={"format": "json"}),
    Op("GET", "/open311/v2/requests/{service_request_id}.{format}", EVERYONE, login=False,
       ids={"service_request_id": "t_new", "format": "xml"}),
    Op("GET", "/open311/v2/servicerequestupdates.{format}", EVERYONE, login=False, ids={"format": "json"}),
]
# fmt: on


def _cases() -> list[Any]:
    cases = []
    for row in MATRIX:
        for role in ROLES:
            marks = [pytest.mark.xfail(strict=True, reason=row.bugs[role])] if role in row.bugs else []
            cases.append(pytest.param(row, role, id=f"{row.name} | {role}", marks=marks))
    return cases


# --- running a cell ----------------------------------------------------------------------


def _resolve(w: World, value: Any, role: str) -> Any:
    return value(w, role) if callable(value) else value


def _path(w: World, row: Op) -> str:
    values = {}
    for name, ref in row.ids.items():
        if ref.startswith("@"):
            values[name] = w.uid(ref[1:])
        else:
            values[name] = w.ids.get(ref, ref)
    return row.path.format(**values)


async def _stream_status(app: Any, path: str, headers: dict[str, str]) -> int:
    """The status of a streaming response (Server-Sent Events): read the start, then hang up."""
    started, answer = asyncio.Event(), {}

    async def receive() -> dict[str, Any]:
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            started.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(started.wait(), 10)
    try:
        await asyncio.wait_for(task, 10)
    except TimeoutError:  # pragma: no cover - the app did not notice the hang-up
        task.cancel()
    return answer["status"]


async def send(env: Env, row: Op, role: str) -> httpx.Response | int:
    w = env.w
    path = _path(w, row)
    headers = dict(env.auth(role))
    if row.stream:
        return await _stream_status(env.app, path, headers)
    kw: dict[str, Any] = {"headers": headers}
    if row.body is not None:
        kw["json"] = _resolve(w, row.body, role)
    if row.params is not None:
        kw["params"] = _resolve(w, row.params, role)
    if row.form is not None:
        kw["data"] = _resolve(w, row.form, role)
    if row.upload:
        kw["files"] = {"file": (f"{role}.jpg", jpeg((10, 20 + ROLES.index(role), 30)), "image/jpeg")}
    return await env.client.request(row.method, path, **kw)


@pytest.mark.parametrize(("row", "role"), _cases())
async def test_authorization(env: Env, row: Op, role: str) -> None:
    async with env.savepoint():
        r = await send(env, row, role)
    status = r if isinstance(r, int) else r.status_code
    expected = row.expected(role)
    detail = "" if isinstance(r, int) else r.text[:300]
    assert status == expected, f"{row.name} as {role}: expected {expected}, got {status} {detail}"
    if status in (401, 403, 404) and isinstance(r, httpx.Response):
        code = r.json()["code"]  # the error envelope, with the object's own code
        assert code != "route.not_found", f"{row.name}: the route itself was not found"


def test_matrix_covers_every_operation() -> None:
    """Every operation of the live OpenAPI document has a row, and every row is a live operation."""
    spec = create_app(make_settings("sqlite+aiosqlite:///:memory:")).openapi()
    live = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m != "parameters"}
    rows = {(row.method, row.path) for row in MATRIX}
    assert sorted(live - rows) == [], "operations without a row in the authorization matrix"
    assert sorted(rows - live) == [], "rows for operations that no longer exist"
    names = [row.name for row in MATRIX]
    assert len(names) == len(set(names)), "two rows for the same operation and variant"
    for row in MATRIX:
        assert row.allow <= EVERYONE and set(row.bugs) <= EVERYONE and set(row.other) <= EVERYONE
        assert row.deny in (401, 403, 404)
    print(  # noqa: T201
        f"\nauthorization matrix: {len(live)} operations, {len(MATRIX)} rows x {len(ROLES)} roles"
        f" = {len(MATRIX) * len(ROLES)} cases"
    )


def render() -> str:
    """The matrix as a Markdown table (`python -m tests.test_authz_matrix`)."""
    short = {"other_grid_worker": "other grid worker", "other_community_admin": "C2 admin"}
    head = ["operation", *(short.get(r, r.replace("_", " ")) for r in ROLES)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in MATRIX:
        cells = []
        for role in ROLES:
            status = row.expected(role)
            mark = "**" if role in row.allow or role in row.other else ""
            cells.append(f"{mark}{status}{mark}" + (" (bug)" if role in row.bugs else ""))
        name = f"{row.method} {row.path.removeprefix(API)}" + (f" [{row.variant}]" if row.variant else "")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())  # noqa: T201
