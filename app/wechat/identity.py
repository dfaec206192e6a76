"""Which WeChat account (openid) a user logs in with, and back."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.user.models import User, UserIdentity

WECHAT_PROVIDER = "wechat_mp"


async def openid_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(UserIdentity.subject)
        .where(UserIdentity.user_id == user_id, UserIdentity.provider == WECHAT_PROVIDER)
        .order_by(UserIdentity.created_at)
        .limit(1)
    )


async def user_of(session: AsyncSession, openid: str) -> User | None:
    return await session.scalar(
        select(User)
        .join(UserIdentity, UserIdentity.user_id == User.id)
        .where(UserIdentity.provider == WECHAT_PROVIDER, UserIdentity.subject == openid)
    )
