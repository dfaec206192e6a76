"""Settings: one pydantic-settings class with nested groups, read through get_settings()."""

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.auth.permissions import CareCategory

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me"
DEV_MEDIA_SECRET = "dev-only-media-secret-change-me"


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///./var/linli.db"
    echo: bool = False
    pool_size: int = 10
    max_overflow: int = 20
    # SQLite waits this long for the write lock instead of failing with "database is locked".
    sqlite_busy_timeout_ms: int = 30_000


class JwtSettings(BaseModel):
    secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    access_ttl_seconds: int = 15 * 60
    refresh_ttl_days: int = 30
    issuer: str = "linli"


class PasswordSettings(BaseModel):
    # Argon2id parameters (RFC 9106 "second recommended option" by default); tests lower them.
    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 1


class SubscribeTemplate(BaseModel):
    """One subscribe-message template (订阅消息模板) sent for one notification kind.

    fields maps the template's keyword ids (copied from the MP console, e.g. thing2) to what goes
    in them: "title", "body", "number", "time" (when it happened), any key of the notification's
    data, or a literal written as "=已受理". An empty template_id turns the template off.
    """

    template_id: str = ""
    fields: dict[str, str]
    # The mini-program page opened from the message; {ticket_id}-style placeholders are filled
    # from the notification's data.
    page: str = ""


def _ticket_template(kind: str, status: str) -> SubscribeTemplate:
    return SubscribeTemplate(
        template_id=f"dev-{kind}",
        fields={"character_string1": "number", "thing2": "title", "phrase3": f"={status}", "time4": "time"},
        page="pages/ticket/detail?id={ticket_id}",
    )


def _default_templates() -> dict[str, SubscribeTemplate]:
    """Development defaults ("dev-" ids, refused in production): one template per event."""
    repair = "pages/repair/detail?id={repair_order_id}"
    course = "pages/course/session?id={session_id}"
    return {
        "ticket.claimed": _ticket_template("ticket.claimed", "已受理"),
        "ticket.resolved": _ticket_template("ticket.resolved", "已办结"),
        "ticket.response_overdue": _ticket_template("ticket.response_overdue", "已超时"),
        "ticket.resolve_overdue": _ticket_template("ticket.resolve_overdue", "已超时"),
        "ticket.escalated": _ticket_template("ticket.escalated", "已转派"),
        "repair.schedule": SubscribeTemplate(
            template_id="dev-repair.schedule",
            fields={"character_string1": "number", "thing2": "title", "time3": "scheduled_at"},
            page=repair,
        ),
        "repair.quote": SubscribeTemplate(
            template_id="dev-repair.quote",
            fields={"character_string1": "number", "thing2": "title", "phrase3": "=待确认"},
            page=repair,
        ),
        "repair.complete": SubscribeTemplate(
            template_id="dev-repair.complete",
            fields={"character_string1": "number", "thing2": "title", "phrase3": "=已完工"},
            page=repair,
        ),
        "course.reminder": SubscribeTemplate(
            template_id="dev-course.reminder",
            fields={"thing1": "course_title", "time2": "starts_at", "thing3": "place"},
            page=course,
        ),
        "course.promoted": SubscribeTemplate(
            template_id="dev-course.promoted",
            fields={"thing1": "course_title", "time2": "starts_at", "phrase3": "=已报上"},
            page=course,
        ),
    }


# The notification kinds that may also go out as a WeChat subscribe message.
SUBSCRIBE_KINDS = frozenset(_default_templates())


