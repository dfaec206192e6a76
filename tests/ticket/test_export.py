"""GET /api/v1/tickets/export: CSV and Excel, streamed, caller-scoped, masked, without phones."""

import asyncio
import csv
import io
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook

from app.auth.permissions import mask_address
from app.ticket import export
from app.ticket.state import TicketStatus
from tests.ticket.test_kpi import make_ticket

URL = "/api/v1/tickets/export"
S = TicketStatus
BOM = b"\xef\xbb\xbf"
ADDRESS = "西一路小区3号楼2单元501"


@pytest.fixture
async def rows(session, w, clock):  # type: ignore[no-untyped-def]
    """Three C1 tickets (one escalated to the department), one in C2, one on behalf of an elder."""
    now, day = clock.now(), timedelta(days=1)
    made = {
        "closed": await make_ticket(
            session, w, now=now, ago=3 * day, status=S.CLOSED, response=120, responder=w.worker,
            assignee=w.worker, resolved_after=timedelta(hours=5), rating=5, address=ADDRESS,
            description="楼道灯坏了",
        ),
        "escalated": await make_ticket(
            session, w, now=now, ago=2 * day, status=S.DEPARTMENT_HANDLING, response=900, responder=w.worker,
            assignee=w.worker, escalation_count=1, department=w.dept, address=ADDRESS,
            description="=HYPERLINK(\"http://evil\",\"点我\")",
        ),
        "waiting": await make_ticket(
            session, w, now=now, ago=timedelta(minutes=30), address=ADDRESS, description="井盖破损",
            on_behalf_name="刘奶奶", on_behalf_phone="13611112222", consent_note="电话来电，同意代报",
        ),
        "c2": await make_ticket(
            session, w, now=now, ago=day, community=w.c2, grid="g2", address="东二路小区8号楼",
            description="占道停车",
        ),
    }  # fmt: skip
    await session.commit()
    return made


