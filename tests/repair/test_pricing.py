"""乐修匠 pricing: care-category subsidies from settings, materials at cost, the visit fee, rounding."""

import uuid
from dataclasses import replace

import pytest

from app.auth.permissions import CareCategory
from app.core.config import Settings
from app.repair.pricing import (
    CARE_LABELS,
    CareRule,
    ItemLine,
    LineKind,
    MaterialLine,
    PricingPolicy,
    percent_of,
    quote,
)
from app.repair.service import default_policy

C = CareCategory
FAUCET_ID, SOCKET_ID = uuid.uuid4(), uuid.uuid4()

# Labour: 2 × 30.00 (market 50.00 each) and 1 × 3.33 (no market price): 60.00 + 3.33.
FAUCET = ItemLine(
    price_item_id=FAUCET_ID,
    price_version=3,
    name="更换水龙头",
    unit="个",
    unit_cents=3000,
    market_unit_cents=5000,
    quantity=2,
)
SOCKET = ItemLine(
    price_item_id=SOCKET_ID,
    price_version=7,
    name="更换插座",
    unit="个",
    unit_cents=333,
    market_unit_cents=None,
    quantity=1,
)
# Materials at cost: 2 × 12.75.
TAP = MaterialLine(name="水龙头", unit="个", unit_cost_cents=1275, quantity=2)
VISIT_FEE = 1000

LIST_TOTAL = 6000 + 333 + 2550 + 1000
MARKET_TOTAL = 10000 + 333 + 2550 + 1000  # labour at the market price, the rest as listed


def _settings(**repair: object) -> Settings:
    return Settings(_env_file=None, **({"repair": repair} if repair else {}))  # type: ignore[call-arg]


def _policy_with_visit_fee() -> PricingPolicy:
    return PricingPolicy(visit_fee_cents=VISIT_FEE, rules=default_policy(_settings()).rules)


# Per category: for each line (faucet, socket, tap, visit fee) the discount %, subsidy, due and rule.
Line = tuple[int, int, int, str]
FREE = {
    C.LIVING_ALONE: "孤寡老人",
    C.LOW_INCOME: "困难家庭",
}
HALF = {
    C.EMPTY_NEST: "空巢老人",
    C.DISABLED: "残疾人家庭",
    C.MILITARY_FAMILY: "军烈属",
}
FULL_PRICE = [C.SPECIAL_ATTENTION, C.GENERAL, None]


def _free(label: str) -> list[Line]:
    return [
        (100, 6000, 0, f"{label}：人工费全免"),
        (100, 333, 0, f"{label}：人工费全免"),
        (100, 2550, 0, f"{label}：材料费全免"),
        (100, 1000, 0, f"{label}：上门费全免"),
    ]


def _half(label: str) -> list[Line]:
    return [
        (50, 3000, 3000, f"{label}：人工费减免 50%"),
        (50, 167, 166, f"{label}：人工费减免 50%"),  # 166.5 fen rounds half up
        (0, 0, 2550, "材料按进价收取"),
        (100, 1000, 0, f"{label}：上门费全免"),
    ]


LIST_PRICE: list[Line] = [
    (0, 0, 6000, "按价目表收费"),
    (0, 0, 333, "按价目表收费"),
    (0, 0, 2550, "材料按进价收取"),
    (0, 0, 1000, "上门费"),
]

EXPECTED: dict[CareCategory | None, tuple[list[Line], int, int]] = {
    **{care: (_free(label), 9883, 0) for care, label in FREE.items()},
    **{care: (_half(label), 3000 + 167 + 1000, 3000 + 166 + 2550) for care, label in HALF.items()},
    **dict.fromkeys(FULL_PRICE, (LIST_PRICE, 0, LIST_TOTAL)),
}


class TestDefaultPolicyFromSettings:
    def test_expected_table_covers_every_care_category_and_none(self) -> None:
        assert set(EXPECTED) == {*CareCategory, None}

    def test_default_settings_subsidise_the_documented_categories_and_charge_no_visit_fee(self) -> None:
        policy = default_policy(_settings())
        assert policy.visit_fee_cents == 0
        free = CareRule(labor_discount_pct=100, materials_discount_pct=100, waive_visit_fee=True)
        half = CareRule(labor_discount_pct=50, waive_visit_fee=True)
        assert dict(policy.rules) == {
            C.LIVING_ALONE: free,
            C.LOW_INCOME: free,
            C.EMPTY_NEST: half,
            C.DISABLED: half,
            C.MILITARY_FAMILY: half,
        }

    def test_categories_without_a_rule_pay_the_list_price(self) -> None:
        policy = default_policy(_settings())
        for care in (C.SPECIAL_ATTENTION, C.GENERAL, None):
            assert policy.rule_for(care) == CareRule()

    def test_visit_fee_comes_from_settings(self) -> None:
        policy = default_policy(_settings(visit_fee_cents=VISIT_FEE))
        assert policy.visit_fee_cents == VISIT_FEE
        assert policy.rules == default_policy(_settings()).rules

    def test_without_a_visit_fee_there_is_no_visit_fee_line(self) -> None:
        q = quote(default_policy(_settings()), C.GENERAL, [FAUCET], [TAP])
        assert [line.kind for line in q.lines] == [LineKind.ITEM, LineKind.MATERIAL]
        assert q.list_total_cents == 6000 + 2550


