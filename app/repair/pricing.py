"""乐修匠 pricing: list prices, care-category subsidies, materials at cost, a visit fee. Pure.

Amounts are integer fen (分). Each line is priced on its own and explained: the list price,
the rule that applied, the subsidy (the value given away, booked per order for the
subdistrict) and what the resident pays. Percentages round half up to the fen.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.auth.permissions import CareCategory

CARE_LABELS: Mapping[CareCategory, str] = {
    CareCategory.LIVING_ALONE: "孤寡老人",
    CareCategory.EMPTY_NEST: "空巢老人",
    CareCategory.LOW_INCOME: "困难家庭",
    CareCategory.DISABLED: "残疾人家庭",
    CareCategory.SPECIAL_ATTENTION: "重点关注人员",
    CareCategory.MILITARY_FAMILY: "军烈属",
    CareCategory.GENERAL: "一般住户",
}


class LineKind(StrEnum):
    ITEM = "item"  # labour from the price list
    MATERIAL = "material"  # parts, charged at cost
    VISIT_FEE = "visit_fee"


@dataclass(frozen=True)
class CareRule:
    """What one care category gets off: labour, materials (percent) and the visit fee."""

    labor_discount_pct: int = 0
    materials_discount_pct: int = 0
    waive_visit_fee: bool = False

    def __post_init__(self) -> None:
        for pct in (self.labor_discount_pct, self.materials_discount_pct):
            if not 0 <= pct <= 100:
                raise ValueError("a discount is a percentage from 0 to 100")


@dataclass(frozen=True)
class PricingPolicy:
    visit_fee_cents: int = 0
    rules: Mapping[CareCategory, CareRule] = field(default_factory=dict)

    def rule_for(self, care: CareCategory | None) -> CareRule:
        return self.rules.get(care, CareRule()) if care is not None else CareRule()


@dataclass(frozen=True)
class ItemLine:
    """A price-list item as it stood when quoted (its version is kept with the order)."""

    price_item_id: uuid.UUID
    price_version: int
    name: str
    unit: str
    unit_cents: int
    market_unit_cents: int | None
    quantity: int


@dataclass(frozen=True)
class MaterialLine:
    name: str
    unit: str
    unit_cost_cents: int
    quantity: int


@dataclass(frozen=True)
class PricedLine:
    kind: LineKind
    name: str
    unit: str
    quantity: int
    list_unit_cents: int
    list_amount_cents: int
    market_amount_cents: int | None
    discount_pct: int
    subsidy_cents: int
    due_cents: int
    rule: str
    price_item_id: uuid.UUID | None = None
    price_version: int | None = None


@dataclass(frozen=True)
class Quote:
    care_category: CareCategory | None
    lines: tuple[PricedLine, ...]

    @property
    def list_total_cents(self) -> int:
        return sum(line.list_amount_cents for line in self.lines)

    @property
    def subsidy_cents(self) -> int:
        return sum(line.subsidy_cents for line in self.lines)

    @property
    def due_cents(self) -> int:
        return sum(line.due_cents for line in self.lines)

    @property
    def market_total_cents(self) -> int:
        """What the same work would cost at market prices (labour at the reference price)."""
        return sum(
            line.market_amount_cents if line.market_amount_cents is not None else line.list_amount_cents
            for line in self.lines
        )


def percent_of(amount_cents: int, pct: int) -> int:
    """pct % of an amount, rounded half up to the fen."""
    return (amount_cents * pct + 50) // 100


def _rule_text(care: CareCategory | None, what: str, pct: int) -> str:
    if pct == 0:
        return {"item": "按价目表收费", "material": "材料按进价收取", "visit_fee": "上门费"}[what]
    who = CARE_LABELS.get(care, "") if care else ""
    part = {"item": "人工费", "material": "材料费", "visit_fee": "上门费"}[what]
    return f"{who}：{part}全免" if pct == 100 else f"{who}：{part}减免 {pct}%"


def quote(
    policy: PricingPolicy,
    care: CareCategory | None,
    items: Sequence[ItemLine],
    materials: Sequence[MaterialLine] = (),
) -> Quote:
    """Price the work line by line for a household of care category `care`."""
    rule = policy.rule_for(care)
    lines: list[PricedLine] = []
    for it in items:
        amount = it.unit_cents * it.quantity
        subsidy = percent_of(amount, rule.labor_discount_pct)
        lines.append(
            PricedLine(
                kind=LineKind.ITEM,
                name=it.name,
                unit=it.unit,
                quantity=it.quantity,
                list_unit_cents=it.unit_cents,
                list_amount_cents=amount,
                market_amount_cents=None
                if it.market_unit_cents is None
                else it.market_unit_cents * it.quantity,
                discount_pct=rule.labor_discount_pct,
                subsidy_cents=subsidy,
                due_cents=amount - subsidy,
                rule=_rule_text(care, "item", rule.labor_discount_pct),
                price_item_id=it.price_item_id,
                price_version=it.price_version,
            )
        )
    for m in materials:
        amount = m.unit_cost_cents * m.quantity
        subsidy = percent_of(amount, rule.materials_discount_pct)
        lines.append(
            PricedLine(
                kind=LineKind.MATERIAL,
                name=m.name,
                unit=m.unit,
                quantity=m.quantity,
                list_unit_cents=m.unit_cost_cents,
                list_amount_cents=amount,
                market_amount_cents=None,
                discount_pct=rule.materials_discount_pct,
                subsidy_cents=subsidy,
                due_cents=amount - subsidy,
                rule=_rule_text(care, "material", rule.materials_discount_pct),
            )
        )
    if policy.visit_fee_cents > 0:
        pct = 100 if rule.waive_visit_fee else 0
        subsidy = percent_of(policy.visit_fee_cents, pct)
        lines.append(
            PricedLine(
                kind=LineKind.VISIT_FEE,
                name="上门费",
                unit="次",
                quantity=1,
                list_unit_cents=policy.visit_fee_cents,
                list_amount_cents=policy.visit_fee_cents,
                market_amount_cents=None,
                discount_pct=pct,
                subsidy_cents=subsidy,
                due_cents=policy.visit_fee_cents - subsidy,
                rule=_rule_text(care, "visit_fee", pct),
            )
        )
    return Quote(care_category=care, lines=tuple(lines))
