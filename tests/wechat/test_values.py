"""Subscribe-message keyword values (app/wechat/values.py, WECHAT.md §4.4)."""

import contextlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from app.wechat.values import MAX_LENGTH, Unfit, fit, format_time, keyword_type, problem

KINDS = sorted(MAX_LENGTH)


# --- keyword ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "kind"),
    [
        ("thing2", "thing"),
        ("thing12", "thing"),
        ("character_string3", "character_string"),
        ("phrase1", "phrase"),
    ],
)
def test_keyword_type(keyword: str, kind: str) -> None:
    assert keyword_type(keyword) == kind


BAD_KEYWORDS = ["", "thing", "2", "Thing2", "thing 2", "thing-2", "thing2a", "thing2 ", "东西2"]


@pytest.mark.parametrize("keyword", BAD_KEYWORDS)
def test_bad_keyword_ids(keyword: str) -> None:
    with pytest.raises(Unfit, match="not a template keyword id"):
        keyword_type(keyword)
    with pytest.raises(Unfit):
        fit(keyword, "abc")
    assert problem(keyword, "abc") is not None


# --- fit: thing -------------------------------------------------------------------------------


def test_thing_short_values_are_kept() -> None:
    assert fit("thing1", "楼道灯不亮") == "楼道灯不亮"
    assert fit("thing1", "x" * 20) == "x" * 20


def test_thing_is_truncated_to_19_characters_and_an_ellipsis() -> None:
    text = "三号楼二单元楼道灯不亮已经三天了请尽快处理谢谢"
    fitted = fit("thing4", text)
    assert fitted == text[:19] + "…"
    assert len(fitted) == 20
    assert fit("thing4", "a" * 21) == "a" * 19 + "…"


def test_thing_strips_emoji_and_collapses_whitespace() -> None:
    assert fit("thing1", "🚰 水管   漏水\u3000了💧💧") == "水管 漏水 了"
    # Control characters (newline, tab) are removed, not turned into spaces.
    assert fit("thing1", "水管\n\t漏水") == "水管漏水"
    assert fit("thing1", "⚠️漏水") == "漏水"  # U+26A0 then the variation selector U+FE0F
    assert fit("thing1", "漏水 👨‍👩‍👧 了") == "漏水 了"  # ZWJ sequence
    assert fit("thing1", "🇨🇳中国") == "中国"  # regional indicators
    assert fit("thing1", "👍🏻好") == "好"  # skin-tone modifier
    assert fit("thing1", "按1️⃣号键") == "按1号键"  # keycap: digit, U+FE0F, U+20E3
    assert fit("thing1", "a\u200bb") == "ab"  # zero-width space (Cf)


def test_emoji_are_stripped_before_truncation() -> None:
    assert fit("thing1", "😀" * 30 + "短") == "短"


@pytest.mark.parametrize("value", ["", "   ", "😀😀", "⚠️", "\u200d\ufe0f", "\n\t"])
def test_nothing_left_is_unfit(value: str) -> None:
    with pytest.raises(Unfit, match="empty"):
        fit("thing1", value)


# --- fit: phrase ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fitted"), [("配送中", "配送中"), ("已完成", "已完成"), ("处理 中", "处理中")]
)
def test_phrase(value: str, fitted: str) -> None:
    assert fit("phrase3", value) == fitted


@pytest.mark.parametrize(
    "value", ["OK", "done", "处理中1", "已完成!", "已完成。", "待处理ok", "处理中处理中"]
)
def test_phrase_unfit(value: str) -> None:
    # Non-CJK characters or six CJK characters: WeChat answers 47003; a phrase is never cut.
    with pytest.raises(Unfit):
        fit("phrase3", value)


# --- fit: character_string --------------------------------------------------------------------


def test_character_string_keeps_printable_ascii() -> None:
    assert fit("character_string1", "LL-2026-000123") == "LL-2026-000123"
    assert fit("character_string1", "工单 No.A-123") == "No.A-123"
    assert fit("character_string1", "ＡＢＣ123") == "123"  # full-width letters are not ASCII
    assert fit("character_string1", "x" * 40) == "x" * 32


@pytest.mark.parametrize("value", ["工单号", "ＡＢＣ", "😀"])
def test_character_string_without_ascii_is_unfit(value: str) -> None:
    with pytest.raises(Unfit):
        fit("character_string1", value)


# --- fit: time and date -----------------------------------------------------------------------


def test_time_from_datetime() -> None:
    at = datetime(2026, 12, 1, 9, 5)
    assert format_time(at) == "2026年12月1日 09:05"
    assert fit("time2", at) == "2026年12月1日 09:05"
    assert fit("date5", at) == "2026年12月1日 09:05"
    assert fit("time2", datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)) == "2026年1月31日 23:59"


