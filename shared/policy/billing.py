"""The billing run's invoice: which subscriptions bill in a period, at what price, with what
tax, collected how. Pure: the book's records in, an `InvoicePlan` out.

The rules are in docs/rules.md, section "Billing run":

- a customer is billed once per period, for its billing window: from its billing day in the
  period's month to the same day of the next month (docs/rules.md#billing-window);
- every billing period of a subscription's term that starts in the window is billed in full,
  in advance: monthly-billed terms each month, annual-billed at each anniversary, an upfront
  (triennial-billed) term once; the first period of a subscription is charged by its order
  when it is bought (docs/rules.md#billed-periods);
- the current term at the price it was sold at, a term that starts in the window (a renewal)
  at the price list in force, with the scheduled next-term changes (docs/rules.md#renewal-billing);
- mid-term changes were charged or credited when they happened and are listed, never billed
  again (docs/rules.md#mid-term-changes-listed);
- tax per line, exclusive, rounded half up once per line; tax-exempt customers none; a valid
  VAT id in another EU member state than the partner's: reverse charge, no VAT and a note
  (docs/rules.md#invoice-tax, docs/rules.md#reverse-charge);
- collected by the customer's payment terms (docs/rules.md#collection).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from shared.models.billing_run import (
    BilledKind,
    InvoicePlan,
    ListedChange,
    NotBilled,
    OfferPrice,
    PlannedLine,
    TaxTreatment,
)
from shared.models.catalog import TERM_MONTHS, BillingCycleName, TermDuration, offer_key
from shared.models.licence_change import LicenceChange
from shared.models.money import Money
from shared.models.party import Customer, TaxProfile
from shared.models.subscription import Subscription, SubscriptionRecord
from shared.policy.terms import NO_TERM_END_YEAR, Period, add_months, current_term_start

# Microsoft keeps billing a suspended subscription until it is cancelled or its term ends
# (docs/rules.md#billed-periods), so the customer is billed for it too.
BILLED_STATUSES = frozenset({"active", "suspended"})

_CYCLE_MONTHS: dict[BillingCycleName, int] = {"monthly": 1, "annual": 12, "triennial": 36}

# The member states of the European Union, by the country code of their VAT ids (Greece's is
# EL, not its ISO code GR): https://taxation-customs.ec.europa.eu/vies-vat-information-exchange-system_en
EU_VAT_PREFIXES: dict[str, str] = {
    "AT": "AT", "BE": "BE", "BG": "BG", "CY": "CY", "CZ": "CZ", "DE": "DE", "DK": "DK",
    "EE": "EE", "GR": "EL", "ES": "ES", "FI": "FI", "FR": "FR", "HR": "HR", "HU": "HU",
    "IE": "IE", "IT": "IT", "LT": "LT", "LU": "LU", "LV": "LV", "MT": "MT", "NL": "NL",
    "PL": "PL", "PT": "PT", "RO": "RO", "SE": "SE", "SI": "SI", "SK": "SK",
}  # fmt: skip

# Article 226(11a) of the VAT Directive: an invoice under the reverse charge says so.
REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient "
    "(Article 196, Council Directive 2006/112/EC)."
)


def period_of(day: date) -> str:
    """The period a day's month names: 2027-03-15 is `2027-03`."""
    return f"{day.year:04d}-{day.month:02d}"


def billing_window(period: str, billing_day: int) -> Period:
    """The days a customer billed on `billing_day` is billed for in `period`: from that day of
    the period's month to the same day of the next (docs/rules.md#billing-window)."""
    year, month = (int(part) for part in period.split("-"))
    if not 1 <= billing_day <= 28:
        raise ValueError("a billing day is 1..28, so every month has it")
    start = date(year, month, billing_day)
    return Period(start, add_months(start, 1))


@dataclass(frozen=True)
class Term:
    """One term of a subscription as billing reads it: what it sells, from when to when."""

    start: date
    end: date  # exclusive
    catalog_item_id: str
    term: TermDuration
    cycle: BillingCycleName
    quantity: int
    renewal: bool  # a term after the first
    current: bool  # the term Partner Center shows now (sold at the record's unit price)

    @property
    def offer_key(self) -> str:
        return offer_key(self.catalog_item_id, self.term, self.cycle)

    def periods(self) -> list[Period]:
        """The term's billing periods, anchored on its start (docs/rules.md#billing-periods)."""
        step = min(_CYCLE_MONTHS[self.cycle], TERM_MONTHS[self.term])
        periods: list[Period] = []
        k = 0
        while (start := add_months(self.start, k * step)) < self.end:
            periods.append(Period(start, min(add_months(self.start, (k + 1) * step), self.end)))
            k += 1
        return periods


