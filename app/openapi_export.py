"""Print the OpenAPI document: `python -m app.openapi_export > openapi/openapi.json`."""

import json
import sys

from app.core.config import Settings
from app.main import create_app


def render() -> str:
    """The deterministic OpenAPI JSON of the app (independent of the local environment)."""
    app = create_app(Settings(_env_file=None, env="dev", **{"DATABASE_URL": "sqlite+aiosqlite:///:memory:"}))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