class WeChatSettings(BaseModel):
    client: Literal["fake", "http"] = "fake"
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    api_base: str = "https://api.weixin.qq.com"
    timeout_seconds: float = 5.0
    # A retried login with the same wx.login code returns the same account for this long
    # instead of failing with 40163 (weak mobile networks retry).
    login_code_reuse_seconds: int = 300
    # The cached access_token is dropped this long before WeChat says it expires.
    token_margin_seconds: int = Field(default=120, ge=60, le=300)
    # Message push (消息推送): the Token from the MP console, and the EncodingAESKey when the
    # push is in safe mode (encrypted bodies); empty means plain mode.
    push_token: SecretStr = SecretStr("dev-push-token")
    encoding_aes_key: SecretStr = SecretStr("")
    # A pushed message whose timestamp is further than this from our clock is refused (replays of
    # a signature seen in a log); safe mode, required in production, also signs the body.
    push_max_age_seconds: int = Field(default=300, ge=30)
    # Where WeChat's servers can download our photos for mediaCheckAsync (https://…, public).
    public_base_url: str = ""
    # developer | trial | formal: which mini-program version a subscribe message opens.
    miniprogram_state: Literal["developer", "trial", "formal"] = "formal"
    # msgSecCheck scene: 1 profile, 2 comment, 3 forum, 4 social log.
    sec_check_scene: int = Field(default=3, ge=1, le=4)
    # A photo whose verdict has not been pushed this long after the request goes to staff review.
    media_check_timeout_minutes: int = Field(default=40, ge=1)
    # Where one-time credits come from: the client's report of wx.requestSubscribeMessage, or
    # WeChat's subscribe_msg_popup_event push (trustworthy, needs message push configured).
    credits_from: Literal["client", "push"] = "client"
    templates: dict[str, SubscribeTemplate] = Field(default_factory=_default_templates)

    @model_validator(mode="after")
    def _known_kinds(self) -> "WeChatSettings":
        unknown = sorted(set(self.templates) - SUBSCRIBE_KINDS)
        if unknown:
            raise ValueError(
                f"templates for unknown events {unknown}; known: {', '.join(sorted(SUBSCRIBE_KINDS))}"
            )
        return self


class MediaSettings(BaseModel):
    root: Path = Path("var/media")
    max_bytes: int = 10 * 1024 * 1024
    # 64 Mpx admits 48–50 Mpx phone photos (8064×6048 HEIC); the decoded RGB stays under ~200 MB.
    max_pixels: int = 64_000_000
    max_side: int = 2560
    thumb_side: int = 360
    jpeg_quality: int = 85
    url_ttl_seconds: int = 3600
    signing_secret: SecretStr = SecretStr(DEV_MEDIA_SECRET)
    # Where photo bytes live: "local" (under root) or "s3" (any S3-compatible store: MinIO, COS).
    backend: Literal["local", "s3"] = "local"
    # The store's endpoint, e.g. http://minio:9000 or https://cos.ap-guangzhou.myqcloud.com;
    # empty means AWS itself.
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_bucket: str = ""
    # Empty keys leave it to boto3's own lookup (AWS_* environment variables, an instance role).
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    # "path" (bucket in the URL path) for MinIO and other self-hosted stores; Tencent COS and AWS
    # want "virtual" (bucket in the host name).
    s3_addressing_style: Literal["path", "virtual"] = "path"
    # True: a valid signed /media link answers 307 to a short presigned URL of the store instead
    # of proxying the bytes (our signature check still decides who gets one).
    s3_redirect: bool = False


class GeoSettings(BaseModel):
    # A point outside every grid is given the nearest grid within this distance.
    nearest_grid_max_meters: float = 300.0


class TicketSettings(BaseModel):
    # The in-process sweeper (breach alerts, auto-close) runs this often; 0 turns it off.
    sweep_interval_seconds: float = 15.0
    # Second rung of the response ladder: still unclaimed this long after the deadline.
    unclaimed_escalate_minutes: int = 20
    # Second rung of the resolve ladder: still open this long after the resolve deadline.
    overdue_escalate_hours: int = 24
    auto_close_hours: int = 72
    reopen_window_hours: int = 168
    arrival_far_meters: float = 300.0
    duplicate_radius_meters: float = 100.0
    duplicate_window_hours: int = 24
    report_points: int = 10


