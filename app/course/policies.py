"""菜鸟学堂 rules that need no database: who may do what, times, and the check-in code. Pure."""

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from app.auth.permissions import Actor, Role, Scope, administers


def manages(actor: Actor, scope: Scope) -> bool:
    """Staff of the community (or its subdistrict), or one of the community's teachers."""
    return administers(actor, scope) or scope.community_id in actor.teacher_community_ids


def may_claim_help(actor: Actor, community_id: uuid.UUID) -> bool:
    return Role.TEACHER in actor.roles and community_id in actor.teacher_community_ids


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: a class ending at 10:00 does not overlap one starting at 10:00."""
    return a_start < b_end and b_start < a_end


def cancel_cutoff(starts_at: datetime, cutoff_minutes: int) -> datetime:
    return starts_at - timedelta(minutes=cutoff_minutes)


# --- the rotating check-in code ----------------------------------------------------------
#
# The code shown at the venue is "<session id>.<window>.<signature>": the window is the
# number of `period`-second periods since the epoch, and the signature an HMAC of both with the
# server's secret. It cannot be made without the secret, says which session it is for, and is
# accepted during its own period and the next one, so a code is never good for more than two
# periods (two minutes by default) — a photo of it sent home is useless by the next class.


class TokenProblem(StrEnum):
    INVALID = "invalid"
    EXPIRED = "expired"
    WRONG_SESSION = "wrong_session"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    valid_until: datetime
    refresh_in_seconds: int


def _window(now: datetime, period: int) -> int:
    return int(now.timestamp()) // period


def _sign(secret: bytes, session_id: uuid.UUID, window: int) -> str:
    mac = hmac.new(secret, f"checkin:{session_id.hex}:{window}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode().rstrip("=")


def issue_token(secret: bytes, session_id: uuid.UUID, now: datetime, period: int) -> IssuedToken:
    window = _window(now, period)
    valid_until = datetime.fromtimestamp((window + 2) * period, tz=UTC)
    refresh = (window + 1) * period - int(now.timestamp())
    return IssuedToken(f"{session_id.hex}.{window}.{_sign(secret, session_id, window)}", valid_until, refresh)


def check_token(
    secret: bytes, token: str, session_id: uuid.UUID, now: datetime, period: int
) -> TokenProblem | None:
    """None if the token is a valid, current code for this session; else what is wrong with it."""
    parts = token.split(".")
    if len(parts) != 3:
        return TokenProblem.INVALID
    sid, window_s, sig = parts
    try:
        token_session = uuid.UUID(hex=sid)
        window = int(window_s)
    except ValueError:
        return TokenProblem.INVALID
    # compare_digest raises TypeError on non-ASCII str: such a signature is simply not ours.
    if not sig.isascii() or not hmac.compare_digest(sig, _sign(secret, token_session, window)):
        return TokenProblem.INVALID
    if token_session != session_id:
        return TokenProblem.WRONG_SESSION
    current = _window(now, period)
    if window > current:
        return TokenProblem.INVALID  # not issued yet: not one of ours
    if window < current - 1:
        return TokenProblem.EXPIRED
    return None
