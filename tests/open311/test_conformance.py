"""GeoReport v2 conformance: every method in JSON (checked against the JSON Schemas in
tests/open311/schemas.py) and in XML (parsed, with the spec's element names), and the spec's
error list with its status codes in both formats."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import jsonschema
import pytest
from sqlalchemy import select

from app.ticket.models import Ticket
from tests.open311 import schemas
from tests.open311.conftest import BASE, IN_G1

FORMATS = ("json", "xml")


def doc(r, schema=None):  # type: ignore[no-untyped-def]
    """The parsed body: JSON checked against `schema`, or the XML document element."""
    if r.headers["content-type"].startswith("text/xml"):
        assert r.headers["content-type"] == "text/xml; charset=utf-8"
        assert r.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
        return ET.fromstring(r.content)
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    if schema is not None:
        jsonschema.validate(body, schema)
    return body


def rows(root: ET.Element, wrapper: str, child: str) -> list[dict[str, str | None]]:
    """A list document as dicts of element texts (nested lists left out)."""
    assert root.tag == wrapper
    assert all(el.tag == child for el in root)
    return [{c.tag: c.text for c in el} for el in root]


def assert_error(r, status: int, fmt: str) -> str:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = doc(r, schemas.ERRORS)
    if fmt == "json":
        assert body[0]["code"] == status
        return body[0]["description"]
    (error,) = rows(body, "errors", "error")
    assert set(error) == {"code", "description"} and error["code"] == str(status)
    return error["description"] or ""


@pytest.mark.parametrize("fmt", FORMATS)
async def test_discovery(client, fmt) -> None:  # type: ignore[no-untyped-def]
    r = await client.get(f"{BASE}/discovery.{fmt}")
    assert r.status_code == 200
    body = doc(r, schemas.DISCOVERY)
    if fmt == "json":
        assert body["endpoints"][0]["url"] == "http://test/open311/v2"
        return
    assert body.tag == "discovery"
    endpoint = body.find("endpoints/endpoint")
    assert endpoint is not None and endpoint.findtext("url") == "http://test/open311/v2"
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_services(client, w, fmt) -> None:  # type: ignore[no-untyped-def]
    r = await client.get(f"{BASE}/services.{fmt}")
    assert r.status_code == 200
    body = doc(r, schemas.SERVICES)
    services = body if fmt == "json" else rows(body, "services", "service")
    by_code = {s["service_code"]: s for s in services}
    assert set(by_code) == {str(w.category.id), str(w.other_category.id)}
    mine = by_code[str(w.category.id)]
    assert mine["service_name"] == "设施损坏" and mine["keywords"] == "facility"
    assert mine["metadata"] in (True, "true") and mine["type"] == "realtime"
    assert "10 分钟内响应" in mine["description"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_services_by_jurisdiction_id_or_code(client, w, fmt) -> None:  # type: ignore[no-untyped-def]
    for jurisdiction in (str(w.s2.id), w.s2.code):
        r = await client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": jurisdiction})
        body = doc(r, schemas.SERVICES)
        services = body if fmt == "json" else rows(body, "services", "service")
        assert [s["service_code"] for s in services] == [str(w.other_category.id)]
    r = await client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": "no-such-place"})
    assert "jurisdiction" in assert_error(r, 404, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_service_definition(client, w, fmt) -> None:  # type: ignore[no-untyped-def]
    r = await client.get(f"{BASE}/services/{w.category.id}.{fmt}")
    assert r.status_code == 200
    body = doc(r, schemas.DEFINITION)
    if fmt == "json":
        assert body["service_code"] == str(w.category.id)
        codes = [a["code"] for a in body["attributes"]]
        values = [v["key"] for v in body["attributes"][0]["values"]]
    else:
        assert body.tag == "service_definition" and body.findtext("service_code") == str(w.category.id)
        attrs = body.findall("attributes/attribute")
        codes = [a.findtext("code") for a in attrs]
        assert attrs[0].findtext("variable") == "true" and attrs[0].findtext("required") == "false"
        values = [v.findtext("key") for v in attrs[0].findall("values/value")]
    assert codes == ["coord_system", "consent_note"] and values == ["wgs84", "gcj02"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_service_definition_errors(client, w, fmt) -> None:  # type: ignore[no-untyped-def]
    assert_error(await client.get(f"{BASE}/services/nope.{fmt}"), 404, fmt)
    # A service of another jurisdiction is not found in this one.
    r = await client.get(
        f"{BASE}/services/{w.other_category.id}.{fmt}", params={"jurisdiction_id": w.s1.code}
    )
    assert_error(r, 404, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_post_request_then_token_then_request(client, post_request, w, fmt) -> None:  # type: ignore[no-untyped-def]
    r = await post_request(fmt)
    assert r.status_code == 201, r.text
    body = doc(r, schemas.CREATED)
    created = body[0] if fmt == "json" else rows(body, "service_requests", "request")[0]
    assert set(created) == {"service_request_id", "token", "service_notice", "account_id"}
    number, token = created["service_request_id"], created["token"]
    assert number.startswith("T") and created["service_notice"] == "10 分钟内响应"

    r = await client.get(f"{BASE}/tokens/{token}.{fmt}")
    assert r.status_code == 200
    body = doc(r, schemas.TOKENS)
    got = body[0] if fmt == "json" else rows(body, "service_requests", "request")[0]
    assert got == {"service_request_id": number, "token": token}

    for request_id in (number, token):  # the number, or the token, identify the request
        r = await client.get(f"{BASE}/requests/{request_id}.{fmt}")
        assert r.status_code == 200
        body = doc(r, schemas.REQUESTS)
        (req,) = body if fmt == "json" else rows(body, "service_requests", "request")
        assert req["service_request_id"] == number and req["status"] == "open"
        assert req["service_code"] == str(w.category.id) and req["service_name"] == "设施损坏"
        assert req["description"] == "井盖破损，晚上很危险"
        assert req["requested_datetime"] == "2026-11-22T02:00:00Z"
        assert req["expected_datetime"] == "2026-11-25T02:00:00Z"  # the 72-hour resolve deadline
        assert str(req["lat"]) == "34.272" and str(req["long"]) == "108.952"
        assert req["agency_responsible"] == w.c1.name


@pytest.mark.parametrize("fmt", FORMATS)
async def test_request_and_token_not_found(client, fmt) -> None:  # type: ignore[no-untyped-def]
    assert_error(await client.get(f"{BASE}/requests/T00000000000000.{fmt}"), 404, fmt)
    assert_error(await client.get(f"{BASE}/tokens/not-a-token.{fmt}"), 404, fmt)
    assert_error(await client.get(f"{BASE}/tokens/00000000-0000-4000-8000-000000000000.{fmt}"), 404, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_request_list(client, post_request, fmt) -> None:  # type: ignore[no-untyped-def]
    first = (await post_request()).json()[0]["service_request_id"]
    second = (await post_request(description="路灯不亮")).json()[0]["service_request_id"]
    r = await client.get(f"{BASE}/requests.{fmt}")
    assert r.status_code == 200
    body = doc(r, schemas.REQUESTS)
    listed = body if fmt == "json" else rows(body, "service_requests", "request")
    assert {x["service_request_id"] for x in listed} == {first, second}
    if fmt == "xml":  # every element of the JSON object, and nothing else
        json_keys = set((await client.get(f"{BASE}/requests.json")).json()[0])
        assert all(set(x) == json_keys for x in listed)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_service_request_updates(client, auth, post_request, w, clock, fmt) -> None:  # type: ignore[no-untyped-def]
    created = (await post_request()).json()[0]
    clock.advance(timedelta(minutes=3))
    r = await client.post(f"/api/v1/tickets/{created['token']}/claim", headers=auth(w.worker))
    assert r.status_code == 200, r.text
    r = await client.get(f"{BASE}/servicerequestupdates.{fmt}")
    assert r.status_code == 200
    body = doc(r, schemas.UPDATES)
    updates = body if fmt == "json" else rows(body, "service_request_updates", "request_update")
    assert [(u["service_request_id"], u["status"]) for u in updates] == [
        (created["service_request_id"], "open"),
        (created["service_request_id"], "investigating"),
    ]
    assert updates[1]["updated_datetime"] == "2026-11-22T02:03:00Z"
    # A window that ends before the claim holds only the report.
    r = await client.get(
        f"{BASE}/servicerequestupdates.{fmt}",
        params={"start_date": "2026-11-22T01:00:00Z", "end_date": "2026-11-22T02:01:00Z"},
    )
    body = doc(r, schemas.UPDATES)
    updates = body if fmt == "json" else rows(body, "service_request_updates", "request_update")
    assert [u["status"] for u in updates] == ["open"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_post_errors(client, post_request, w, fmt) -> None:  # type: ignore[no-untyped-def]
    assert_error(await post_request(fmt, key=""), 403, fmt)  # missing
    assert_error(await post_request(fmt, key="o311_wrong"), 403, fmt)
    assert_error(await post_request(fmt, service_code=None), 400, fmt)
    assert_error(await post_request(fmt, service_code="00000000-0000-4000-8000-000000000000"), 404, fmt)
    # The key is for S1; a service of S2 is not covered.
    assert_error(await post_request(fmt, service_code=str(w.other_category.id)), 403, fmt)
    assert_error(await post_request(fmt, lat=None, long=None), 400, fmt)  # nowhere
    assert_error(await post_request(fmt, long=None), 400, fmt)  # half a point
    assert_error(await post_request(fmt, lat="north"), 400, fmt)
    assert_error(await post_request(fmt, lat="95"), 400, fmt)
    assert_error(await post_request(fmt, description=None), 400, fmt)
    for field in ("description", "jurisdiction_id", "media_url", "first_name", "attribute[consent_note]"):
        assert_error(await post_request(fmt, **{field: "a\x00b"}), 400, fmt)  # PostgreSQL holds no NUL
    assert_error(await post_request(fmt, **{"attribute[colour]": "red"}), 400, fmt)
    assert_error(await post_request(fmt, **{"attribute[coord_system]": "bd09"}), 400, fmt)
    assert_error(await post_request(fmt, media_url="javascript:alert(1)"), 400, fmt)
    assert_error(await post_request(fmt, phone="12345"), 400, fmt)
    assert_error(await post_request(fmt, jurisdiction_id=w.s2.code), 403, fmt)
    assert_error(await post_request(fmt, jurisdiction_id="nowhere"), 404, fmt)
    # Outside every grid, and the partner has no community for such reports.
    assert_error(await post_request(fmt, lat="30.0", long="100.0"), 400, fmt)


async def test_post_must_be_a_form(client, partner, w) -> None:  # type: ignore[no-untyped-def]
    body = {"api_key": partner.key, "service_code": str(w.category.id), "description": "x" * 5, **IN_G1}
    r = await client.post(f"{BASE}/requests.json", json=body)
    assert_error(r, 403, "json")  # no form: no api_key


@pytest.mark.parametrize("fmt", FORMATS)
async def test_bad_parameters_are_400(client, fmt) -> None:  # type: ignore[no-untyped-def]
    for params in (
        {"status": "pending"},
        {"start_date": "yesterday"},
        {"page": "0"},
        {"page_size": "1001"},
        {"service_code": "not-a-code"},
    ):
        assert_error(await client.get(f"{BASE}/requests.{fmt}", params=params), 400, fmt)


async def test_unknown_format_and_route(client) -> None:  # type: ignore[no-untyped-def]
    assert_error(await client.get(f"{BASE}/services.html"), 400, "json")
    assert_error(await client.get(f"{BASE}/nothing.xml"), 404, "xml")
    assert_error(await client.delete(f"{BASE}/services.json"), 404, "json")
    # /api/v1 keeps its envelope.
    r = await client.get("/api/v1/open311/keys/nothing")
    assert set(r.json()) == {"code", "message", "details"}


async def test_report_enters_the_normal_lifecycle(client, post_request, w, session, clock) -> None:  # type: ignore[no-untyped-def]
    from app.notification.models import Notification

    clock.advance(timedelta(seconds=17))
    r = await post_request()
    assert r.status_code == 201, r.text
    token = r.json()[0]["token"]
    ticket = await session.scalar(select(Ticket).where(Ticket.number == r.json()[0]["service_request_id"]))
    assert ticket is not None and str(ticket.id) == token
    assert ticket.grid_id == w.g1.id and ticket.routed_by == "grid" and ticket.status == "submitted"
    assert ticket.submitted_at == clock.now()
    assert ticket.respond_by == clock.now() + timedelta(minutes=10)
    assert ticket.next_due_at == ticket.respond_by
    notified = await session.scalars(select(Notification.user_id).where(Notification.ticket_id == ticket.id))
    assert w.worker.id in set(notified)  # the grid worker of G1 was told, as for an app report
