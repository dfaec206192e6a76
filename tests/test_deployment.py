"""docker-compose.yml and the Dockerfile cannot run here (no Docker), so this checks what they
would run: the environment they set is a valid production configuration, and the commands they
start exist. The commands themselves run in tests/test_multiprocess.py."""

import importlib.util
from pathlib import Path

import pytest
import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def service_env(name: str) -> dict[str, str]:
    env = COMPOSE["services"][name]["environment"]
    return {k: str(v) for k, v in env.items()}


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_the_compose_environment_is_a_valid_production_configuration(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in service_env(service).items():
        monkeypatch.setenv(key, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.env == "prod"
    assert s.database.url.startswith("postgresql+asyncpg://")
    assert s.redis_url and s.media.backend == "s3" and s.media.s3_bucket
    assert s.wechat.client == "http"
    assert s.background is (service != "api")  # the worker does the background work


def test_the_compose_commands_exist() -> None:
    services = COMPOSE["services"]
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["worker"]["command"][:3] == ["python", "-m", "app.worker"]
    assert importlib.util.find_spec("app.worker") is not None
    api = services["api"]["command"]
    assert api[:2] == ["uvicorn", "app.main:app"] and "--workers" in api
    # The API waits for the migration instead of running it.
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "\nUSER linli\n" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert "alembic upgrade" not in dockerfile.split("CMD", 1)[1]  # migrations are a separate step