class RepairCareRule(BaseModel):
    labor_discount_pct: int = Field(default=0, ge=0, le=100)
    materials_discount_pct: int = Field(default=0, ge=0, le=100)
    waive_visit_fee: bool = False


def _default_care_rules() -> dict[CareCategory, RepairCareRule]:
    free = RepairCareRule(labor_discount_pct=100, materials_discount_pct=100, waive_visit_fee=True)
    half = RepairCareRule(labor_discount_pct=50, waive_visit_fee=True)
    return {
        CareCategory.LIVING_ALONE: free,  # 孤寡
        CareCategory.LOW_INCOME: free,  # 贫困
        CareCategory.EMPTY_NEST: half,  # 空巢
        CareCategory.DISABLED: half,  # 残疾
        CareCategory.MILITARY_FAMILY: half,  # 军烈属
    }


class RepairSettings(BaseModel):
    """乐修匠 defaults; a subdistrict's own pricing policy (set by its staff) overrides them."""

    visit_fee_cents: int = Field(default=0, ge=0)
    # Setting care_rules replaces the whole table (categories left out pay list price); an
    # unknown category is refused at startup.
    care_rules: dict[CareCategory, RepairCareRule] = Field(default_factory=_default_care_rules)
    max_active_orders: int = Field(default=3, ge=1)
    # A craftsman who has not come this long after the agreed time may be reported as a no-show.
    no_show_grace_minutes: int = Field(default=30, ge=0)


class CourseSettings(BaseModel):
    """菜鸟学堂 rules."""

    # Learners (and whoever signed them up) may cancel until this long before the start;
    # staff may cancel any time.
    cancel_cutoff_minutes: int = Field(default=120, ge=0)
    # The reminder goes out this long before the start.
    reminder_hours_before: int = Field(default=24, ge=1)
    # The check-in QR code changes this often; a scanned code is accepted for one more period.
    checkin_token_seconds: int = Field(default=60, ge=10, le=600)
    # Check-in opens this long before the start and closes when the session is closed.
    checkin_opens_minutes_before: int = Field(default=30, ge=0)
    # This long after the end, unchecked learners are recorded as no-shows and teachers' hours
    # are credited; the roll call may still correct attendance for roll_call_correction_hours.
    close_after_minutes: int = Field(default=30, ge=0)
    roll_call_correction_hours: int = Field(default=48, ge=0)
    max_capacity: int = Field(default=200, ge=1)


class DutySettings(BaseModel):
    # A worker's location is dropped when no heartbeat came for this long (and on going off duty).
    location_retention_minutes: int = 30


class GroupLimit(BaseModel):
    # Requests per minute; 0 turns that side off.
    per_user: int = Field(default=0, ge=0)
    per_ip: int = Field(default=0, ge=0)


class RateLimitSettings(BaseModel):
    """Per-minute limits per signed-in user and per client IP (shared through Redis when set).
    A community centre's shared Wi-Fi is one IP: the per-IP limits are deliberately loose."""

    enabled: bool = True
    login: GroupLimit = GroupLimit(per_ip=60)
    upload: GroupLimit = GroupLimit(per_user=60, per_ip=600)
    create: GroupLimit = GroupLimit(per_user=30, per_ip=600)


class PrivacySettings(BaseModel):
    """PIPL retention (app/privacy/jobs.py). Worker positions follow duty.location_retention_minutes."""

    # Stored Idempotency-Key answers (they quote the caller's data back). Keys are honoured for
    # 7 days (app/core/idempotency.py KEEP_FOR): a shorter period here also shortens that.
    idempotency_retention_hours: int = Field(default=168, ge=1, le=168)
    # Who was shown whose phone number or care category. The Cybersecurity Law (Art. 21) asks
    # for network logs to be kept at least six months.
    audit_retention_days: int = Field(default=365, ge=180)


