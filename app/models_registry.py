"""Import every domain's models so Alembic and the metadata see all tables."""

from app.auth import models as auth_models
from app.core import idempotency, numbering
from app.core.models import Base
from app.course import models as course_models
from app.duty import models as duty_models
from app.media import models as media_models
from app.notification import models as notification_models
from app.open311 import models as open311_models
from app.org import models as org_models
from app.privacy import models as privacy_models
from app.repair import models as repair_models
from app.ticket import models as ticket_models
from app.user import models as user_models
from app.wechat import models as wechat_models

__all__ = [
    "Base",
    "auth_models",
    "course_models",
    "duty_models",
    "idempotency",
    "media_models",
    "notification_models",
    "numbering",
    "open311_models",
    "org_models",
    "privacy_models",
    "repair_models",
    "ticket_models",
    "user_models",
    "wechat_models",
]