class TestQuotePerCareCategory:
    @pytest.mark.parametrize("care", list(EXPECTED), ids=lambda c: c.value if c else "none")
    def test_each_line_and_the_totals(self, care: CareCategory | None) -> None:
        lines, subsidy, due = EXPECTED[care]
        q = quote(_policy_with_visit_fee(), care, [FAUCET, SOCKET], [TAP])

        assert q.care_category is care
        assert [line.kind for line in q.lines] == [
            LineKind.ITEM,
            LineKind.ITEM,
            LineKind.MATERIAL,
            LineKind.VISIT_FEE,
        ]
        assert [line.name for line in q.lines] == ["更换水龙头", "更换插座", "水龙头", "上门费"]
        assert [line.list_amount_cents for line in q.lines] == [6000, 333, 2550, 1000]
        assert [(ln.discount_pct, ln.subsidy_cents, ln.due_cents, ln.rule) for ln in q.lines] == lines
        assert q.list_total_cents == LIST_TOTAL
        assert q.market_total_cents == MARKET_TOTAL
        assert q.subsidy_cents == subsidy
        assert q.due_cents == due
        assert q.subsidy_cents + q.due_cents == q.list_total_cents

    @pytest.mark.parametrize("care", [*FREE, *HALF], ids=str)
    def test_discounted_rule_text_names_the_category(self, care: CareCategory) -> None:
        q = quote(_policy_with_visit_fee(), care, [FAUCET], [TAP])
        label = CARE_LABELS[care]
        for line in q.lines:
            assert (label in line.rule) == (line.discount_pct > 0), line

    def test_every_care_category_has_a_chinese_label(self) -> None:
        assert set(CARE_LABELS) == set(CareCategory)
        assert CARE_LABELS[C.LIVING_ALONE] == "孤寡老人"


class TestLines:
    def test_item_line_keeps_the_price_version_and_item_it_was_quoted_from(self) -> None:
        q = quote(_policy_with_visit_fee(), None, [FAUCET, SOCKET], [TAP])
        faucet, socket, tap, visit = q.lines
        assert (faucet.price_item_id, faucet.price_version) == (FAUCET_ID, 3)
        assert (socket.price_item_id, socket.price_version) == (SOCKET_ID, 7)
        assert (tap.price_item_id, tap.price_version) == (None, None)
        assert (visit.price_item_id, visit.price_version) == (None, None)

    def test_item_line_amounts_are_unit_price_times_quantity(self) -> None:
        faucet = quote(PricingPolicy(), None, [FAUCET]).lines[0]
        assert (faucet.unit, faucet.quantity, faucet.list_unit_cents) == ("个", 2, 3000)
        assert faucet.list_amount_cents == 6000
        assert faucet.market_amount_cents == 10000

    def test_item_without_a_market_price_counts_at_list_price_in_the_market_total(self) -> None:
        q = quote(PricingPolicy(), None, [SOCKET])
        assert q.lines[0].market_amount_cents is None
        assert q.market_total_cents == 333

    def test_materials_are_charged_at_cost_without_markup(self) -> None:
        tap = quote(PricingPolicy(), None, [], [TAP]).lines[0]
        assert tap.kind is LineKind.MATERIAL
        assert (tap.name, tap.unit, tap.quantity) == ("水龙头", "个", 2)
        assert tap.list_unit_cents == 1275
        assert tap.list_amount_cents == tap.due_cents == 2550
        assert tap.market_amount_cents is None

    def test_materials_are_discounted_only_when_the_rule_says_so(self) -> None:
        labour_only = PricingPolicy(rules={C.GENERAL: CareRule(labor_discount_pct=100)})
        faucet, tap = quote(labour_only, C.GENERAL, [FAUCET], [TAP]).lines
        assert (faucet.subsidy_cents, faucet.due_cents) == (6000, 0)
        assert (tap.subsidy_cents, tap.due_cents, tap.discount_pct) == (0, 2550, 0)

        materials_only = PricingPolicy(rules={C.GENERAL: CareRule(materials_discount_pct=40)})
        faucet, tap = quote(materials_only, C.GENERAL, [FAUCET], [TAP]).lines
        assert (faucet.subsidy_cents, faucet.due_cents) == (0, 6000)
        assert (tap.subsidy_cents, tap.due_cents, tap.discount_pct) == (1020, 1530, 40)
        assert tap.rule == "一般住户：材料费减免 40%"

    def test_visit_fee_is_waived_only_by_the_rule(self) -> None:
        policy = PricingPolicy(
            visit_fee_cents=800, rules={C.GENERAL: CareRule(labor_discount_pct=100, waive_visit_fee=False)}
        )
        visit = quote(policy, C.GENERAL, [], []).lines[0]
        assert (visit.kind, visit.quantity, visit.unit) == (LineKind.VISIT_FEE, 1, "次")
        assert (visit.discount_pct, visit.subsidy_cents, visit.due_cents) == (0, 0, 800)

    def test_nothing_to_price_gives_an_empty_quote(self) -> None:
        q = quote(PricingPolicy(), C.LIVING_ALONE, [], [])
        assert q.lines == ()
        assert (q.list_total_cents, q.subsidy_cents, q.due_cents, q.market_total_cents) == (0, 0, 0, 0)