def terms_of(sub: Subscription) -> list[Term]:
    """The current term and, when the subscription renews, the next one with its scheduled
    changes (docs/rules.md#renewal-billing)."""
    start = current_term_start(sub).date()
    end = sub.term_end.date()
    if end.year >= NO_TERM_END_YEAR:
        end = add_months(start, TERM_MONTHS[sub.term_duration])
    first = start <= sub.effective_start_date.date()
    current = Term(
        start=start,
        end=end,
        catalog_item_id=sub.offer_id,
        term=sub.term_duration,
        cycle=sub.billing_cycle,
        quantity=sub.quantity,
        renewal=not first,
        current=True,
    )
    if not sub.auto_renew_enabled or sub.term_end.date().year >= NO_TERM_END_YEAR:
        return [current]
    plan = sub.scheduled_next_term_instructions
    term = plan.product.term_duration if plan else sub.term_duration
    nxt = Term(
        start=end,
        end=add_months(end, TERM_MONTHS[term]),
        catalog_item_id=plan.product.catalog_item_id if plan else sub.offer_id,
        term=term,
        cycle=plan.product.billing_cycle if plan else sub.billing_cycle,
        quantity=plan.quantity if plan else sub.quantity,
        renewal=True,
        current=False,
    )
    return [current, nxt]


def offers_to_price(records: Iterable[SubscriptionRecord], window: Period) -> list[str]:
    """The offer keys whose list price the window's invoice may need, in order, once each."""
    keys: dict[str, None] = {}
    for record in records:
        for term in terms_of(record.subscription):
            if any(window.contains(p.start) for p in term.periods()):
                keys[term.offer_key] = None
    return list(keys)


def subscription_lines(
    record: SubscriptionRecord,
    window: Period,
    prices: Mapping[str, OfferPrice],
    tax: TaxTreatment,
    currency: str,
) -> tuple[list[PlannedLine], list[NotBilled]]:
    """The lines one subscription bills in the window, and why it bills nothing if it does
    not (docs/rules.md#billed-periods)."""
    sub = record.subscription
    if sub.is_trial:
        return [], [NotBilled(subscription_id=sub.id, reason="a trial is free")]
    if sub.status not in BILLED_STATUSES:
        return [], [NotBilled(subscription_id=sub.id, reason=f"the subscription is {sub.status}")]
    lines: list[PlannedLine] = []
    skipped: list[NotBilled] = []
    for term in terms_of(sub):
        for number, period in enumerate(term.periods()):
            if not window.contains(period.start):
                continue
            if number == 0 and not term.renewal:
                reason = f"the period from {period.start} was charged when it was bought"
                skipped.append(NotBilled(subscription_id=sub.id, reason=reason))
                continue
            listed = prices.get(term.offer_key)
            unit = record.unit_price if term.current and record.unit_price else None
            unit = unit or (listed.price if listed else None)
            if unit is None:
                reason = f"no price for {term.offer_key} in the price list in force"
                skipped.append(NotBilled(subscription_id=sub.id, reason=reason))
                continue
            if unit.currency != currency:
                reason = f"its price {unit} is not in the billing currency {currency}"
                skipped.append(NotBilled(subscription_id=sub.id, reason=reason))
                continue
            kind: BilledKind = "renew" if number == 0 else "cycle"
            amount = unit * term.quantity
            cost = listed.cost if listed else None
            name = sub.friendly_name or sub.offer_name or term.catalog_item_id
            last_day = date.fromordinal(period.end.toordinal() - 1)
            lines.append(
                PlannedLine(
                    subscription_id=sub.id,
                    offer_key=term.offer_key,
                    description=f"{name}: {term.quantity} x {unit}, {period.start} to {last_day}",
                    kind=kind,
                    quantity=term.quantity,
                    unit_price=unit,
                    amount=amount,
                    tax=line_tax(amount, tax.rate),
                    cost=cost * term.quantity if cost and cost.currency == currency else None,
                    period_start=period.start,
                    period_end=period.end,
                )
            )
    return lines, skipped