@pytest.mark.parametrize("keyword", ["thing1", "number1", "name1", "phrase1", "character_string1"])
def test_datetime_for_other_kinds_is_unfit(keyword: str) -> None:
    with pytest.raises(Unfit):
        fit(keyword, datetime(2026, 12, 1, 9, 5))


@pytest.mark.parametrize(
    "value", ["15:01", "9:05", "2019年10月1日 15:01", "15:01~16:30", "2019年10月1日 15:01~2019年10月2日 8:00"]
)
def test_time_strings(value: str) -> None:
    assert fit("time1", value) == value


@pytest.mark.parametrize("value", ["2019年10月1日", "2019年10月1日 15:01", "2019年10月1日~2019年10月3日"])
def test_date_strings(value: str) -> None:
    assert fit("date1", value) == value


@pytest.mark.parametrize(
    ("keyword", "value"), [("time1", "3pm"), ("time1", "2019-10-01 15:01"), ("date1", "15:01")]
)
def test_time_and_date_unfit(keyword: str, value: str) -> None:
    with pytest.raises(Unfit):
        fit(keyword, value)


# --- fit: name --------------------------------------------------------------------------------


def test_name_limits() -> None:
    assert fit("name1", "欧阳娜娜") == "欧阳娜娜"
    assert fit("name1", "张" * 10) == "张" * 10
    assert fit("name1", "张" * 11) == "张" * 9 + "…"
    assert fit("name1", "Zhang San") == "Zhang San"
    assert fit("name1", "a" * 20) == "a" * 20
    assert fit("name1", "a" * 21) == "a" * 19 + "…"
    # Mixed text is counted as Chinese: 10 characters at most.
    assert fit("name1", "Li小明abcdefgh") == "Li小明abcde…"


# --- fit: patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "value", "fitted"),
    [
        ("number1", "12", "12"),
        ("number1", "-3.75", "-3.75"),
        ("number1", 42, "42"),
        ("number1", 3.5, "3.5"),
        ("number1", "9" * 32, "9" * 32),
        ("amount1", "¥12.50", "¥12.50"),
        ("amount1", "100元", "100元"),
        ("amount1", "$1234567890", "$1234567890"),
        ("amount1", 30, "30"),
        ("letter1", "abcXYZ", "abcXYZ"),
        ("phone_number1", "+86-0766-66888866", "+86-0766-66888866"),
        ("phone_number1", "13800138000", "13800138000"),
        ("car_number1", "粤A12345", "粤A12345"),
        ("symbol1", "%", "%"),
    ],
)
def test_patterned_kinds_accept(keyword: str, value: object, fitted: str) -> None:
    assert fit(keyword, value) == fitted  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("number1", "1,000"),
        ("number1", "12元"),
        ("number1", "abc"),
        ("number1", "9" * 33),
        ("number1", 1e20),  # "1e+20"
        ("number1", "1."),
        ("amount1", "12.345"),
        ("amount1", "¥12345678901"),  # 11 digits
        ("amount1", "¥¥1"),
        ("amount1", "十二元"),
        ("letter1", "abc1"),
        ("letter1", "a" * 33),
        ("phone_number1", "+86-0766-668888660"),  # 18 characters
        ("phone_number1", "138 0013 8000"),
        ("car_number1", "粤A123456X"),
        ("symbol1", "%%%%%%"),
    ],
)
def test_patterned_kinds_unfit(keyword: str, value: object) -> None:
    with pytest.raises(Unfit):
        fit(keyword, value)  # type: ignore[arg-type]


