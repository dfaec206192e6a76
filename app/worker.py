"""`python -m app.worker`: the background work without HTTP — the outbox dispatchers (live feed,
WeChat) and the sweeper — for deployments whose API processes run with LINLI_BACKGROUND=false.

Running it next to API processes that do the same work is harmless: every message and every
breach is claimed by exactly one of them.
"""

import asyncio
import contextlib
import logging
import signal

from app.core.config import get_settings
from app.main import create_app

log = logging.getLogger("linli.worker")


async def main() -> None:
    settings = get_settings().model_copy(update={"background": True})
    app = create_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        log.info("worker running: outbox dispatchers and sweeper")
        await stop.wait()
    log.info("worker stopped")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(main())