def line_tax(amount: Money, rate: Decimal) -> Money:
    """Exclusive tax on one line: the amount times the rate, rounded half up once to the
    currency's minor unit (docs/rules.md#invoice-tax)."""
    return amount.scaled(Fraction(rate), "half_up")


def tax_treatment(
    tax: TaxProfile, customer_country: str | None, partner_country: str
) -> TaxTreatment:
    """How a customer's invoice is taxed (docs/rules.md#invoice-tax, #reverse-charge)."""
    if tax.exempt:
        return TaxTreatment(kind="exempt", rate=Decimal(0), note="Tax exempt.")
    prefix = EU_VAT_PREFIXES.get(customer_country or "")
    if (
        partner_country in EU_VAT_PREFIXES
        and prefix is not None
        and customer_country != partner_country
        and tax.vat_id is not None
        and tax.vat_id_valid
        and tax.vat_id.startswith(prefix)
    ):
        note = f"{REVERSE_CHARGE_NOTE} Customer VAT id {tax.vat_id}."
        return TaxTreatment(kind="reverse_charge", rate=Decimal(0), note=note)
    if tax.rate == 0:
        return TaxTreatment(kind="untaxed", rate=Decimal(0))
    return TaxTreatment(kind="standard", rate=tax.rate)


def listed_changes(
    changes: Iterable[LicenceChange], since: date, until: date
) -> list[ListedChange]:
    """The licence changes applied in [since, until), in time order: listed on the invoice,
    never billed again (docs/rules.md#mid-term-changes-listed)."""
    applied = [
        c
        for c in changes
        if c.status == "applied"
        and c.kind != "auto_renew"  # moves no money
        and c.effective_at is not None
        and since <= c.effective_at.date() < until
    ]
    return [
        ListedChange(
            change_id=c.id,
            subscription_id=c.subscription_id,
            kind=c.kind,
            quantity_before=c.quantity_before,
            quantity_after=c.quantity_after,
            effective_at=c.effective_at,
            charge=c.charge,
        )
        for c in sorted(applied, key=lambda c: (c.effective_at, c.id))
        if c.effective_at is not None
    ]


def invoice_id(customer_id: str, period: str) -> str:
    """cspflow's id of a customer's invoice for a period: one per customer and period."""
    return f"{customer_id}-{period}"[:64]


def plan_invoice(
    customer: Customer,
    records: Sequence[SubscriptionRecord],
    prices: Mapping[str, OfferPrice],
    changes: Iterable[LicenceChange],
    *,
    period: str,
    partner_country: str,
) -> InvoicePlan:
    """The customer's invoice for `period` (docs/rules.md, "Billing run")."""
    window = billing_window(period, customer.billing_day)
    currency = customer.billing_currency
    tax = tax_treatment(customer.tax, customer.country, partner_country)
    lines: list[PlannedLine] = []
    not_billed: list[NotBilled] = []
    for record in sorted(records, key=lambda r: r.id):
        billed, skipped = subscription_lines(record, window, prices, tax, currency)
        lines += billed
        not_billed += skipped
    lines.sort(key=lambda line: (line.period_start, line.subscription_id))
    subtotal = sum((line.amount for line in lines), Money.zero(currency))
    tax_total = sum((line.tax for line in lines), Money.zero(currency))
    costs = [line.cost for line in lines]
    cost = sum((c for c in costs if c is not None), Money.zero(currency))
    known = bool(lines) and all(c is not None for c in costs)
    previous = Period(add_months(window.start, -1), window.start)
    terms = customer.payment_terms
    return InvoicePlan(
        invoice_id=invoice_id(customer.id, period),
        customer_id=customer.id,
        period=period,
        window_start=window.start,
        window_end=window.end,
        currency=currency,
        lines=tuple(lines),
        listed_changes=tuple(listed_changes(changes, previous.start, previous.end)),
        not_billed=tuple(not_billed),
        tax=tax,
        subtotal=subtotal,
        tax_total=tax_total,
        total=subtotal + tax_total,
        cost=cost if known else None,
        margin=subtotal - cost if known else None,
        collection=terms.collection,
        days_until_due=terms.net_days if terms.collection == "send_invoice" else None,
    )
