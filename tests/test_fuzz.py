"""Property-based API fuzzing with schemathesis (issue #8).

Every operation of the app's OpenAPI document (read from its /openapi.json) is called with requests
generated from its schema, valid (positive) and invalid (negative), as each role: a resident, a grid
worker, a craftsman, a teacher, department staff, the admins of a community and of a subdistrict,
and the superadmin; and without a token (valid inputs only: the 401 comes first). Operations that
take no token (login, refresh, the WeChat push, health) are called without one, with three times
the examples. Path parameters are drawn at random and, more often, from real objects (two tickets,
one claimed; a repair order; a course with a session, a signup and its attendee; a help request; a
photo; a price item; the organisation tree), so the handlers behind the lookups are reached too.
Checks on every response:

* no 5xx (and no exception escaping the app),
* the body conforms to the schema the OpenAPI document declares for that status code,
* every 4xx is the error envelope {"code", "message", "details"}.

The app is built as production builds it (its own engine and sessionmaker, committing; its lifespan
with the outbox dispatchers) on a database of its own, and reached in-process through schemathesis'
ASGI transport. Before every operation the database is put back to the seeded state, so operations
do not disturb each other (within one, the roles run in the order of ROLES). The OpenAPI document
declares no links, so there is no stateful phase.

The run is bounded (LINLI_FUZZ_EXAMPLES examples per operation, role and mode; 4 by default) and
reproducible (the seed derives from operation, role and mode; LINLI_FUZZ_SEED changes it). Failures
are reported as found, with a curl command; LINLI_FUZZ_SHRINK=1 minimises them first. To fuzz harder:

    LINLI_FUZZ_EXAMPLES=50 LINLI_FUZZ_SHRINK=1 LINLI_FUZZ_SEED=$RANDOM \\
        .venv/bin/python -m pytest tests/test_fuzz.py

Bugs found and not fixed yet are listed in KNOWN_FINDINGS: their operations are strict xfails that
always send the minimal failing request, so they stay visible until fixed.
"""

import asyncio
import collections
import io
import json
import os
import shutil
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import make_url, select

from app.auth.permissions import Role
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.notification.models import Notification
from app.openapi_export import render
from app.org.service import GridIndexCache
from app.user.models import User, UserRole
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory, _pg_exec, in_thread
from tests.factories import bearer, make_building, make_category, make_user, make_world
from tests.fakes import FrozenClock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("LINLI_FUZZ_EXAMPLES", "4"))
# Shrinking a failure to a minimal request costs up to hundreds of calls: off unless asked for.
SHRINK = os.environ.get("LINLI_FUZZ_SHRINK", "") not in ("", "0")
SEED = int(os.environ.get("LINLI_FUZZ_SEED", "0"))
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# Within one operation a role's writes can only disturb the roles after it: anonymous goes last.
ROLES = (
    "resident",
    "grid_worker",
    "craftsman",
    "teacher",
    "department_staff",
    "community_admin",
    "subdistrict_admin",
    "superadmin",
    "anonymous",
)


@dataclass(frozen=True)
class Operation:
    label: str  # "GET /api/v1/me"
    secured: bool  # takes a bearer token


def _operations() -> dict[str, Operation]:
    """Every operation in the app's OpenAPI document, by operationId."""
    spec = json.loads(render())
    return {
        op["operationId"]: Operation(f"{method.upper()} {path}", bool(op.get("security")))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }


OPERATIONS = _operations()


@dataclass(frozen=True)
class Finding:
    """A bug the fuzzer found that is not fixed yet. The operation's test is a strict xfail, and the
    minimal request showing the bug is always sent (as `role`, besides the generated ones), so the
    test keeps failing until the bug is fixed, then tells you to remove the entry."""

    what: str
    role: str
    query: dict[str, str] | None = None  # "{subdistrict_id}": the first seeded id of that name
    body: Any = None
    path: dict[str, str] | None = None
    backends: tuple[str, ...] = ("sqlite", "postgresql")


