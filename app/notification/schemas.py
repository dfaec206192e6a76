"""Inbox and live-event shapes."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.core.schemas import OutSchema, Page


class NotificationRead(OutSchema):
    id: uuid.UUID
    kind: str = Field(examples=["ticket.new"], description="通知类型，与实时事件的 event 名相同")
    title: str = Field(examples=["新的随手拍问题"])
    body: str = ""
    ticket_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="附加信息，例如工单编号和状态")
    created_at: datetime
    read_at: datetime | None = None


class NotificationPage(Page[NotificationRead]):
    unread_count: int = Field(description="我的未读通知总数（用于角标）")


class ReadAllOut(BaseModel):
    updated: int = Field(description="本次标记为已读的通知数")
