"""The pure parts: status mapping, date windows, names, attributes, and the XML rendering."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from app.open311 import exceptions as exc
from app.open311 import formats, rules
from app.ticket.state import TicketStatus

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
S = TicketStatus


def test_every_status_is_mapped_to_open_or_closed_and_a_mysociety_name() -> None:
    assert set(rules.STATUS) == set(TicketStatus)
    assert {rules.status_of(s) for s in S} == {"open", "closed"}
    assert rules.extended_status_of(S.MERGED) == "duplicate"
    assert rules.extended_status_of(S.REJECTED) == "not_councils_responsibility"
    assert rules.extended_status_of(S.ESCALATED) == "internal_referral"
    assert all(
        rules.status_of(s) == "open" for s in S if s not in {S.RESOLVED, S.CLOSED, S.REJECTED, S.MERGED}
    )


def test_status_filter() -> None:
    assert rules.statuses_for(["closed"]) == {S.RESOLVED, S.CLOSED, S.REJECTED, S.MERGED}
    assert rules.statuses_for(["in_progress"]) == {S.ON_SITE, S.DEPARTMENT_HANDLING}
    with pytest.raises(exc.InvalidParameter):
        rules.statuses_for(["pending"])


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, (NOW - timedelta(days=90), NOW)),
        (NOW - timedelta(days=200), None, (NOW - timedelta(days=200), NOW - timedelta(days=110))),
        (None, NOW - timedelta(days=5), (NOW - timedelta(days=95), NOW - timedelta(days=5))),
        (NOW - timedelta(days=90), NOW, (NOW - timedelta(days=90), NOW)),
    ],
)
def test_window(start, end, expected) -> None:  # type: ignore[no-untyped-def]
    w = rules.window(start, end, now=NOW)
    assert (w.start, w.end) == expected


@pytest.mark.parametrize(
    ("start", "end"), [(NOW - timedelta(days=90, seconds=1), NOW), (NOW, NOW - timedelta(seconds=1))]
)
def test_window_refused(start, end) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc.InvalidParameter):
        rules.window(start, end, now=NOW)


def test_dates() -> None:
    assert rules.parse_datetime("2026-01-01T08:00:00+08:00", parameter="x") == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    assert rules.parse_datetime("2026-01-01", parameter="x") == datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.iso(datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)) == "2026-01-01T08:00:00Z"
    with pytest.raises(exc.InvalidParameter):
        rules.parse_datetime("1/1/2026", parameter="x")


def test_names_and_attributes() -> None:
    assert rules.person_name("奶奶", "刘") == "刘奶奶"
    assert rules.person_name("Ann", "Lee") == "Ann Lee"
    assert rules.person_name(" ", None) is None
    form = [("attribute[coord_system]", "gcj02"), ("description", "x"), ("attribute[consent_note]", " ok ")]
    assert rules.attributes_from_form(form) == {"coord_system": "gcj02", "consent_note": "ok"}
    with pytest.raises(exc.InvalidParameter):
        rules.attributes_from_form([("attribute[size]", "big")])


def test_xml_uses_the_spec_names_and_survives_any_text() -> None:
    body, media_type = formats.render(
        formats.Format.XML,
        "service_definition",
        {"service_code": "c", "attributes": [{"required": False, "values": [{"key": "k", "name": "名"}]}]},
    )
    assert media_type == "text/xml; charset=utf-8"
    root = ET.fromstring(body)
    assert root.find("attributes/attribute/required").text == "false"
    assert root.find("attributes/attribute/values/value/name").text == "名"
    body, _ = formats.render(
        formats.Format.XML, "service_requests", [{"description": "a\x00b<c>&", "lat": None}]
    )
    (request,) = ET.fromstring(body)
    assert request.tag == "request" and request.findtext("description") == "ab<c>&"
    assert request.find("lat").text is None
    body, _ = formats.render(formats.Format.JSON, "errors", formats.errors(404, "没有"))
    assert body.decode("utf-8") == '[{"code":404,"description":"没有"}]'
