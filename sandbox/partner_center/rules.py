"""NCE date and money arithmetic the sandbox applies (pure functions).

Sources on Microsoft Learn:
- the 7-day cancellation and seat-reduction window: Manage customer subscriptions
  (https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription) and the new commerce
  cancellation policy (https://learn.microsoft.com/en-us/partner-center/customers/new-commerce-cancellation-policy);
- the inclusive term end and renewal from 00:00 UTC the following day: Schedule changes
  (https://learn.microsoft.com/en-us/partner-center/developer/create-scheduled-changes);
- coterminosity with calendar-month or subscription-aligned end dates: Align subscription
  end dates (https://learn.microsoft.com/en-us/partner-center/customers/align-subscription-end-dates);
- the seat-based subtotal ROUNDDOWN(effectiveUnitPrice x PCToBCExchangeRate, 2) x quantity
  (https://learn.microsoft.com/en-us/partner-center/billing/modern-invoice-reconciliation-file), with an exchange
  rate of 1 because the sandbox bills in its pricing currency.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

CANCELLATION_WINDOW = timedelta(days=7)
CENT = Decimal("0.01")


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the month's last day (Jan 31 + 1 -> Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_end(start: date, months: int) -> date:
    """The inclusive last day of a term starting on `start` (2026-01-14 P1Y -> 2027-01-13)."""
    return add_months(start, months) - timedelta(days=1)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def renewal_instant(commitment_end: date) -> datetime:
    """Renewals are processed from 00:00 UTC on the day after the inclusive end date."""
    return day_start(commitment_end + timedelta(days=1))


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def calendar_aligned_end(natural_end: date) -> date:
    """The calendar-month-aligned end of a term: the natural end when it already falls on a
    month end, else the last day of the month before (Align subscription end dates' example: an annual term
    bought 2023-02-04 may end 2024-01-31)."""
    if natural_end == month_end(natural_end):
        return natural_end
    return natural_end.replace(day=1) - timedelta(days=1)


def prorate(price_per_cycle: Decimal, cycle_days: int, charged_days: int) -> Decimal:
    """The share of a cycle's unit price for `charged_days` of a `cycle_days` cycle."""
    charged = max(0, min(charged_days, cycle_days))
    return (price_per_cycle * charged / cycle_days).quantize(Decimal("0.0001"))


def subtotal(effective_unit_price: Decimal, quantity: int) -> Decimal:
    return effective_unit_price.quantize(CENT, rounding=ROUND_DOWN) * quantity


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
