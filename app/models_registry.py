"""Import every domain's models so Alembic and the metadata see all tables."""

from app.auth import models as auth_models
from app.core.models import Base
from app.media import models as media_models
from app.org import models as org_models
from app.user import models as user_models

__all__ = ["Base", "auth_models", "media_models", "org_models", "user_models"]
