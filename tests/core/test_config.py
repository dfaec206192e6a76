import pytest
from pydantic import ValidationError

from app.core.config import Settings


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


class TestProductionRefusesUnsafeSettings:
    def test_default_jwt_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="LINLI_JWT__SECRET"):
            _settings(
                env="prod",
                wechat={"client": "http", "app_id": "wx1", "app_secret": "s"},
                media={"signing_secret": "m" * 40},
            )

    def test_fake_wechat_client_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="LINLI_WECHAT__CLIENT=fake"):
            _settings(env="prod", jwt={"secret": "j" * 40}, media={"signing_secret": "m" * 40})

    def test_default_media_signing_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="LINLI_MEDIA__SIGNING_SECRET"):
            _settings(
                env="prod",
                jwt={"secret": "j" * 40},
                wechat={"client": "http", "app_id": "wx1", "app_secret": "s"},
            )

    def test_safe_production_settings_are_accepted(self) -> None:
        s = _settings(
            env="prod",
            jwt={"secret": "j" * 40},
            media={"signing_secret": "m" * 40},
            wechat={
                "client": "http",
                "app_id": "wx1",
                "app_secret": "s",
                "push_token": "push-token-from-the-console",
                "encoding_aes_key": "k" * 43,
                "public_base_url": "https://linli.example.cn",
                # Only the ticket templates approved so far; the rest turned off.
                "templates": {
                    "ticket.claimed": {"template_id": "AbC123", "fields": {"thing1": "title"}},
                    "ticket.resolved": {"template_id": "", "fields": {"thing1": "title"}},
                },
            },
        )
        assert s.env == "prod"
        assert set(s.wechat.templates) == {"ticket.claimed", "ticket.resolved"}

    def test_development_allows_the_defaults(self) -> None:
        assert _settings(env="dev").wechat.client == "fake"


class TestEnvironment:
    def test_database_url_shortcut_and_nested_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/db")
        monkeypatch.setenv("LINLI_JWT__ACCESS_TTL_SECONDS", "120")
        s = Settings(_env_file=None)  # type: ignore[call-arg]
        assert s.database.url == "postgresql+asyncpg://u@127.0.0.1/db"
        assert s.jwt.access_ttl_seconds == 120

    def test_sqlite_is_the_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.delenv("LINLI_DATABASE__URL", raising=False)
        assert Settings(_env_file=None).database.url.startswith("sqlite+aiosqlite:///")  # type: ignore[call-arg]
