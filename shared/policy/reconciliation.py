"""Reconciliation: every line Microsoft billed the partner matched to what cspflow billed its
customer, and classified (docs/rules.md#reconciliation). Pure: lines in, lines out.

What cspflow billed is the billing run's invoice lines and the charges and credits it made
outside the run (an order's first period, seats added or removed, a cancellation's refund, an
upgrade's price difference: the book's `Charges`). A Microsoft line is matched to a billed line
of the same customer, subscription, charge kind (`CHARGE_KINDS`: Microsoft's charge types as
cspflow names them) and service period start; then, for a charge:

- same quantity, billed at or above Microsoft's cost with a markup: `matched`;
- billed for fewer seats, or not at all: `missed_billing`, the leakage priced at the
  customer's sell price for the seats not billed, prorated as Microsoft prorated the charge
  (its effective over its list unit price);
- billed for more seats (or a credit not passed on): `over_billing`, by how much;
- the same seats sold below Microsoft's cost, or at cost (the markup missing): `price_anomaly`;
- for a credit (seats removed, a cancellation): the same seats credited, `matched`; fewer
  (or none), `over_billing` (the customer paid for seats Microsoft refunded); more,
  `missed_billing` (the customer was refunded seats Microsoft still charges);
- an upgrade is one charge of the price difference on cspflow's side and two lines on
  Microsoft's (the old offer's seats credited, `removeQuantity`, and the new offer's charged,
  `convert`, on the new subscription for a partial upgrade): the convert line is matched to
  the charge, the credit line to the same upgrade as its other half;
- a Microsoft line for a customer the book does not know: `unmatched_microsoft`;
- a line cspflow billed that Microsoft charged nothing for: `unmatched_cspflow`.

Amounts are Money, compared exactly; each line is counted once, and the billing accuracy is
matched lines over all lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from shared.models.billing import ChargeKind
from shared.models.money import Money
from shared.models.reconciliation import (
    CLASSIFICATIONS,
    BilledLine,
    CustomerLeakage,
    MicrosoftLine,
    ReconciledLine,
)

# Microsoft's charge types (https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types)
# and the kind of invoice line cspflow bills for each.
CHARGE_KINDS: dict[str, ChargeKind] = {
    "new": "new",
    "renew": "renew",
    "cyclecharge": "cycle",
    "addquantity": "add_quantity",
    "removequantity": "remove_quantity",
    "cancelimmediate": "cancel",
    "cancel": "cancel",
    "refund": "cancel",
    "convert": "upgrade",
    "changebillingplan": "upgrade",
}
CREDITS = frozenset({"remove_quantity", "cancel"})
# Kinds whose amount is not seats at a price (an upgrade's difference, a credit): no price
# check against Microsoft's cost.
NOT_PRICED = CREDITS | {"upgrade"}


def charge_kind(charge_type: str) -> ChargeKind | None:
    return CHARGE_KINDS.get(charge_type.replace("_", "").replace(" ", "").lower())


def _ratio(line: MicrosoftLine) -> Fraction:
    """How much of a whole period Microsoft charged: its effective over its list unit price
    (1 for a whole period; a prorated seat change less)."""
    if line.unit_price == 0:
        return Fraction(1)
    return abs(Fraction(line.effective_unit_price) / Fraction(line.unit_price))


def reconcile(
    period: str,
    microsoft: Sequence[MicrosoftLine],
    billed: Sequence[BilledLine],
    sell_prices: Mapping[str, Money],
) -> list[ReconciledLine]:
    """Every Microsoft line classified, then every billed line nothing matched.
    `sell_prices`: each subscription's sell price per seat per billing period (the book's),
    which prices the leakage of a line nobody billed."""
    pool: dict[tuple[str, str, str, object], list[BilledLine]] = {}
    # Each upgrade by its source subscription: the other half of Microsoft's two lines.
    upgrades: dict[tuple[str, str, object], list[BilledLine]] = {}
    for line in billed:
        if line.kind == "tax":
            continue
        sub = line.to_subscription_id or line.subscription_id
        key = (line.customer_id, sub, line.kind, line.period_start)
        pool.setdefault(key, []).append(line)
        if line.kind == "upgrade":
            upgrades.setdefault(
                (line.customer_id, line.subscription_id, line.period_start), []
            ).append(line)
    out: list[ReconciledLine] = []
    for ms in sorted(microsoft, key=lambda m: m.line_no):
        out.append(_classify(period, ms, pool, upgrades, sell_prices))
    next_no = max((m.line_no for m in microsoft), default=-1) + 1
    left = sorted(
        (line for lines in pool.values() for line in lines),
        key=lambda b: (b.customer_id, b.subscription_id, b.period_start, b.kind),
    )
    for n, line in enumerate(left):
        out.append(
            ReconciledLine(
                period=period,
                line_no=next_no + n,
                classification="unmatched_cspflow",
                reason="billed to the customer; Microsoft charged nothing for it",
                customer_id=line.customer_id,
                subscription_id=line.subscription_id,
                charge_type=line.kind,
                service_start=line.period_start,
                service_end=line.period_end - timedelta(days=1),
                invoice_id=line.invoice_id,
                billed_quantity=line.quantity,
                billed_amount=line.amount,
            )
        )
    return out


def _classify(
    period: str,
    ms: MicrosoftLine,
    pool: dict[tuple[str, str, str, object], list[BilledLine]],
    upgrades: dict[tuple[str, str, object], list[BilledLine]],
    sell_prices: Mapping[str, Money],
) -> ReconciledLine:
    base = ReconciledLine(
        period=period,
        line_no=ms.line_no,
        classification="matched",
        customer_id=ms.customer_id,
        tenant_id=ms.tenant_id,
        subscription_id=ms.subscription_id,
        charge_type=ms.charge_type,
        service_start=ms.charge_start,
        service_end=ms.charge_end,
        microsoft_quantity=ms.quantity,
        microsoft_amount=ms.subtotal,
    )
    kind = charge_kind(ms.charge_type)
    if ms.customer_id is None:
        return base.model_copy(
            update={
                "classification": "unmatched_microsoft",
                "reason": f"customer tenant {ms.tenant_id} is not in the book",
            }
        )
    if kind is None:
        return base.model_copy(
            update={
                "classification": "unmatched_microsoft",
                "reason": f"charge type {ms.charge_type!r} is not one cspflow bills",
            }
        )
    candidates = pool.get((ms.customer_id, ms.subscription_id, kind, ms.charge_start), [])
    found = candidates.pop(0) if candidates else None
    seats = abs(ms.quantity)
    if found is None and kind == "remove_quantity":
        halves = upgrades.get((ms.customer_id, ms.subscription_id, ms.charge_start), [])
        upgrade = next((u for u in halves if u.quantity == seats), None)
        if upgrade is not None:
            halves.remove(upgrade)
            return base.model_copy(
                update={
                    "invoice_id": upgrade.invoice_id,
                    "billed_quantity": upgrade.quantity,
                    "reason": "the old offer's seats credited by an upgrade billed as its "
                    "price difference",
                }
            )
    if found is None:
        if kind in CREDITS:
            return base.model_copy(
                update={
                    "classification": "over_billing",
                    "reason": "Microsoft credited the partner; the customer was not credited",
                }
            )
        price = sell_prices.get(ms.subscription_id)
        leakage = (price * seats).scaled(_ratio(ms)) if price is not None else None
        reason = "Microsoft charged the partner; the customer was not billed"
        return base.model_copy(
            update={
                "classification": "missed_billing",
                "reason": reason if leakage else f"{reason} (no sell price to value it)",
                "leakage": leakage,
            }
        )
    base = base.model_copy(
        update={
            "invoice_id": found.invoice_id,
            "billed_quantity": found.quantity,
            "billed_amount": found.amount,
        }
    )
    unit = found.unit_price
    if kind in CREDITS:
        return _credit(base, found, seats)
    if found.quantity < seats:
        missing = seats - found.quantity
        return base.model_copy(
            update={
                "classification": "missed_billing",
                "reason": f"{missing} seat(s) charged by Microsoft were not billed",
                # the billed unit price is for the days Microsoft charged too
                "leakage": unit * missing,
            }
        )
    if found.quantity > seats:
        extra = found.quantity - seats
        return base.model_copy(
            update={
                "classification": "over_billing",
                "reason": f"the customer was billed {extra} seat(s) more than Microsoft charged",
                "over_billed": unit * extra,
            }
        )
    cost = ms.unit_cost or found.unit_cost
    if kind in NOT_PRICED or cost is None:
        return base
    if _ratio(ms) != 1:
        # a part of a period (seats added mid-cycle, a coterminous first period): the
        # subscription's price for a whole period against the cost of one
        whole = sell_prices.get(ms.subscription_id)
        if whole is None:
            return base
        unit = whole
    if cost.currency == unit.currency and unit <= cost:
        reason = (
            f"sold at {unit}, below Microsoft's cost {cost}"
            if unit < cost
            else f"sold at Microsoft's cost {cost}: no markup"
        )
        return base.model_copy(update={"classification": "price_anomaly", "reason": reason})
    return base


def _credit(base: ReconciledLine, found: BilledLine, seats: int) -> ReconciledLine:
    """A credit Microsoft gave the partner against the credit cspflow gave the customer."""
    unit = -found.unit_price
    if found.quantity < seats:
        short = seats - found.quantity
        return base.model_copy(
            update={
                "classification": "over_billing",
                "reason": f"Microsoft credited {short} seat(s) more than the customer was",
                "over_billed": unit * short,
            }
        )
    if found.quantity > seats:
        extra = found.quantity - seats
        return base.model_copy(
            update={
                "classification": "missed_billing",
                "reason": f"the customer was credited {extra} seat(s) Microsoft did not credit",
                "leakage": unit * extra,
            }
        )
    return base


def accuracy(lines: Sequence[ReconciledLine]) -> Decimal:
    """Matched lines over all lines, to four decimals (1 when there are none)."""
    if not lines:
        return Decimal(1)
    matched = sum(line.classification == "matched" for line in lines)
    return (Decimal(matched) / Decimal(len(lines))).quantize(Decimal("0.0001"))


def counts(lines: Iterable[ReconciledLine]) -> dict[str, int]:
    found: dict[str, int] = dict.fromkeys(CLASSIFICATIONS, 0)
    for line in lines:
        found[line.classification] += 1
    return found


def leakage_by_customer(lines: Iterable[ReconciledLine]) -> list[CustomerLeakage]:
    """Each customer's leakage, per currency, largest first."""
    totals: dict[tuple[str, str], Money] = {}
    for line in lines:
        if line.leakage is None or line.customer_id is None:
            continue
        key = (line.customer_id, line.leakage.currency)
        totals[key] = totals.get(key, Money.zero(line.leakage.currency)) + line.leakage
    return [
        CustomerLeakage(customer_id=customer, leakage=amount)
        for (customer, _), amount in sorted(
            totals.items(), key=lambda kv: (-kv[1].amount_minor, kv[0])
        )
    ]


def leakage_totals(lines: Iterable[ReconciledLine]) -> list[Money]:
    totals: dict[str, Money] = {}
    for line in lines:
        if line.leakage is not None:
            currency = line.leakage.currency
            totals[currency] = totals.get(currency, Money.zero(currency)) + line.leakage
    return [totals[c] for c in sorted(totals)]


def over_threshold(totals: Iterable[Money], thresholds: Mapping[str, Money]) -> list[Money]:
    """The leakage totals at or above the partner's alert threshold in their currency
    (docs/rules.md#leakage-alert); a currency without a threshold alerts on any leakage."""
    return [
        total
        for total in totals
        if not total.is_zero()
        and total >= thresholds.get(total.currency, Money.zero(total.currency))
    ]