# --- problem: what WeChat refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("thing1", "x" * 20),
        ("thing1", "楼道灯不亮…"),
        ("phrase1", "配送中"),
        ("phrase1", "五个汉字啊"),
        ("name1", "张" * 10),
        ("name1", "a" * 20),
        ("number1", "-0.5"),
        ("amount1", "￥5元"),
        ("character_string1", "A" * 32),
        ("time1", "2019年10月1日 15:01"),
        ("date1", "2019年10月1日"),
        ("phone_number1", "+86-0766-66888866"),
        ("car_number1", "粤A12345"),
        ("symbol1", "+-*/="),
    ],
)
def test_problem_accepts(keyword: str, value: str) -> None:
    assert problem(keyword, value) is None


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("thing1", "x" * 21),
        ("thing1", ""),
        ("thing1", None),
        ("thing1", 12),
        ("thing1", "好👍"),
        ("thing1", "⚠️漏水"),
        ("thing1", "\ufe0f漏水"),  # a variation selector left behind by a naive emoji filter
        ("thing1", "a\u200db"),
        ("thing1", "a\nb"),
        ("phrase1", "配送中配送中"),
        ("phrase1", "OK"),
        ("phrase1", "配送 中"),
        ("name1", "张" * 11),
        ("name1", "a" * 21),
        ("name1", "Li小明abcdefg"),  # mixed: counted as Chinese, 11 > 10
        ("number1", "1,000"),
        ("number1", "9" * 33),
        ("letter1", "abc1"),
        ("character_string1", "A" * 33),
        ("character_string1", "No. 1"),  # a space is not printable ASCII here
        ("character_string1", "工单1"),
        ("amount1", "12.345"),
        ("time1", "3pm"),
        ("date1", "2019-10-01"),
        ("phone_number1", "1" * 18),
        ("car_number1", "粤A1234567"),
        ("symbol1", "%%%%%%"),
    ],
)
def test_problem_refuses(keyword: str, value: object) -> None:
    reason = problem(keyword, value)
    assert reason == f"data.{keyword}.value invalid"


@pytest.mark.parametrize("keyword", BAD_KEYWORDS)
def test_problem_names_bad_keyword_ids(keyword: str) -> None:
    reason = problem(keyword, "x")
    assert reason is not None and "not a template keyword id" in reason


# --- property: fit() output is always something problem() accepts ------------------------------

ALPHABET = (
    "abcXYZ019 .-+:~/%#@!?,_"  # ASCII
    "中文楼道灯漏水配送已完成年月日元粤"  # CJK
    "¥$€£￥"  # currency
    "ＡＢＣ１２３，。！？、（）"  # full width
    "…—·•°℃™©"  # punctuation and symbols
    "\t\n\r\u3000\u00a0\u2028"  # whitespace
    "\u200b\u200d\ufe0f\ufe0e\u20e3\u0301"  # zero width, joiners, variation selectors, combining marks
    "😀👍🏻🚰💧🇨🇳⚠❤☎✔\U000e0067"  # emoji, modifiers, tags
    "\U00020000\U0002a700"  # CJK extension B/C (outside the BMP)
)


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))


def random_shaped(rng: random.Random) -> str:
    """Values close to what each kind accepts, so the loop also exercises acceptance."""
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 35)))
    shapes = [
        digits,
        "-" + digits + "." + digits[:2],
        rng.choice(["", "¥", "$", "￥"])
        + digits[:11]
        + rng.choice(["", ".5", ".05", ".123"])
        + rng.choice(["", "元"]),
        f"{rng.randint(0, 30)}:{rng.randint(0, 99):02d}",
        f"{rng.randint(1990, 2100)}年{rng.randint(1, 12)}月{rng.randint(1, 31)}日",
        f"{rng.randint(1990, 2100)}年{rng.randint(1, 12)}月{rng.randint(1, 31)}日 "
        f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}",
        "".join(rng.choice("配送中已完成处理待") for _ in range(rng.randint(1, 7))),
        "".join(rng.choice("abcdefXYZ") for _ in range(rng.randint(1, 35))),
        "+86-" + digits[:15],
        "粤A" + digits[: rng.randint(1, 8)],
        "😀" + digits + "😀",
    ]
    return rng.choice(shapes)


def random_value(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.45:
        return random_text(rng)
    if roll < 0.85:
        return random_shaped(rng)
    if roll < 0.92:
        return rng.choice([rng.randint(-(10**12), 10**12), rng.uniform(-1e6, 1e6), rng.randint(0, 100)])
    start = datetime(1970, 1, 1)
    return start + timedelta(minutes=rng.randint(0, 130 * 365 * 24 * 60))


def test_every_fitted_value_is_accepted() -> None:
    rng = random.Random(20261201)
    accepted = dict.fromkeys(KINDS, 0)
    for _ in range(6000):
        value = random_value(rng)
        for kind in KINDS:
            keyword = f"{kind}{rng.randint(1, 30)}"
            try:
                fitted = fit(keyword, value)  # type: ignore[arg-type]
            except Unfit:
                continue
            assert problem(keyword, fitted) is None, (keyword, value, fitted)
            # Fitting is idempotent: an acceptable value passes through unchanged.
            assert fit(keyword, fitted) == fitted, (keyword, value, fitted)
            accepted[kind] += 1
    # The loop is not vacuous: every kind accepted a good number of values.
    assert all(count >= 50 for count in accepted.values()), accepted


def test_fit_never_raises_anything_but_unfit() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        value = random_text(rng)
        for kind in [*KINDS, "enum"]:
            with contextlib.suppress(Unfit):
                fit(f"{kind}1", value)