KNOWN_FINDINGS: dict[str, Finding] = {}


# --- The seeded world ----------------------------------------------------------------------------


@dataclass
class Seeded:
    backend: str
    db: "FuzzDatabase"
    app: Any
    storage: dict[str, bytes]  # photos uploaded while seeding (InMemoryStorage.objects)
    content_types: dict[str, str]
    headers: dict[str, dict[str, str]]  # role -> Authorization header
    ids: dict[str, list[str]]  # path parameter name -> real values
    schema: Any = None
    strategies: dict[tuple[str, str], Any] = field(default_factory=dict)  # (operation, mode) -> cases
    cases: collections.Counter = field(default_factory=collections.Counter)  # (role, mode) -> calls
    statuses: collections.Counter = field(default_factory=collections.Counter)  # (role, "2xx") -> calls
    succeeded: set[str] = field(default_factory=set)  # operations that answered 2xx at least once
    tested: set[str] = field(default_factory=set)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


async def _seed(settings: Settings, clock: FrozenClock, storage: InMemoryStorage) -> tuple[dict, dict]:
    """make_world plus a category, a building, a teacher and a craftsman; then, through the API, a
    craftsman profile, a price item, a photo, two tickets (one claimed), a repair order, a course
    with a session and a signup, and a help request. Returns (role -> user, path param -> ids)."""
    engine = create_engine(settings.database)
    maker = create_sessionmaker(engine)
    async with maker() as session:
        w = await make_world(session)
        category = await make_category(session, w.s1, name="设施损坏", respond_minutes=10, resolve_hours=72)
        building = await make_building(session, w.c1)
        teacher = await make_user(session, (Role.TEACHER, w.c1), display_name="陈老师", phone="13700000001")
        craftsman = await make_user(
            session, (Role.CRAFTSMAN, w.s1), display_name="王师傅", phone="13600000001"
        )
        await session.commit()
    users = {
        "resident": w.resident,
        "grid_worker": w.worker,
        "craftsman": craftsman,
        "teacher": teacher,
        "department_staff": w.dept_staff,
        "community_admin": w.c1_admin,
        "subdistrict_admin": w.sub_admin,
        "superadmin": w.superadmin,
    }

    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=storage)
    await app.state.engine.dispose()
    app.state.sessionmaker = maker

    def auth(user: User) -> dict[str, str]:
        return bearer(settings, clock, user)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

        async def call(method: str, url: str, user: User, status: int = 200, **kw: Any) -> Any:
            r = await client.request(method, f"/api/v1{url}", headers=auth(user), **kw)
            assert r.status_code == status, f"{method} {url}: {r.status_code} {r.text}"
            return r.json()

        await call(
            "PUT",
            f"/repairs/craftsmen/{craftsman.id}",
            w.sub_admin,
            json={"subdistrict_id": str(w.s1.id), "skills": ["plumbing", "electrical"]},
        )
        item = await call(
            "POST",
            "/repairs/price-items",
            w.sub_admin,
            201,
            json={
                "subdistrict_id": str(w.s1.id),
                "category": "plumbing",
                "name": "更换水龙头",
                "unit": "个",
                "price_cents": 2000,
            },
        )
        photo = await call(
            "POST", "/uploads", w.resident, 201, files={"file": ("wx_tmp.png", _png(), "image/png")}
        )
        ticket_body = {
            "category_id": str(category.id),
            "description": "井盖破损，晚上很危险",
            "location": {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"},
        }
        fresh = await call(
            "POST", "/tickets", w.resident, 201, json={**ticket_body, "photo_ids": [photo["id"]]}
        )
        claimed = await call("POST", "/tickets", w.resident, 201, json=ticket_body)
        await call("POST", f"/tickets/{claimed['id']}/claim", w.worker, json={})
        # An Open311 partner key and one request filed with it (form-encoded, as the spec has it).
        key = await call(
            "POST",
            "/open311/keys",
            w.sub_admin,
            201,
            json={"subdistrict_id": str(w.s1.id), "partner_name": "12345 热线"},
        )
        r = await client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": key["api_key"],
                "service_code": str(category.id),
                "description": "路灯不亮",
                "lat": "34.272",
                "long": "108.952",
            },
        )
        assert r.status_code == 201, r.text
        open311 = r.json()[0]
        order = await call(
            "POST",
            "/repairs/orders",
            w.resident,
            201,
            json={"category": "plumbing", "description": "厨房水龙头一直滴水"},
        )
        course = await call(
            "POST",
            "/courses",
            w.c1_admin,
            201,
            json={"community_id": str(w.c1.id), "title": "智能手机入门：健康码", "topics": ["health_code"]},
        )
        start = clock.now() + timedelta(hours=48)
        course_session = await call(
            "POST",
            f"/courses/{course['id']}/sessions",
            w.c1_admin,
            201,
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "venue": "西一路社区活动室",
                "capacity": 10,
                "teacher_ids": [str(teacher.id)],
            },
        )
        signup = await call(
            "POST", f"/courses/sessions/{course_session['id']}/signups", w.resident, 201, json={}
        )
        help_request = await call(
            "POST",
            "/courses/help-requests",
            w.resident,
            201,
            json={"topic": "hospital_booking", "description": "想学网上挂号"},
        )

    async with maker() as session:
        notification = await session.scalar(select(Notification.id).limit(1))
        role_id = await session.scalar(select(UserRole.id).where(UserRole.user_id == teacher.id))
    await engine.dispose()
    ids = {
        "ticket_id": [fresh["id"], claimed["id"]],
        "order_id": [order["id"]],
        "course_id": [course["id"]],
        "session_id": [course_session["id"]],
        "signup_id": [signup["id"]],
        "attendee_id": [signup["attendee"]["id"]],
        "request_id": [help_request["id"]],
        "photo_id": [photo["id"]],
        "item_id": [item["id"]],
        "notification_id": [str(notification)] if notification else [],
        "role_id": [str(role_id)],
        "user_id": [str(u.id) for u in (w.resident, w.worker, craftsman, teacher)],
        "subdistrict_id": [str(w.s1.id), str(w.s2.id)],
        "community_id": [str(w.c1.id), str(w.c3.id)],
        "grid_id": [str(w.g1.id), str(w.g3.id)],
        "building_id": [str(building.id)],
        "category_id": [str(category.id)],
        "department_id": [str(w.dept.id)],
        "key_id": [key["id"]],
        "service_code": [str(category.id)],
        "service_request_id": [open311["service_request_id"], claimed["number"]],
        "token_id": [open311["token"]],
        OPEN311_KEY: [key["api_key"]],
    }
    return users, ids


