"""Every non-2xx answer uses the one envelope; commit failures never become a 200."""

import httpx
from fastapi import APIRouter

from app.core.db import SessionDep
from app.core.errors import NotFound
from app.org.models import Subdistrict
from tests.factories import make_subdistrict


def _envelope(body: dict) -> None:
    assert set(body) == {"code", "message", "details"}
    assert isinstance(body["code"], str) and "." in body["code"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


def _install_test_routes(app) -> None:  # type: ignore[no-untyped-def]
    router = APIRouter(prefix="/_test")

    @router.post("/commit-conflict")
    async def commit_conflict(session: SessionDep) -> dict:
        # Not flushed: the unique violation only surfaces when the unit of work commits.
        session.add(Subdistrict(code="dup", name="重复"))
        return {"stored": True}

    @router.get("/not-found")
    async def not_found() -> None:
        raise NotFound(thing="x")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    app.include_router(router)


class TestErrorEnvelope:
    async def test_unknown_route(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/nope")
        assert r.status_code == 404
        _envelope(r.json())
        assert r.json()["code"] == "route.not_found"

    async def test_wrong_method(self, client: httpx.AsyncClient) -> None:
        r = await client.delete("/healthz")
        assert r.status_code == 405
        assert r.json()["code"] == "request.method_not_allowed"

    async def test_validation_errors_list_each_field_in_chinese(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/v1/auth/wechat/login", json={"code": "", "extra": 1})
        assert r.status_code == 422
        body = r.json()
        _envelope(body)
        assert body["code"] == "request.invalid"
        by_field = {e["field"]: e for e in body["details"]["errors"]}
        assert by_field["code"]["type"] == "string_too_short"
        assert by_field["code"]["message"] == "内容太短"
        assert by_field["extra"]["message"] == "不允许的字段"

    async def test_malformed_json_is_a_422_envelope(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/v1/auth/wechat/login", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422
        assert r.json()["code"] == "request.invalid"

    async def test_app_errors_carry_their_code_status_and_details(
        self, app, client: httpx.AsyncClient
    ) -> None:
        _install_test_routes(app)
        r = await client.get("/_test/not-found")
        assert r.status_code == 404
        assert r.json() == {"code": "app.not_found", "message": "没有找到", "details": {"thing": "x"}}

    async def test_unexpected_errors_are_a_500_envelope_without_internals(self, app) -> None:
        _install_test_routes(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/_test/boom")
        assert r.status_code == 500
        _envelope(r.json())
        assert "unexpected" not in r.text

    async def test_oversized_json_body_is_refused_with_413(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/v1/auth/wechat/login",
            content=b'{"code":"' + b"x" * 300_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413
        assert r.json()["code"] == "request.too_large"

    async def test_streamed_body_is_cut_off_once_it_passes_the_limit(self, client: httpx.AsyncClient) -> None:
        sent = 0

        async def chunks():  # type: ignore[no-untyped-def]
            nonlocal sent
            for _ in range(40):
                sent += 1
                yield b"x" * 50_000

        r = await client.post(
            "/api/v1/auth/wechat/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert r.json()["code"] == "request.too_large"


class TestUnitOfWork:
    async def test_a_failing_commit_is_never_answered_with_200(self, app, client, session) -> None:
        await make_subdistrict(session, code="dup")
        await session.commit()
        _install_test_routes(app)
        r = await client.post("/_test/commit-conflict")
        assert r.status_code == 409
        assert r.json()["code"] == "app.conflict"
