"""Human-readable numbers: a prefix, the local date and a per-day sequence (T20261122000042).

Short enough to read out over the phone; one counter row per prefix and day, bumped with an
upsert so concurrent writers never get the same number.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class NumberCounter(Base):
    __tablename__ = "number_counter"

    key: Mapped[str] = mapped_column(String(24), primary_key=True)  # prefix + yyyymmdd
    last: Mapped[int] = mapped_column(Integer, server_default=text("0"))


async def next_number(session: AsyncSession, prefix: str, now: datetime) -> str:
    """The next number for `prefix` on the local day of `now`."""
    key = prefix + now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(NumberCounter).values(key=key, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"last": NumberCounter.last + 1})
    seq = await session.scalar(stmt.returning(NumberCounter.last))
    return f"{key}{seq:06d}"