class WebSettings(BaseModel):
    """The H5 client and the dashboard (app/web). The grid map is drawn from our own GeoJSON; a tile
    background is optional: an XYZ template in Web Mercator whose coordinates are WGS-84/CGCS2000
    (OpenStreetMap, 天地图 `_w` layers), e.g. https://tiles.example.cn/{z}/{x}/{y}.png. GCJ-02
    sources (AMap, Tencent) would sit about 500 m off our WGS-84 grids and are not supported."""

    tile_url: str = ""
    tile_attribution: str = ""

    @field_validator("tile_url")
    @classmethod
    def _xyz_template(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("tile_url must be an http(s) URL")
        if not all(p in value for p in ("{z}", "{x}", "{y}")):
            raise ValueError("tile_url must contain {z}, {x} and {y}")
        return value

    @property
    def tile_origin(self) -> str:
        """scheme://host[:port] of the tiles, for the pages' img-src ('' when none)."""
        parts = urlsplit(self.tile_url)
        return f"{parts.scheme}://{parts.netloc}" if self.tile_url else ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LINLI_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = "dev"
    # The conventional DATABASE_URL wins over LINLI_DATABASE__URL when both are set.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    database: DatabaseSettings = DatabaseSettings()
    # Optional: shared by all processes — the live feed (pub/sub), the WeChat access_token.
    # In-process fallbacks when absent (one process).
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    # Run the outbox dispatchers and the sweeper in this process. Off for API processes when a
    # separate `python -m app.worker` does it; on in every process is safe too (they claim work).
    background: bool = True
    jwt: JwtSettings = JwtSettings()
    password: PasswordSettings = PasswordSettings()
    wechat: WeChatSettings = WeChatSettings()
    media: MediaSettings = MediaSettings()
    geo: GeoSettings = GeoSettings()
    ticket: TicketSettings = TicketSettings()
    duty: DutySettings = DutySettings()
    repair: RepairSettings = RepairSettings()
    course: CourseSettings = CourseSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    privacy: PrivacySettings = PrivacySettings()
    web: WebSettings = WebSettings()
    # Origins of the H5 client allowed by CORS (exact, no wildcard), e.g.
    # LINLI_CORS_ORIGINS='["https://h5.example.cn"]'; empty: no cross-origin browser access.
    cors_origins: list[str] = []

    @model_validator(mode="after")
    def _apply_database_url(self) -> "Settings":
        if self.database_url:
            self.database = self.database.model_copy(update={"url": self.database_url})
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.env != "prod":
            return self
        problems = []
        if self.jwt.secret.get_secret_value() in ("", DEV_JWT_SECRET) or len(self.jwt.secret) < 32:
            problems.append("LINLI_JWT__SECRET must be set to a random value of at least 32 characters")
        if self.media.signing_secret.get_secret_value() in ("", DEV_MEDIA_SECRET):
            problems.append("LINLI_MEDIA__SIGNING_SECRET must be set")
        if self.wechat.client == "fake":
            problems.append("LINLI_WECHAT__CLIENT=fake is for development and tests only")
        elif not self.wechat.app_id or not self.wechat.app_secret.get_secret_value():
            problems.append("LINLI_WECHAT__APP_ID and LINLI_WECHAT__APP_SECRET are required")
        if self.wechat.push_token.get_secret_value() in ("", "dev-push-token"):
            problems.append("LINLI_WECHAT__PUSH_TOKEN must be the message-push Token from the MP console")
        if not self.wechat.encoding_aes_key.get_secret_value():
            problems.append(
                "LINLI_WECHAT__ENCODING_AES_KEY is required: message push must use safe mode "
                "(signed, encrypted)"
            )
        if not self.wechat.public_base_url.startswith("https://"):
            problems.append(
                "LINLI_WECHAT__PUBLIC_BASE_URL must be the public https:// address of this server"
            )
        placeholders = sorted(k for k, t in self.wechat.templates.items() if t.template_id.startswith("dev-"))
        if placeholders:
            problems.append(
                "LINLI_WECHAT__TEMPLATES must give real template ids (or empty ones to turn them off) for: "
                + ", ".join(placeholders)
            )
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
