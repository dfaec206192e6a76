"""Server-Sent Events end to end: a real server (uvicorn on loopback, with its lifespan running
the outbox dispatcher), a worker subscribed with httpx streaming, and a resident's report in the
worker's grid arriving as a `ticket.new` event. Bounded in time; no sleeping to drive the logic."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.media.storage import InMemoryStorage
from app.org.models import Category
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import World, bearer, make_category, make_world
from tests.fakes import FrozenClock

EVENTS = "/api/v1/events"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


@dataclass
class Server:
    url: str
    app: Any
    world: World
    category: Category
    headers: Any  # user -> Authorization header


@pytest.fixture
async def server(databases: DatabaseFactory, tmp_path) -> AsyncIterator[Server]:  # type: ignore[no-untyped-def]
    settings = make_settings(databases.copy(), tmp_path)
    clock = FrozenClock()
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with app.state.sessionmaker() as session:
        world = await make_world(session)
        category = await make_category(session, world.s1, respond_minutes=10, resolve_hours=72)
        await session.commit()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve(sockets=[sock]))

    async def started() -> None:
        while not srv.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

    await asyncio.wait_for(started(), 10)
    try:
        yield Server(f"http://127.0.0.1:{port}", app, world, category, lambda u: bearer(settings, clock, u))
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    """Read one event (skipping `: ping` comments) as {"event", "id", "data", "retry"}."""
    event: dict[str, Any] = {}
    async for line in lines:
        if line == "":
            if event:
                return event
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        event[field] = value.removeprefix(" ")
    raise AssertionError("stream ended")


async def test_a_report_in_my_grid_arrives_as_a_live_event(server: Server) -> None:
    w = server.world
    client = httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30)
    async with client, client.stream("GET", EVENTS, headers=server.headers(w.worker)) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        ready = await asyncio.wait_for(next_event(lines), 5)
        assert ready["event"] == "ready" and json.loads(ready["data"]) == {"user_id": str(w.worker.id)}

        body = {"category_id": str(server.category.id), "description": "路面塌陷", "location": IN_G1}
        r = await client.post("/api/v1/tickets", json=body, headers=server.headers(w.resident))
        assert r.status_code == 201, r.text
        ticket = r.json()

        # Delivered by the lifespan's dispatcher, woken by the after-commit hook (or its 1 s poll).
        event = await asyncio.wait_for(next_event(lines), 5)
        assert event["event"] == "ticket.new"
        data = json.loads(event["data"])
        assert data["kind"] == "ticket.new" and data["ticket_id"] == ticket["id"]
        assert data["title"] == "新的随手拍问题" and data["data"]["number"] == ticket["number"]
        assert event["id"] == data["notification_id"]

        inbox = await client.get("/api/v1/notifications", headers=server.headers(w.worker))
        assert inbox.json()["items"][0]["id"] == data["notification_id"]
        assert server.app.state.broker.subscriber_count(w.worker.id) == 1

    async def unsubscribed() -> None:  # the server notices the closed connection
        while server.app.state.broker.subscriber_count(w.worker.id):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(unsubscribed(), 5)


async def test_events_need_a_login(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as client:
        r = await client.get(EVENTS)
        assert r.status_code == 401 and r.json()["code"] == "auth.token_missing"
