"""Keyset (cursor) pagination: stable under inserts, suits the mini-program's infinite scroll."""

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unprocessable


class InvalidCursor(Unprocessable):
    code = "request.invalid_cursor"
    message = "翻页参数无效，请从第一页重新加载"


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and "u" in value:
        return uuid.UUID(value["u"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = [_decode_value(v) for v in json.loads(raw)]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list) or len(values) != size:
        raise InvalidCursor()
    return values


def _after(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after `values` in the (col1, col2, ...) ordering."""
    clauses = []
    for i, col in enumerate(columns):
        equal_prefix = [columns[j] == values[j] for j in range(i)]
        step = col < values[i] if descending else col > values[i]
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses)


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    columns: Sequence[ColumnElement[Any]],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Return one page of ORM rows of `stmt` ordered by `columns` (the last one unique)."""
    if cursor:
        stmt = stmt.where(_after(columns, _checked(cursor, columns), descending))
    order = [c.desc() if descending else c.asc() for c in columns]
    rows = list((await session.scalars(stmt.order_by(*order).limit(limit + 1))).unique())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, c.key) for c in columns])
    return rows, next_cursor


async def paginate_buckets(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    buckets: Sequence[ColumnElement[bool]],
    columns: Sequence[ColumnElement[Any]],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Like `paginate` over `stmt` filtered by any of `buckets`, but one indexed query per bucket
    merged in Python: an OR of scopes makes the database sort every matching row, while each
    bucket alone walks its index and stops after `limit` rows. Buckets read only the sort keys;
    the full rows are loaded for the final page alone."""
    if len(buckets) <= 1:
        filtered = stmt.where(buckets[0]) if buckets else stmt
        return await paginate(
            session, filtered, columns=columns, cursor=cursor, limit=limit, descending=descending
        )
    keyset = stmt.with_only_columns(*columns)
    if cursor:
        keyset = keyset.where(_after(columns, _checked(cursor, columns), descending))
    order = [c.desc() if descending else c.asc() for c in columns]
    keys: set[tuple[Any, ...]] = set()
    for bucket in buckets:
        keys.update(
            tuple(r) for r in await session.execute(keyset.where(bucket).order_by(*order).limit(limit + 1))
        )
    ordered = sorted(keys, reverse=descending)
    page_keys = ordered[:limit]
    unique = columns[-1]
    rows = {
        getattr(r, unique.key): r
        for r in await session.scalars(stmt.where(unique.in_([k[-1] for k in page_keys])))
    }
    page = [rows[k[-1]] for k in page_keys if k[-1] in rows]
    next_cursor = encode_cursor(list(page_keys[-1])) if len(ordered) > limit else None
    return page, next_cursor


def _checked(cursor: str, columns: Sequence[ColumnElement[Any]]) -> list[Any]:
    values = decode_cursor(cursor, len(columns))
    for column, value in zip(columns, values, strict=True):
        # A cursor is client input: only values of the column's own type reach the query.
        expected = column.type.python_type
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise InvalidCursor()
    return values
