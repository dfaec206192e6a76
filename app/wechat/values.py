"""Subscribe-message values and the keyword type rules WeChat enforces on them (WECHAT.md §4.4).

A template's data keys are keyword ids such as ``thing2`` or ``phrase3``; the letters name the
type. ``fit`` makes a value acceptable before sending (trims text, strips emoji, reformats
times) or raises ``Unfit`` when no honest trimming exists (a phrase that is not Chinese, a
number that is not a number); WeChat would answer 47003 for it. ``problem`` is the check WeChat
itself applies; the fake WeChat server uses it.
"""

import re
import unicodedata
from datetime import datetime

# Keyword type → maximum length in characters (None: checked by pattern only).
MAX_LENGTH: dict[str, int] = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "phrase": 5,
    "amount": 12,  # a currency symbol, up to 10 digits with a point, an optional 元
    "name": 20,
    "time": 40,
    "date": 40,
}

_KEYWORD = re.compile(r"([a-z_]+?)(\d+)")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PATTERNS: dict[str, re.Pattern[str]] = {
    "number": re.compile(r"-?\d+(\.\d+)?"),
    "letter": re.compile(r"[A-Za-z]+"),
    "character_string": re.compile(r"[\x21-\x7e]+"),
    "phone_number": re.compile(r"\+?[\d\-]+"),
    "phrase": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"),
    "amount": re.compile(r"[¥$€£￥]?\d{1,10}(\.\d{1,2})?元?"),
    "time": re.compile(
        r"(\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2}(~(\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2})?"
    ),
    "date": re.compile(
        r"\d{4}年\d{1,2}月\d{1,2}日( \d{1,2}:\d{2})?(~\d{4}年\d{1,2}月\d{1,2}日( \d{1,2}:\d{2})?)?"
    ),
}


class Unfit(ValueError):
    """The value cannot be made acceptable for its keyword type."""


def keyword_type(keyword: str) -> str:
    """``thing12`` → ``thing``; ``character_string3`` → ``character_string``."""
    match = _KEYWORD.fullmatch(keyword)
    if match is None:
        raise Unfit(f"not a template keyword id: {keyword!r}")
    return match.group(1)


def _is_emoji_or_control(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # So: symbols such as emoji; Cs: surrogates; Cc/Cf: control and format (ZWJ, tags); Me: the keycap
    # U+20E3. Variation selectors (U+FE0F after ⚠ or ❤) are Mn, so they are listed by code point.
    code = ord(ch)
    return (
        cat in ("So", "Cs", "Cc", "Cf", "Me")
        or 0x1F000 <= code <= 0x1FAFF
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


def _clean(text: str) -> str:
    text = "".join(ch for ch in text if not _is_emoji_or_control(ch))
    return re.sub(r"\s+", " ", text).strip()


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name_limit(text: str) -> int:
    # Up to 10 Chinese characters or 20 letters; mixed text counts as Chinese.
    return 10 if _CJK.search(text) else 20


def format_time(at: datetime) -> str:
    """The time.DATA format WeChat shows: ``2026年12月1日 15:01``."""
    return f"{at.year}年{at.month}月{at.day}日 {at.hour:02d}:{at.minute:02d}"


def fit(keyword: str, value: str | datetime | int | float) -> str:
    """The value made acceptable for the keyword's type, or Unfit."""
    kind = keyword_type(keyword)
    if isinstance(value, datetime):
        if kind not in ("time", "date"):
            raise Unfit(f"{keyword}: a time for a {kind} field")
        return format_time(value)
    text = _clean(str(value))
    if not text:
        raise Unfit(f"{keyword}: empty")
    if kind == "thing":
        return _truncate(text, MAX_LENGTH["thing"])
    if kind == "name":
        return _truncate(text, _name_limit(text))
    if kind == "character_string":
        # Ticket numbers and the like; anything else loses its non-ASCII characters.
        text = "".join(ch for ch in text if "\x21" <= ch <= "\x7e")
        if not text:
            raise Unfit(f"{keyword}: no printable ASCII characters")
        return text[: MAX_LENGTH["character_string"]]
    if kind == "phrase":
        text = text.replace(" ", "")
        if not _PATTERNS["phrase"].fullmatch(text) or len(text) > MAX_LENGTH["phrase"]:
            # A phrase is a status word chosen by us; cutting one in half would change its meaning.
            raise Unfit(f"{keyword}: a phrase is at most 5 Chinese characters, got {text!r}")
        return text
    problem_found = problem(keyword, text)
    if problem_found:
        raise Unfit(problem_found)
    return text


def problem(keyword: str, value: object) -> str | None:
    """Why WeChat would refuse this value (its 47003), or None when it is acceptable."""
    try:
        kind = keyword_type(keyword)
    except Unfit as err:
        return str(err)
    if not isinstance(value, str) or not value:
        return f"data.{keyword}.value invalid"
    if any(_is_emoji_or_control(ch) for ch in value):
        return f"data.{keyword}.value invalid"
    limit = _name_limit(value) if kind == "name" else MAX_LENGTH.get(kind)
    if limit is not None and len(value) > limit:
        return f"data.{keyword}.value invalid"
    pattern = _PATTERNS.get(kind)
    if pattern is not None and not pattern.fullmatch(value):
        return f"data.{keyword}.value invalid"
    return None