def parse_csv(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(BOM)
    return list(csv.DictReader(io.StringIO(content[len(BOM) :].decode("utf-8"))))


def parse_xlsx(content: bytes) -> list[dict[str, object]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    header = values[0]
    return [dict(zip(header, row, strict=True)) for row in values[1:]]


class TestCsv:
    async def test_rows_parse_back_with_chinese_headers_and_a_bom(self, client, auth, w, rows) -> None:
        r = await client.get(URL, params={"format": "csv"}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == 'attachment; filename="tickets-20261122-100000.csv"'
        assert r.content.startswith(BOM)
        header = next(csv.reader(io.StringIO(r.content[len(BOM) :].decode("utf-8"))))
        assert header == export.HEADERS
        assert header[:13] == ["工单号", "状态", "分类", "描述", "社区", "网格", "地址", "处理人",
                               "上报时间", "响应时限", "响应时间", "是否按时响应", "办结时限"]  # fmt: skip
        got = parse_csv(r.content)
        # Newest first; C2 is not the C1 admin's.
        assert [g["工单号"] for g in got] == [rows[k].number for k in ("waiting", "escalated", "closed")]

    async def test_row_values_are_local_times_labels_and_on_time_flags(self, client, auth, w, rows) -> None:
        got = {g["工单号"]: g for g in parse_csv((await client.get(URL, headers=auth(w.c1_admin))).content)}
        closed = got[rows["closed"].number]
        assert closed["状态"] == "已关闭" and closed["分类"] == "设施损坏" and closed["描述"] == "楼道灯坏了"
        assert closed["社区"] == w.c1.name and closed["网格"] == w.g1.name and closed["处理人"] == "网格员"
        # Submitted 2026-11-19 02:00 UTC = 10:00 in Beijing.
        assert closed["上报时间"] == "2026-11-19 10:00:00"
        assert closed["响应时限"] == "2026-11-19 10:10:00" and closed["响应时间"] == "2026-11-19 10:02:00"
        assert closed["是否按时响应"] == "是" and closed["办结时间"] == "2026-11-19 15:00:00"
        assert closed["是否按时办结"] == "是" and closed["评分"] == "5"
        escalated = got[rows["escalated"].number]
        assert escalated["状态"] == "部门处理中"
        assert (
            escalated["是否按时响应"] == "否"
            and escalated["是否按时办结"] == ""
            and escalated["吹哨次数"] == "1"
        )
        waiting = got[rows["waiting"].number]
        assert waiting["响应时间"] == "" and waiting["是否按时响应"] == "否" and waiting["处理人"] == ""

    async def test_formulas_in_resident_text_are_neutralised(self, client, auth, w, rows) -> None:
        got = {g["工单号"]: g for g in parse_csv((await client.get(URL, headers=auth(w.c1_admin))).content)}
        assert got[rows["escalated"].number]["描述"] == '\'=HYPERLINK("http://evil","点我")'

    async def test_no_phone_number_or_reporter_is_ever_exported(self, client, auth, w, rows) -> None:
        r = await client.get(URL, headers=auth(w.superadmin))
        text = r.content.decode("utf-8")
        assert len(parse_csv(r.content)) == 4
        for secret in ("13611112222", "刘奶奶", w.resident.phone, w.resident.display_name, "电话来电"):
            assert secret not in text

    async def test_addresses_are_exact_only_for_admins_of_the_community(self, client, auth, w, rows) -> None:
        admin = parse_csv((await client.get(URL, headers=auth(w.c1_admin))).content)
        assert {g["地址"] for g in admin} == {ADDRESS}
        # The department sees the ticket escalated to it, with the address masked.
        dept = parse_csv((await client.get(URL, headers=auth(w.dept_staff))).content)
        assert [g["工单号"] for g in dept] == [rows["escalated"].number]
        assert dept[0]["地址"] == mask_address(ADDRESS) == "西一路小****"

    async def test_subdistrict_admin_gets_every_community_of_the_subdistrict(
        self, client, auth, w, rows
    ) -> None:
        got = parse_csv((await client.get(URL, headers=auth(w.sub_admin))).content)
        assert len(got) == 4 and {g["社区"] for g in got} == {w.c1.name, w.c2.name}
        assert all("*" not in g["地址"] for g in got)
        assert parse_csv((await client.get(URL, headers=auth(w.s2_admin))).content) == []


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"status": "closed"}, ["closed"]),
            ({"status": ["submitted", "department_handling"]}, ["waiting", "escalated"]),
            ({"overdue": "true"}, ["waiting"]),
            ({"overdue": "false"}, ["escalated", "closed"]),
            ({"date_from": "2026-11-20T00:00:00+08:00"}, ["waiting", "escalated"]),
            ({"date_to": "2026-11-20T10:00:00+08:00"}, ["closed"]),
        ],
    )
    async def test_list_filters_apply(self, client, auth, w, rows, params, expected) -> None:
        got = parse_csv((await client.get(URL, params=params, headers=auth(w.c1_admin))).content)
        assert [g["工单号"] for g in got] == [rows[k].number for k in expected]

    async def test_community_grid_and_category_filters(self, client, auth, w, rows) -> None:
        h = auth(w.sub_admin)
        by_community = parse_csv(
            (await client.get(URL, params={"community_id": str(w.c2.id)}, headers=h)).content
        )
        assert [g["工单号"] for g in by_community] == [rows["c2"].number]
        by_grid = parse_csv((await client.get(URL, params={"grid_id": str(w.g1.id)}, headers=h)).content)
        assert len(by_grid) == 3
        by_category = parse_csv(
            (await client.get(URL, params={"category_id": str(w.other_category.id)}, headers=h)).content
        )
        assert by_category == []

    async def test_backwards_range_is_refused(self, client, auth, w) -> None:
        params = {"date_from": "2026-11-20T00:00:00+08:00", "date_to": "2026-11-19T00:00:00+08:00"}
        r = await client.get(URL, params=params, headers=auth(w.c1_admin))
        assert r.status_code == 422 and r.json()["code"] == "ticket.invalid_date_range"


