"""The in-process sweeper loop: every domain's periodic work, one pass per interval.

Each domain's sweep is a plain async function of a session factory, a clock and the settings
(tests call them directly with a frozen clock); this loop only runs them in turn and wakes the
outbox dispatcher when they queued notifications.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from app.course import jobs as course_jobs
from app.privacy import jobs as privacy_jobs
from app.ticket import jobs as ticket_jobs
from app.wechat import jobs as wechat_jobs

log = logging.getLogger("linli.sweeper")

SWEEPS = (
    ("tickets", ticket_jobs.sweep),
    ("courses", course_jobs.sweep),
    ("wechat", wechat_jobs.sweep),
    ("privacy", privacy_jobs.sweep),
)


async def sweep_once(app: FastAPI) -> int:
    """Run every domain's sweep once; returns the notifications they queued."""
    queued = 0
    for name, sweep in SWEEPS:
        try:
            report = await sweep(app.state.sessionmaker, clock=app.state.clock, settings=app.state.settings)
        except Exception:
            log.exception("%s sweep failed", name)
            continue
        if report:
            log.info("%s sweep: %s", name, report)
        queued += report.notifications
    return queued


async def _loop(app: FastAPI, interval: float) -> None:
    while True:
        if await sweep_once(app):
            dispatcher = getattr(app.state, "dispatcher", None)
            if dispatcher is not None:
                dispatcher.wake()
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def sweeping(app: FastAPI, *, enabled: bool = True) -> AsyncIterator[None]:
    """Run the sweeps every settings.ticket.sweep_interval_seconds for the app's lifetime (0: off)."""
    interval = app.state.settings.ticket.sweep_interval_seconds
    if interval <= 0 or not enabled:
        yield
        return
    task = asyncio.create_task(_loop(app, interval), name="linli-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
