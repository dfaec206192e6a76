"""The access log (PIPL Art. 51: control and record access to personal information).

Staff — anyone holding a role other than resident — are shown the full phone numbers and the
care categories of the people they serve. Each response that shows them someone else's adds one
row per person, kind of data and resource to audit_log. Nothing is logged when people read their
own data, when residents read (they only ever see the numbers of those handling their own
matters), or when the value was masked or empty.

Staff's own numbers are no exception. The grid worker roster (GET /grids/{id}/workers) and the
craftsman profiles (GET /repairs/craftsmen, PUT /repairs/craftsmen/{id}) show administrators the
full numbers of grid workers and craftsmen, and are logged like the rest: those are the people's
own mobiles (the number they log in and verify with, and that WeChat can withdraw), not published
service lines — residents and other workers only ever see them masked there — so reading one in
full is an access to personal information. Published numbers (a department's duty phone) are not
personal and are not logged. One rule then covers every full number: whose it is does not matter,
only that it is someone else's and the reader holds a staff role.

Read models call `shown` with what they disclosed, in the request's session and with its `now`.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Role
from app.core.db import READONLY_OPTION
from app.privacy.models import AuditAction, AuditLog


class Disclosure(NamedTuple):
    action: AuditAction
    subject_user_id: uuid.UUID | None  # None: someone without an account
    value: object  # what was shown: nothing is recorded when it is empty
    resource_id: uuid.UUID


def phone(subject_user_id: uuid.UUID | None, value: str | None, resource_id: uuid.UUID) -> Disclosure:
    """A full phone number shown."""
    return Disclosure(AuditAction.PHONE_READ, subject_user_id, value, resource_id)


def care(subject_user_id: uuid.UUID | None, value: object, resource_id: uuid.UUID) -> Disclosure:
    """A care category shown."""
    return Disclosure(AuditAction.CARE_CATEGORY_READ, subject_user_id, value, resource_id)


def has_staff_role(actor: Actor) -> bool:
    """Anyone with a role beyond resident: their reads are logged, their accounts are closed by admins."""
    return bool(actor.roles - {Role.RESIDENT})


async def record(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID,
    action: AuditAction,
    subject_user_id: uuid.UUID | None,
    resource: str,
    resource_id: uuid.UUID,
    now: datetime,
) -> None:
    """Write one access-log row."""
    await _write(
        session,
        [
            AuditLog(
                actor_id=actor_id,
                action=action,
                subject_user_id=subject_user_id,
                resource=resource,
                resource_id=resource_id,
                at=now,
            )
        ],
    )


async def shown(
    session: AsyncSession, actor: Actor, disclosures: Iterable[Disclosure], *, resource: str, now: datetime
) -> None:
    """Log what a response showed `actor` of other people (once per person, kind and resource)."""
    if not has_staff_role(actor):
        return
    rows: list[AuditLog] = []
    seen: set[tuple[AuditAction, uuid.UUID | None, uuid.UUID]] = set()
    for d in disclosures:
        key = (d.action, d.subject_user_id, d.resource_id)
        if not d.value or d.subject_user_id == actor.user_id or key in seen:
            continue
        seen.add(key)
        rows.append(
            AuditLog(
                actor_id=actor.user_id,
                action=d.action,
                subject_user_id=d.subject_user_id,
                resource=resource,
                resource_id=d.resource_id,
                at=now,
            )
        )
    await _write(session, rows)


async def _write(session: AsyncSession, rows: list[AuditLog]) -> None:
    if not rows:
        return
    conn = await session.connection()
    options = conn.sync_connection.get_execution_options() if conn.sync_connection else {}
    if conn.dialect.name == "sqlite" and options.get(READONLY_OPTION):
        # A GET on SQLite runs in a deferred (read) transaction that never queued for the write
        # lock (app/core/sqlite_inline.py): writing in it fails with "database is locked" while
        # another request holds that lock. The rows go in a short write transaction of their own,
        # queued like any writer; under WAL the open read transaction does not hold it up.
        async with AsyncSession(bind=session.bind) as own, own.begin():
            own.add_all(rows)
        return
    session.add_all(rows)