class TestXlsx:
    async def test_workbook_opens_with_the_rows(self, client, auth, w, rows) -> None:
        r = await client.get(URL, params={"format": "xlsx"}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == export.MEDIA_TYPES[export.ExportFormat.XLSX]
        assert r.headers["content-disposition"].endswith('.xlsx"')
        got = parse_xlsx(r.content)
        assert list(got[0]) == export.HEADERS
        assert [g["工单号"] for g in got] == [rows[k].number for k in ("waiting", "escalated", "closed")]
        closed = got[2]
        assert closed["上报时间"] == datetime(2026, 11, 19, 10, 0) and closed["评分"] == 5
        assert closed["状态"] == "已关闭" and closed["地址"] == ADDRESS and closed["网格"] == w.g1.name
        # A description that looks like a formula stays text (openpyxl would store a formula).
        assert got[1]["描述"] == '=HYPERLINK("http://evil","点我")'

    async def test_workbook_keeps_addresses_masked_for_the_department(self, client, auth, w, rows) -> None:
        got = parse_xlsx(
            (await client.get(URL, params={"format": "xlsx"}, headers=auth(w.dept_staff))).content
        )
        assert len(got) == 1 and got[0]["地址"] != ADDRESS and got[0]["地址"].endswith("****")

    async def test_formula_like_text_is_a_string_cell(self, client, auth, w, rows) -> None:
        content = (await client.get(URL, params={"format": "xlsx"}, headers=auth(w.c1_admin))).content
        sheet = load_workbook(io.BytesIO(content)).active
        cells = [row[3] for row in sheet.iter_rows(min_row=2)]
        assert {c.data_type for c in cells} == {"s"}

    async def test_empty_export_is_a_workbook_with_headers(self, client, auth, w) -> None:
        got = load_workbook(
            io.BytesIO((await client.get(URL, params={"format": "xlsx"}, headers=auth(w.c1_admin))).content)
        ).active
        assert [c.value for c in next(got.iter_rows(max_row=1))] == export.HEADERS
        assert got.max_row == 1


async def asgi_get(app, path: str, headers: dict[str, str], query: str = "") -> list[dict]:  # type: ignore[no-untyped-def]
    """Call the app as an ASGI server would and return every message it sends (httpx's test
    transport joins the body parts, so it cannot show how the body was streamed)."""
    sent: list[dict] = []
    done = asyncio.Event()
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"test")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    return sent


class TestStreaming:
    async def test_csv_is_streamed_in_batches(self, app, client, auth, w, rows, monkeypatch) -> None:
        monkeypatch.setattr(export, "EXPORT_BATCH", 1)
        async with client.stream("GET", URL, headers=auth(w.c1_admin)) as r:
            assert r.status_code == 200
            # A StreamingResponse has no length: it is sent as it is produced.
            assert "content-length" not in r.headers
            content = b"".join([chunk async for chunk in r.aiter_bytes()])
        assert len(parse_csv(content)) == 3

        messages = await asgi_get(app, URL, auth(w.c1_admin))
        start, *bodies = messages
        assert start["type"] == "http.response.start" and start["status"] == 200
        assert b"content-length" not in dict(start["headers"])
        chunks = [m["body"] for m in bodies if m["body"]]
        # The header line first, then one body message per batch (of one row here).
        assert len(chunks) == 4
        assert chunks[0] == BOM + (",".join(export.HEADERS) + "\r\n").encode("utf-8")
        assert b"".join(chunks) == content

    async def test_xlsx_is_streamed_in_file_chunks(self, app, client, auth, w, rows, monkeypatch) -> None:
        monkeypatch.setattr(export, "FILE_CHUNK", 1024)
        async with client.stream("GET", URL, params={"format": "xlsx"}, headers=auth(w.c1_admin)) as r:
            assert r.status_code == 200 and "content-length" not in r.headers
            content = b"".join([chunk async for chunk in r.aiter_bytes()])
        assert len(parse_xlsx(content)) == 3
        messages = await asgi_get(app, URL, auth(w.c1_admin), query="format=xlsx")
        chunks = [m["body"] for m in messages[1:] if m["body"]]
        assert len(chunks) > 1 and all(len(c) <= 1024 for c in chunks)
        assert len(parse_xlsx(b"".join(chunks))) == 3

    async def test_many_rows_cross_batch_boundaries(
        self, client, auth, w, session, clock, monkeypatch
    ) -> None:
        monkeypatch.setattr(export, "EXPORT_BATCH", 7)
        for i in range(30):
            await make_ticket(session, w, now=clock.now(), ago=timedelta(minutes=i + 1))
        await session.commit()
        got = parse_csv((await client.get(URL, headers=auth(w.c1_admin))).content)
        assert len(got) == 30 and len({g["工单号"] for g in got}) == 30
        assert [g["上报时间"] for g in got] == sorted((g["上报时间"] for g in got), reverse=True)


class TestAccess:
    @pytest.mark.parametrize("who", ["resident", "worker"])
    async def test_only_staff_export(self, client, auth, w, who) -> None:
        r = await client.get(URL, headers=auth(getattr(w, who)))
        assert r.status_code == 403 and r.json()["code"] == "auth.staff_only"

    async def test_login_is_required(self, client) -> None:
        assert (await client.get(URL)).status_code == 401

    async def test_unknown_format_is_refused(self, client, auth, w) -> None:
        r = await client.get(URL, params={"format": "pdf"}, headers=auth(w.c1_admin))
        assert r.status_code == 422

    async def test_export_path_is_not_taken_for_a_ticket_id(self, client, auth, w) -> None:
        r = await client.get(URL, headers=auth(w.c1_admin))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