class TestCustomPolicy:
    def test_a_different_percentage_in_the_policy_changes_the_numbers(self) -> None:
        base = _policy_with_visit_fee()
        custom = replace(base, rules={**base.rules, C.EMPTY_NEST: CareRule(labor_discount_pct=30)})
        faucet, socket, tap, visit = quote(custom, C.EMPTY_NEST, [FAUCET, SOCKET], [TAP]).lines
        assert (faucet.subsidy_cents, faucet.due_cents, faucet.rule) == (
            1800,
            4200,
            "空巢老人：人工费减免 30%",
        )
        assert (socket.subsidy_cents, socket.due_cents) == (100, 233)  # 99.9 fen rounds to 100
        assert (tap.subsidy_cents, tap.due_cents) == (0, 2550)
        assert (visit.subsidy_cents, visit.due_cents, visit.rule) == (0, 1000, "上门费")  # no longer waived
        # The other categories keep their rules.
        assert quote(custom, C.DISABLED, [FAUCET]).lines[0].subsidy_cents == 3000

    def test_a_rule_given_in_settings_is_used_without_code_changes(self) -> None:
        settings = _settings(visit_fee_cents=500, care_rules={"empty_nest": {"labor_discount_pct": 30}})
        policy = default_policy(settings)
        q = quote(policy, C.EMPTY_NEST, [FAUCET], [])
        assert [(ln.subsidy_cents, ln.due_cents) for ln in q.lines] == [(1800, 4200), (0, 500)]
        # Settings replace the whole rule set: a category left out pays the list price.
        assert quote(policy, C.LIVING_ALONE, [FAUCET]).due_cents == 6000 + 500


class TestRounding:
    @pytest.mark.parametrize(
        ("amount", "pct", "expected"),
        [
            (333, 50, 167),  # 166.5 → 167
            (1, 50, 1),  # 0.5 → 1
            (3, 50, 2),  # 1.5 → 2
            (10, 5, 1),  # 0.5 → 1
            (9, 5, 0),  # 0.45 → 0
            (333, 30, 100),  # 99.9 → 100
            (1, 49, 0),  # 0.49 → 0
            (12345, 0, 0),
            (12345, 100, 12345),
            (0, 100, 0),
        ],
    )
    def test_percent_of_rounds_half_up_to_the_fen(self, amount: int, pct: int, expected: int) -> None:
        assert percent_of(amount, pct) == expected

    @pytest.mark.parametrize("pct", range(0, 101))
    def test_subsidy_and_due_always_add_up_to_the_list_amount(self, pct: int) -> None:
        policy = PricingPolicy(
            rules={C.GENERAL: CareRule(labor_discount_pct=pct, materials_discount_pct=pct)}
        )
        odd = MaterialLine(name="胶带", unit="卷", unit_cost_cents=7, quantity=3)
        for line in quote(policy, C.GENERAL, [FAUCET, SOCKET], [TAP, odd]).lines:
            assert line.subsidy_cents + line.due_cents == line.list_amount_cents
            assert 0 <= line.subsidy_cents <= line.list_amount_cents
            assert line.subsidy_cents == percent_of(line.list_amount_cents, pct)


class TestCareRule:
    @pytest.mark.parametrize("pct", [-1, 101, 1000, -100])
    @pytest.mark.parametrize("field", ["labor_discount_pct", "materials_discount_pct"])
    def test_rejects_a_percentage_outside_0_to_100(self, field: str, pct: int) -> None:
        with pytest.raises(ValueError, match="0 to 100"):
            CareRule(**{field: pct})  # type: ignore[arg-type]

    @pytest.mark.parametrize("pct", [0, 1, 50, 99, 100])
    def test_accepts_percentages_from_0_to_100(self, pct: int) -> None:
        rule = CareRule(labor_discount_pct=pct, materials_discount_pct=pct)
        assert (rule.labor_discount_pct, rule.materials_discount_pct) == (pct, pct)

    def test_settings_reject_a_percentage_outside_0_to_100(self) -> None:
        with pytest.raises(ValueError):
            _settings(care_rules={"empty_nest": {"labor_discount_pct": 101}})
