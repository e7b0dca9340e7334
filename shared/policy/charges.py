"""The charges cspflow makes outside the billing run, as the book records them for the
reconciliation (docs/billing.md, "Reconciliation"). Pure: what was charged in, `Charge` rows
out.

- An order's first invoice charges each line's first billing period: one `new` charge per
  subscription Partner Center created for the line, for its seats, on the order's Stripe
  invoice.
- A licence change applied with money moved: seats added (`add_quantity`, the charge's
  invoice), seats removed inside the window (`remove_quantity`, the credit note), a
  cancellation (`cancel`, the credit note), an upgrade (`upgrade`, the price difference
  charged, naming the new subscription of a partial upgrade). A credit that could not be
  issued is no charge: the customer was not credited, and the reconciliation says so.

Each charge's id comes from what made it (`order-<order>-<subscription>`,
`change-<change id>`), so recording it again is the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.models.billing import Charge, ChargeKind
from shared.models.licence_change import LicenceChange
from shared.models.onboarding import PricedLine
from shared.models.subscription import Subscription

LONGEST_PERIOD = timedelta(days=366)  # a charge pays for a billing period, a year at most


def order_charges(
    order_id: str,
    customer_id: str,
    lines: Sequence[PricedLine],
    subscriptions: Sequence[Subscription],
    *,
    stripe_invoice_id: str | None,
    charged_at: datetime,
) -> list[tuple[Charge, PricedLine]]:
    """One `new` charge per subscription an order line became, with its line: each line
    paired with a subscription of the same offer, term, billing cycle and quantity (lines
    alike taken in order). A line without its subscription (not provisioned) charges nothing
    here."""
    left = sorted(subscriptions, key=lambda s: s.id)
    out: list[tuple[Charge, PricedLine]] = []
    for priced in lines:
        line = priced.line
        sub = next(
            (
                s
                for s in left
                if s.offer_id == line.catalog_item_id
                and s.term_duration == line.term_duration
                and s.billing_cycle == line.billing_cycle
                and s.quantity == line.quantity
            ),
            None,
        )
        if sub is None:
            continue
        left.remove(sub)
        charge = Charge(
            id=f"order-{order_id}-{sub.id}"[:200],
            customer_id=customer_id,
            subscription_id=sub.id,
            kind="new",
            quantity=line.quantity,
            amount=priced.first_charge,
            period_start=priced.period_start,
            period_end=priced.period_end,
            charged_at=charged_at,
            source="order",
            reference=order_id,
            stripe_invoice_id=stripe_invoice_id,
        )
        out.append((charge, priced))
    return out


def change_charge(change: LicenceChange, term_end: datetime | None) -> Charge | None:
    """The charge or credit an applied licence change made, or None (nothing moved, or a
    credit that could not be issued). `term_end`: the subscription's, which bounds the
    period the money is for."""
    if change.status != "applied" or change.charge is None or change.effective_at is None:
        return None
    before, after = change.quantity_before, change.quantity_after
    kind: ChargeKind
    if change.kind == "upgrade":
        kind = "upgrade"
        seats = change.quantity if change.quantity is not None else before
        if change.charge.amount_minor > 0 and change.invoice_id is None:
            return None
    elif change.kind == "cancel":
        kind, seats = "cancel", before
    elif change.kind == "quantity" and change.charge.amount_minor > 0:
        kind = "add_quantity"
        seats = after - before if after is not None and before is not None else None
        if change.invoice_id is None:
            return None
    elif change.kind == "quantity" and change.charge.amount_minor < 0:
        kind = "remove_quantity"
        seats = before - after if after is not None and before is not None else None
    else:
        return None
    if kind in ("cancel", "remove_quantity") and change.credit_note_id is None:
        return None
    if seats is None or seats < 0:
        return None
    start = change.effective_at
    end = min(term_end, start + LONGEST_PERIOD) if term_end is not None else None
    return Charge(
        id=f"change-{change.id}"[:200],
        customer_id=change.customer_id,
        subscription_id=change.subscription_id,
        kind=kind,
        quantity=seats,
        amount=change.charge,
        period_start=start,
        period_end=end if end is not None and end > start else start + timedelta(days=1),
        charged_at=change.completed_at or start,
        source="licence_change",
        reference=change.id,
        stripe_invoice_id=change.invoice_id,
        stripe_credit_note_id=change.credit_note_id,
        to_subscription_id=change.new_subscription_id,
    )
