"""Export of a filtered ticket list as CSV or Excel for meetings, streamed in flat memory.

The rows are read in batches of EXPORT_BATCH through a database cursor in a session of their own
(the request's session is closed once the endpoint returns, before the body is sent). CSV goes out
batch by batch. Excel needs the whole file before the first byte (it is a zip), so the rows are
written through openpyxl's write-only mode into temporary files and the finished workbook is then
sent in chunks; openpyxl runs in a worker thread so the event loop keeps serving other requests.

Never exported: the reporter's identity and phone numbers (neither the reporter's nor one given
for someone reported on behalf of). The address is exact only for staff who administer the
ticket's community (otherwise masked, as in the lists).
"""

import asyncio
import contextlib
import csv
import io
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import Row, Select, String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from app.auth.dependencies import NotStaff
from app.auth.permissions import Actor, Scope, administers, mask_address
from app.core.db import READONLY_OPTION
from app.core.numbering import LOCAL_TZ
from app.org.models import Category, Community, Grid
from app.ticket import service, state
from app.ticket.kpi import InvalidDateRange
from app.ticket.models import Ticket
from app.ticket.state import TicketStatus
from app.user.models import User

EXPORT_BATCH = 1000
FILE_CHUNK = 64 * 1024

UTF8_BOM = "\ufeff"


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

STATUS_LABELS: dict[str, str] = {
    TicketStatus.SUBMITTED: "待接单",
    TicketStatus.CLAIMED: "已接单",
    TicketStatus.ON_SITE: "已到场",
    TicketStatus.ESCALATED: "已吹哨",
    TicketStatus.DEPARTMENT_HANDLING: "部门处理中",
    TicketStatus.DEPARTMENT_DONE: "待社区销号",
    TicketStatus.RESOLVED: "已办结",
    TicketStatus.CLOSED: "已关闭",
    TicketStatus.REJECTED: "不予受理",
    TicketStatus.MERGED: "已合并",
}

HEADERS = [
    "工单号",
    "状态",
    "分类",
    "描述",
    "社区",
    "网格",
    "地址",
    "处理人",
    "上报时间",
    "响应时限",
    "响应时间",
    "是否按时响应",
    "办结时限",
    "办结时间",
    "是否按时办结",
    "关闭时间",
    "评分",
    "吹哨次数",
    "重新打开次数",
    "“+1”人数",
]

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection);
# resident-written text must never be.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFilters:
    """The filters of the staff ticket list (GET /api/v1/tickets?view=all)."""

    statuses: Sequence[TicketStatus] | None = None
    category_id: uuid.UUID | None = None
    grid_id: uuid.UUID | None = None
    community_id: uuid.UUID | None = None
    overdue: bool | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


Assignee = aliased(User, name="assignee")

# Ids and the status as plain text: parsing them for each of a million rows is wasted work.
_COLUMNS = (
    Ticket.number,
    type_coerce(Ticket.status, String).label("status"),
    Category.name.label("category_name"),
    Ticket.description,
    Community.name.label("community_name"),
    Grid.name.label("grid_name"),
    Ticket.address,
    type_coerce(Ticket.subdistrict_id, String).label("subdistrict_id"),
    type_coerce(Ticket.community_id, String).label("community_id"),
    Assignee.display_name.label("assignee_name"),
    Ticket.submitted_at,
    Ticket.respond_by,
    Ticket.responded_at,
    Ticket.resolve_by,
    Ticket.resolved_at,
    Ticket.closed_at,
    Ticket.rating,
    Ticket.escalation_count,
    Ticket.reopen_count,
    Ticket.supporter_count,
)


def export_statement(actor: Actor, filters: ExportFilters, *, now: datetime) -> Select[Any]:
    """The caller's tickets matching the filters, newest first, with the columns of the sheet."""
    scoped = service.visible_to(actor)
    if scoped is None or not actor.is_staff:
        raise NotStaff()
    f = filters
    if f.date_from is not None and f.date_to is not None and f.date_from >= f.date_to:
        raise InvalidDateRange(date_from=f.date_from.isoformat(), date_to=f.date_to.isoformat())
    stmt = (
        select(*_COLUMNS)
        .select_from(Ticket)
        .join(Category, Category.id == Ticket.category_id)
        .join(Community, Community.id == Ticket.community_id)
        .outerjoin(Grid, Grid.id == Ticket.grid_id)
        .outerjoin(Assignee, Assignee.id == Ticket.assignee_id)
    )
    if scoped.whereclause is not None:
        stmt = stmt.where(scoped.whereclause)
    stmt = stmt.where(
        *service.ticket_filters(
            now=now,
            statuses=f.statuses,
            category_id=f.category_id,
            grid_id=f.grid_id,
            community_id=f.community_id,
            overdue=f.overdue,
            date_from=f.date_from,
            date_to=f.date_to,
        )
    )
    return stmt.order_by(Ticket.submitted_at.desc(), Ticket.id.desc())


def _local(at: datetime | None) -> datetime | None:
    """Beijing wall-clock time without a zone (spreadsheets have none)."""
    return None if at is None else at.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _local_text(at: datetime | None) -> str:
    # "2026-11-19 10:00:00+08:00" without the offset.
    return "" if at is None else at.astimezone(LOCAL_TZ).isoformat(" ", "seconds")[:19]


def _on_time(done_at: datetime | None, due: datetime, *, still_counts: bool, now: datetime) -> str:
    """是 / 否, or empty while the deadline has not come (or the ticket no longer runs the clock)."""
    if done_at is not None:
        return "是" if done_at <= due else "否"
    return "否" if still_counts and now > due else ""


