"""Writing notifications: the in-app copy and an outbox message per live delivery, in the caller's
transaction. Delivery happens after commit (app/notification/outbox.py)."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import SUBSCRIBE_KINDS
from app.notification.models import Notification, OutboxMessage

OUTBOX_PENDING_KEY = "linli.outbox_pending"


async def notify(
    session: AsyncSession,
    *,
    user_ids: Iterable[uuid.UUID],
    kind: str,
    title: str,
    now: datetime,
    body: str = "",
    ticket_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """Put a notification in each user's inbox and queue its live delivery (and, for the events
    that have a subscribe-message template, its WeChat delivery); returns the users."""
    recipients = list(dict.fromkeys(user_ids))
    payload_data = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in (data or {}).items()}
    for user_id in recipients:
        note = Notification(
            id=uuid.uuid4(),
            user_id=user_id,
            kind=kind,
            title=title[:64],
            body=body,
            ticket_id=ticket_id,
            data=payload_data,
            created_at=now,
        )
        session.add(note)
        payload = {
            "notification_id": str(note.id),
            "kind": kind,
            "title": note.title,
            "body": body,
            "ticket_id": str(ticket_id) if ticket_id else None,
            "data": payload_data,
            "created_at": now.isoformat(),
        }
        channels = ("live", "wechat") if kind in SUBSCRIBE_KINDS else ("live",)
        for channel in channels:
            session.add(
                OutboxMessage(
                    channel=channel,
                    topic=kind,
                    user_id=user_id,
                    available_at=now,
                    created_at=now,
                    payload=payload,
                )
            )
    if recipients:
        session.info[OUTBOX_PENDING_KEY] = True
    return recipients
