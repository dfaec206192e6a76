"""Test databases: one migrated template per backend and xdist worker, copied for each use."""

import asyncio
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logging"] = False
    return cfg


def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run blocking or asyncio.run-based work off the test's event loop thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def migrate(url: str, revision: str = "head") -> None:
    in_thread(command.upgrade, alembic_config(url), revision)


def _pg_admin_dsn(base_url: str) -> str:
    url = make_url(base_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_exec(base_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_pg_admin_dsn(base_url))
    try:
        for stmt in statements:
            await conn.execute(stmt)
    finally:
        await conn.close()


class DatabaseFactory:
    """Creates databases for one backend; every one is a copy of a migrated template."""

    def __init__(self, backend: str, *, workdir: Path, pg_url: str | None, worker: str) -> None:
        self.backend = backend
        self.workdir = workdir
        self.pg_url = pg_url
        self.prefix = f"linli_test_{worker}"
        self._created: list[str] = []
        self.template_url = self._new_empty("tpl")
        migrate(self.template_url)

    def _new_empty(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / f'{name}.db'}"
        assert self.pg_url
        db = f"{self.prefix}_{name}"
        in_thread(
            asyncio.run,
            _pg_exec(self.pg_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', f'CREATE DATABASE "{db}"'),
        )
        self._created.append(db)
        return make_url(self.pg_url).set(database=db).render_as_string(hide_password=False)

    def empty(self) -> str:
        """A database with no tables (for migration tests)."""
        return self._new_empty(f"e{uuid.uuid4().hex[:8]}")

    def copy(self) -> str:
        """A fresh database with the schema at head."""
        name = f"c{uuid.uuid4().hex[:8]}"
        if self.backend == "sqlite":
            target = self.workdir / f"{name}.db"
            shutil.copyfile(self.workdir / "tpl.db", target)
            return f"sqlite+aiosqlite:///{target}"
        assert self.pg_url
        db = f"{self.prefix}_{name}"
        tpl = f"{self.prefix}_tpl"
        in_thread(asyncio.run, _pg_exec(self.pg_url, f'CREATE DATABASE "{db}" TEMPLATE "{tpl}"'))
        self._created.append(db)
        return make_url(self.pg_url).set(database=db).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.backend == "postgresql" and self._created:
            in_thread(
                asyncio.run,
                _pg_exec(
                    self.pg_url,
                    *(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in reversed(self._created)),
                ),
            )