class RowFormatter:
    """One exported ticket as a list of cell values; `text` and `time` adapt free text and
    timestamps to the file format (times are Beijing wall-clock time)."""

    def __init__(
        self,
        actor: Actor,
        now: datetime,
        *,
        text: Callable[[str], Any],
        time: Callable[[datetime | None], Any],
    ) -> None:
        self.actor = actor
        self.now = now
        self.text = text
        self.time = time
        self._exact: dict[Any, bool] = {}

    def _exact_address(self, subdistrict_id: Any, community_id: Any) -> bool:
        exact = self._exact.get(community_id)
        if exact is None:
            scope = Scope(
                subdistrict_id=uuid.UUID(str(subdistrict_id)), community_id=uuid.UUID(str(community_id))
            )
            exact = self._exact[community_id] = administers(self.actor, scope)
        return exact

    def __call__(self, r: Row[Any]) -> list[Any]:
        (
            number, status, category_name, description, community_name, grid_name, address,
            subdistrict_id, community_id, assignee_name, submitted_at, respond_by, responded_at,
            resolve_by, resolved_at, closed_at, rating, escalation_count, reopen_count, supporter_count,
        ) = r  # fmt: skip
        text, time, now = self.text, self.time, self.now
        if not self._exact_address(subdistrict_id, community_id):
            address = mask_address(address) or ""
        return [
            number,
            STATUS_LABELS.get(status, status),
            text(category_name),
            text(description),
            text(community_name),
            text(grid_name or ""),
            text(address),
            text(assignee_name or ""),
            time(submitted_at),
            time(respond_by),
            time(responded_at),
            _on_time(responded_at, respond_by, still_counts=status in state.AWAITING_RESPONSE, now=now),
            time(resolve_by),
            time(resolved_at),
            _on_time(resolved_at, resolve_by, still_counts=status in state.OPEN, now=now),
            time(closed_at),
            rating,
            escalation_count,
            reopen_count,
            supporter_count,
        ]


def _csv_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


async def _batches(
    maker: async_sessionmaker[AsyncSession], stmt: Select[Any]
) -> AsyncIterator[Sequence[Row[Any]]]:
    """The rows of `stmt` in lists of EXPORT_BATCH, read through a cursor in a read-only session."""
    async with maker() as session:
        if isinstance(maker.kw.get("bind"), AsyncEngine):
            await session.connection(execution_options={READONLY_OPTION: True})
        result = await session.stream(stmt.execution_options(yield_per=EXPORT_BATCH))
        async for partition in result.partitions():
            yield partition


async def csv_chunks(
    maker: async_sessionmaker[AsyncSession], stmt: Select[Any], *, actor: Actor, now: datetime
) -> AsyncIterator[bytes]:
    """UTF-8 CSV with a BOM (so Excel reads the Chinese right), one chunk per batch of rows."""
    fmt = RowFormatter(actor, now, text=_csv_text, time=_local_text)

    def encode(rows: Sequence[Any]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue().encode("utf-8")

    def encode_batch(batch: Sequence[Row[Any]]) -> bytes:
        return encode([fmt(r) for r in batch])

    yield UTF8_BOM.encode("utf-8") + encode([HEADERS])
    async for batch in _batches(maker, stmt):
        # Formatting a batch takes some milliseconds: off the event loop, like the Excel writer.
        yield await asyncio.to_thread(encode_batch, batch)


class _XlsxText:
    """Free text for a write-only sheet: no control characters, and never a formula."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def __call__(self, value: str) -> Any:
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):
            # openpyxl stores a string starting with "=" as a formula; keep it text.
            cell = WriteOnlyCell(self.ws, value=value)
            cell.data_type = "s"
            return cell
        return value


def _append_rows(ws: Any, fmt: Callable[[Row[Any]], list[Any]], batch: Sequence[Row[Any]]) -> None:
    for r in batch:
        ws.append(fmt(r))


def _discard_sheet(ws: Any) -> None:
    """Remove the temporary file of a write-only sheet that was never saved (the client left)."""
    writer = getattr(ws, "_writer", None)  # openpyxl has no public way to abandon a sheet
    if writer is None or ws.closed:
        return
    with contextlib.suppress(Exception):
        ws.close()
    with contextlib.suppress(Exception):
        writer.cleanup()


async def xlsx_chunks(
    maker: async_sessionmaker[AsyncSession], stmt: Select[Any], *, actor: Actor, now: datetime
) -> AsyncIterator[bytes]:
    """An .xlsx workbook built on disk in write-only mode, then sent in FILE_CHUNK pieces."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("工单")
    ws.append(HEADERS)
    fmt = RowFormatter(actor, now, text=_XlsxText(ws), time=_local)
    out: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    try:
        async for batch in _batches(maker, stmt):
            await asyncio.to_thread(_append_rows, ws, fmt, batch)
        await asyncio.to_thread(wb.save, out)
        out.seek(0)
        while chunk := await asyncio.to_thread(out.read, FILE_CHUNK):
            yield chunk
    finally:
        _discard_sheet(ws)
        out.close()


def filename(fmt: ExportFormat, now: datetime) -> str:
    return f"tickets-{now.astimezone(LOCAL_TZ).strftime('%Y%m%d-%H%M%S')}.{fmt.value}"


def chunks(
    fmt: ExportFormat,
    maker: async_sessionmaker[AsyncSession],
    stmt: Select[Any],
    *,
    actor: Actor,
    now: datetime,
) -> AsyncIterator[bytes]:
    make = csv_chunks if fmt is ExportFormat.CSV else xlsx_chunks
    return make(maker, stmt, actor=actor, now=now)