class FuzzDatabase:
    """The app's database, put back to the seeded state before every operation."""

    def __init__(self, backend: str, seeded_url: str, workdir: Path, admin_url: str | None) -> None:
        self.backend = backend
        self.admin_url = admin_url or ""  # PostgreSQL: where to run CREATE/DROP DATABASE
        self.seeded = make_url(seeded_url)
        self.url = self.seeded.set(
            database=str(workdir / "fuzz.db") if backend == "sqlite" else f"{self.seeded.database}_fuzz"
        ).render_as_string(hide_password=False)

    def reset(self) -> None:
        """Replace the database by a copy of the seeded one; nothing may be connected to it."""
        if self.backend == "sqlite":
            target = Path(make_url(self.url).database or "")
            for leftover in (
                target,
                target.with_name(f"{target.name}-wal"),
                target.with_name(f"{target.name}-shm"),
            ):
                leftover.unlink(missing_ok=True)
            shutil.copyfile(self.seeded.database or "", target)
            return
        name = make_url(self.url).database
        in_thread(
            asyncio.run,
            _pg_exec(
                self.admin_url,
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                f'CREATE DATABASE "{name}" TEMPLATE "{self.seeded.database}"',
            ),
        )

    def drop(self) -> None:
        """Drop the app's database (DatabaseFactory drops the seeded one, which it made)."""
        if self.backend == "postgresql":
            name = make_url(self.url).database
            in_thread(asyncio.run, _pg_exec(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def seeded(
    databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("fuzz")
    url = databases.copy()
    settings, clock, storage = make_settings(url, tmp), FrozenClock(), InMemoryStorage()
    users, ids = in_thread(asyncio.run, _seed(settings, clock, storage))
    db = FuzzDatabase(databases.backend, url, tmp, databases.pg_url)
    db.reset()
    # One app for the whole run: FastAPI's callable caches would keep every app ever built alive.
    # Built as production builds it; its lifespan runs (and is stopped and restarted around every
    # operation, when the database is put back).
    app = create_app(
        make_settings(db.url, tmp), clock=FrozenClock(), wechat=FakeWeChatClient(), storage=InMemoryStorage()
    )
    result = Seeded(
        backend=databases.backend,
        db=db,
        app=app,
        storage=storage.objects,
        content_types=storage.content_types,
        headers={role: bearer(settings, clock, user) for role, user in users.items()} | {"anonymous": {}},
        ids=ids,
    )
    try:
        result.schema = schemathesis.openapi.from_asgi(
            "/openapi.json",
            app,
            config=schemathesis.Config.from_dict(
                {
                    # Each role's token is sent explicitly; no generated Authorization headers.
                    "generation": {"with-security-parameters": False},
                    # GET /events is an endless SSE stream: its first event (`ready`) is enough.
                    "max-stream-events": 1,
                }
            ),
        )
        yield result
    finally:
        asgi.shutdown_lifespans()
        db.drop()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and result.cases:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(f"fuzz ({databases.backend}): calls per role (valid + invalid), answers")
            for role in ROLES:
                pos, neg = (result.cases[(role, mode.value)] for mode in MODES)
                answers = ", ".join(f"{result.statuses[(role, c)]} {c}" for c in ("2xx", "3xx", "4xx", "5xx"))
                reporter.write_line(f"  {role:<18} {pos:>5} + {neg:<5} {answers}")
            ok, tested = len(result.succeeded), len(result.tested)
            reporter.write_line(f"  operations that answered 2xx at least once: {ok} of {tested}")


@pytest.fixture
def fuzz_app(seeded: Seeded) -> Any:
    """The app on the seeded database as it was before any operation was fuzzed."""
    app = seeded.app
    asgi.shutdown_lifespans()  # disposes of the engine; the next request starts the app again
    seeded.db.reset()
    app.state.grid_index = GridIndexCache()
    app.state.wechat = FakeWeChatClient()
    app.state.storage.objects = dict(seeded.storage)
    app.state.storage.content_types = dict(seeded.content_types)
    return app


OPEN311 = "/open311/"
OPEN311_KEY = "open311 api_key"  # in Seeded.ids: the partner key put into positive POST requests
OPEN311_FILE = ("POST", "/open311/v2/requests.{format}")


def _open311_errors(content: bytes) -> list[tuple[object, object]]:
    """The GeoReport v2 error list, from JSON or XML: [(code, description)]."""
    try:
        body = json.loads(content)
        return [(e.get("code"), e.get("description")) for e in body] if isinstance(body, list) else []
    except ValueError:
        pass
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return []
    if root.tag != "errors":
        return []
    return [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")]


# --- Checks --------------------------------------------------------------------------------------


def error_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx is the app's error envelope: {"code": str, "message": str, "details": object};
    under /open311/ the spec's error list instead (JSON or XML), its codes the HTTP status."""
    if not 400 <= response.status_code < 500:
        return None
    if case.path.startswith(OPEN311):
        errors = _open311_errors(response.content)
        if not errors or not all(str(code) == str(response.status_code) and desc for code, desc in errors):
            raise AssertionError(
                f"{response.status_code} without the Open311 error list: {response.content[:200]!r}"
            )
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} without a JSON body: {response.content[:200]!r}"
        ) from None
    if not (
        isinstance(body, dict)
        and set(body) == {"code", "message", "details"}
        and isinstance(body["code"], str)
        and body["code"]
        and isinstance(body["message"], str)
        and isinstance(body["details"], dict)
    ):
        raise AssertionError(f"{response.status_code} without the error envelope: {body!r}")
    return None


CHECKS = [not_a_server_error, response_schema_conformance, error_envelope]


# --- The test ------------------------------------------------------------------------------------


def _strategy(operation: Any, mode: schemathesis.GenerationMode, seeded: Seeded) -> Any:
    """Cases with random path parameters, and (more often) with those of real objects."""
    key = (operation.label, mode.value)
    if key not in seeded.strategies:
        ids = seeded.ids
        known = [p.name for p in operation.path_parameters if ids.get(p.name)]
        strategies = [operation.as_strategy(generation_mode=mode)]
        for i in range(max((len(ids[n]) for n in known), default=0)):
            fixed = {n: ids[n][i % len(ids[n])] for n in known}
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        seeded.strategies[key] = st.one_of(strategies)
    return seeded.strategies[key]


def _where(exc: BaseException) -> str:
    """The innermost frame in app/ of an exception that escaped the app."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}app{os.sep}" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f"  at {os.path.relpath(f.filename, ROOT)}:{f.lineno} in {f.name}\n"


def _describe(role: str, mode: str, exc: BaseException) -> str:
    notes = "\n".join(getattr(exc, "__notes__", []))
    head = f"--- as {role}, {mode} ---\n"
    if isinstance(exc, schemathesis.errors.FailureGroup):
        return f"{head}{exc}\n{notes}"
    return f"{head}{type(exc).__name__}: {exc}\n{_where(exc)}{notes}"


def _plan(op: Operation) -> list[tuple[str, schemathesis.GenerationMode, int]]:
    """(role, mode, max examples) runs for one operation. Operations without a token are called
    by nobody, harder; the others as every role, and without a token (valid inputs only: the 401
    comes before any validation)."""
    if not op.secured:
        return [("anonymous", mode, EXAMPLES * 3) for mode in MODES]
    return [(role, mode, EXAMPLES) for role in ROLES[:-1] for mode in MODES] + [
        ("anonymous", schemathesis.GenerationMode.POSITIVE, EXAMPLES)
    ]


def _pinned(operation: Any, finding: Finding, ids: dict[str, list[str]]) -> schemathesis.Case:
    """The finding's request as a case of the operation."""
    first = {name: values[0] for name, values in ids.items() if values}

    def fill(values: dict[str, str] | None) -> dict[str, str]:
        return {k: v.format(**first) for k, v in (values or {}).items()}

    return operation.Case(
        path_parameters=fill(finding.path),
        query=fill(finding.query),
        **({"body": finding.body, "media_type": "application/json"} if finding.body is not None else {}),
    )


def _run(
    operation: Any,
    role: str,
    mode: Any,
    examples: int,
    seeded: Seeded,
    app: Any,
    pinned: schemathesis.Case | None = None,
) -> None:
    """Fuzz one operation as one role in one mode (sending `pinned` too, if given)."""
    headers = seeded.headers[role]
    calls = 0

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        report_multiple_bugs=False,
        phases=[
            hypothesis.Phase.explicit,
            hypothesis.Phase.generate,
            *([hypothesis.Phase.shrink] if SHRINK else []),
        ],
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.seed(zlib.crc32(f"{SEED}:{operation.label}:{role}:{mode.value}".encode()))
    @hypothesis.given(case=_strategy(operation, mode, seeded))
    def fuzz(case: schemathesis.Case) -> None:
        nonlocal calls
        calls += 1
        positive = mode is schemathesis.GenerationMode.POSITIVE
        if positive and (case.method, case.path) == OPEN311_FILE and isinstance(case.body, dict):
            case.body["api_key"] = seeded.ids[OPEN311_KEY][0]  # a partner's, so requests get filed
        response = case.call(app=app, headers=headers, timeout=30)
        seeded.statuses[(role, f"{response.status_code // 100}xx")] += 1
        if response.status_code < 300:
            seeded.succeeded.add(operation.label)
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": app})

    if pinned is not None:
        fuzz = hypothesis.example(case=pinned)(fuzz)
    try:
        fuzz()
    except hypothesis.errors.Unsatisfiable:
        if mode is schemathesis.GenerationMode.POSITIVE:
            raise
        # Nothing in the request can be made invalid (no parameters, no body): no negative cases.
    finally:
        seeded.cases[(role, mode.value)] += calls


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_fuzz(operation_id: str, seeded: Seeded, fuzz_app: Any, request: pytest.FixtureRequest) -> None:
    op = OPERATIONS[operation_id]
    method, path = op.label.split(" ", 1)
    operation = seeded.schema[path][method]
    seeded.tested.add(op.label)
    finding = KNOWN_FINDINGS.get(operation_id)
    if finding is not None and seeded.backend in finding.backends:
        request.applymarker(pytest.mark.xfail(strict=True, reason=finding.what))
    failures = []
    for role, mode, examples in _plan(op):
        pinned = None
        if finding is not None and (role, mode) == (finding.role, schemathesis.GenerationMode.POSITIVE):
            pinned = _pinned(operation, finding, seeded.ids)
        try:
            _run(operation, role, mode, examples, seeded, fuzz_app, pinned)
        except (Exception, schemathesis.errors.FailureGroup) as exc:  # FailureGroup: a BaseException
            failures.append(_describe(role, mode.value, exc))
    assert not failures, f"{op.label}: {len(failures)} failing role/mode(s)\n\n" + "\n\n".join(failures)


def test_fuzz_covers_every_operation(seeded: Seeded) -> None:
    served = sorted(
        f"{op.method.upper()} {op.path}"
        for result in seeded.schema.get_all_operations()
        for op in [result.ok()]
    )
    assert served == sorted(op.label for op in OPERATIONS.values())
    assert not set(KNOWN_FINDINGS) - set(OPERATIONS), "KNOWN_FINDINGS names operations that do not exist"
    for operation_id, finding in KNOWN_FINDINGS.items():
        assert finding.role in {role for role, _, _ in _plan(OPERATIONS[operation_id])}, operation_id


def test_the_checks_catch_what_they_are_for() -> None:
    """The checks themselves, on a toy app: a 5xx, a 4xx outside the envelope, a body off-schema."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel

    class Out(BaseModel):
        n: int

    toy = FastAPI()

    @toy.get("/ok", response_model=Out)
    def ok() -> Any:
        return {"n": 1}

    @toy.get("/boom")
    def boom() -> Any:
        return JSONResponse({"code": "server.error", "message": "x", "details": {}}, status_code=500)

    @toy.get("/bare")
    def bare() -> Any:
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    @toy.get("/off", responses={200: {"model": Out}})
    def off() -> Any:
        return JSONResponse({"n": "one"})

    schema = schemathesis.openapi.from_asgi("/openapi.json", toy)
    outcome = {}
    for path in ("/ok", "/boom", "/bare", "/off"):
        case = schema[path]["GET"].Case()
        try:
            case.validate_response(case.call(), checks=CHECKS)
            outcome[path] = "passed"
        except schemathesis.errors.FailureGroup as group:
            outcome[path] = " ".join(sorted({type(f).__name__ for f in group.exceptions}))
    asgi.shutdown_lifespans()
    assert outcome == {
        "/ok": "passed",
        "/boom": "ServerError",
        "/bare": "CustomFailure",
        "/off": "JsonSchemaError",
    }
