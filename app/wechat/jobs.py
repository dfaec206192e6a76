"""WeChat's periodic work: photo checks whose verdict never came go to staff review."""

from dataclasses import dataclass, fields
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.config import Settings
from app.wechat import moderation


@dataclass
class WeChatSweepReport:
    media_checks_timed_out: int = 0
    notifications: int = 0

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


async def sweep(
    maker: async_sessionmaker[AsyncSession], *, clock: Clock, settings: Settings
) -> WeChatSweepReport:
    timeout = timedelta(minutes=settings.wechat.media_check_timeout_minutes)
    async with maker() as session, session.begin():
        n = await moderation.expire_media_checks(session, now=clock.now(), timeout=timeout)
    return WeChatSweepReport(media_checks_timed_out=n)
