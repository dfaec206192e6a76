"""A round trip with a public Open311 client library from PyPI (`georeport`, read-only): requests
are filed with httpx as a partner system would, then read back through georeport.GeoReport in
both of its output formats, against the app served by uvicorn on loopback."""

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import georeport
import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.auth.permissions import Actor, Role
from app.core.clock import SystemClock
from app.core.db import create_engine
from app.open311 import service
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import make_category, make_world
from tests.server import serving


@contextlib.contextmanager
def _server(database_url: str, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LINLI_ENV": "dev",
        "LINLI_MEDIA__ROOT": str(tmp_path / "media"),
        "LINLI_BACKGROUND": "false",
    }
    env.pop("REDIS_URL", None)
    with serving(env, tmp_path / "server.log") as base:
        yield base


def _as_list(value):  # type: ignore[no-untyped-def]
    """xmltodict gives one child as a dict and several as a list."""
    return value if isinstance(value, list) else [value]


async def test_round_trip_with_the_georeport_client(databases: DatabaseFactory, tmp_path: Path) -> None:
    url = databases.copy()
    engine = create_engine(make_settings(url).database)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        w = await make_world(session)
        lamp = await make_category(session, w.s1, code="lamp", name="路灯不亮", respond_minutes=10)
        await make_category(session, w.s1, code="cover", name="井盖破损")
        _, api_key = await service.create_key(
            session,
            actor=Actor(user_id=w.superadmin.id, roles=frozenset({Role.SUPERADMIN})),
            clock=SystemClock(),
            subdistrict_id=w.s1.id,
            partner_name="12345 热线",
            community_id=None,
        )
        await session.commit()
    await engine.dispose()

    with _server(url, tmp_path) as base:
        root = f"{base}/open311/v2"
        created = []
        async with httpx.AsyncClient(timeout=30) as http:
            for fmt, text in (("json", "路灯不亮，晚上很黑"), ("xml", "路灯忽明忽暗")):
                form = {
                    "api_key": api_key,
                    "service_code": str(lamp.id),
                    "lat": "34.272",
                    "long": "108.952",
                    "description": text,
                    "first_name": "奶奶",
                    "last_name": "刘",
                    "phone": "13611112222",
                }
                r = await http.post(f"{root}/requests.{fmt}", data=form)
                assert r.status_code == 201, r.text
                created.append(r)
        number = created[0].json()[0]["service_request_id"]
        assert b"<service_request_id>T" in created[1].content

        def read(output_format: str) -> tuple[list, dict, list, dict]:  # type: ignore[type-arg]
            client = georeport.GeoReport(root, jurisdiction=w.s1.code, output_format=output_format)
            services = _as_list(client.get_service_list())
            definition = client.get_service_definition(str(lamp.id))
            requests = _as_list(client.get_service_requests(status="open"))
            one = client.get_service_request(number)
            return services, definition, requests, one

        for output_format in ("json", "xml"):
            services, definition, requests, one = await asyncio.to_thread(read, output_format)
            assert {s["service_name"] for s in services} == {"路灯不亮", "井盖破损"}
            assert definition["service_code"] == str(lamp.id)
            attributes = definition["attributes"]
            if output_format == "xml":
                attributes = _as_list(attributes["attribute"])
            assert [a["code"] for a in attributes] == ["coord_system", "consent_note"]
            assert sorted(r["description"] for r in requests) == sorted(
                ["路灯忽明忽暗", "路灯不亮，晚上很黑"]
            )
            assert all(r["status"] == "open" and r["service_code"] == str(lamp.id) for r in requests)
            assert one["service_request_id"] == number and one["service_name"] == "路灯不亮"
            assert "13611112222" not in str(requests) and "刘奶奶" not in str(requests)
