import httpx


class TestHealth:
    async def test_healthz_answers_without_touching_the_database(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}

    async def test_readyz_is_ok_when_the_database_answers(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/readyz")
        assert r.status_code == 200

    async def test_readyz_is_a_503_envelope_when_the_database_is_down(self, app, client) -> None:  # type: ignore[no-untyped-def]
        from app.core.config import DatabaseSettings
        from app.core.db import create_engine, create_sessionmaker

        dead = create_engine(DatabaseSettings(url="postgresql+asyncpg://postgres@127.0.0.1:1/none"))
        app.state.sessionmaker = create_sessionmaker(dead)
        try:
            r = await client.get("/readyz")
        finally:
            await dead.dispose()
        assert r.status_code == 503
        assert r.json()["code"] == "service.database_unavailable"
        assert (await client.get("/healthz")).status_code == 200
