"""When Stripe acts on an invoice by itself, measured on the sandbox clock.

Automatic collection (https://docs.stripe.com/invoicing/integration/automatic-advancement-collection):
with `auto_advance=true` Stripe finalizes a draft about an hour after creating it and then
"does everything to drive the invoice towards payment". The sandbox makes the first attempt
`first_attempt_after` the finalization (`next_payment_attempt` says when), then retries like
Smart Retries, whose policy is "a specific number of times within a time period ... The
recommended default is 8 tries within 2 weeks"
(https://docs.stripe.com/payments/off-session-payments/smart-retries). Stripe picks each
retry's moment with a model; the sandbox spreads them evenly over the window, so a test knows
when each comes. Stripe "doesn't retry payments if ... no payment methods are available" or
"the issuer returned a hard decline code"
(https://docs.stripe.com/billing/revenue-recovery/smart-retries#non-retryable-decline-codes):
such a retry still counts (attempt_count "will continue to increment, but retries will only be
executed if a new payment method is obtained",
https://docs.stripe.com/api/invoices/object#invoice_object-attempt_count).

Reminders: `invoice.will_be_due` and `invoice.overdue` come "X number of days" before and after
a sent invoice's due date, X being set in Stripe's Automations
(https://docs.stripe.com/api/events/types#event_types-invoice.will_be_due); here they are
`will_be_due_before` and `overdue_after`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# https://docs.stripe.com/billing/revenue-recovery/smart-retries#non-retryable-decline-codes
# (decline codes, and `highest_risk_level`, the outcome reason of a Radar block).
NON_RETRYABLE = frozenset(
    {
        "authentication_required",
        "highest_risk_level",
        "incorrect_number",
        "lost_card",
        "pickup_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "stolen_card",
    }
)


@dataclass(frozen=True)
class BillingSchedule:
    finalize_after: timedelta = timedelta(hours=1)
    first_attempt_after: timedelta = timedelta(hours=1)
    retries: int = 8
    retry_window: timedelta = timedelta(weeks=2)
    will_be_due_before: timedelta = timedelta(days=7)
    overdue_after: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be 0 or more")
        if self.retries and self.retry_window <= timedelta(0):
            raise ValueError("retries need a retry window longer than zero")
        if self.will_be_due_before < timedelta(0) or self.overdue_after < timedelta(0):
            raise ValueError("reminder offsets are durations of 0 or more")

    def retry_at(self, first_failed_at: int, retry: int) -> int | None:
        """When automatic retry number `retry` (1-based) is due, for an invoice whose first
        attempt failed at `first_failed_at` (Unix seconds); None after the last one."""
        if not 1 <= retry <= self.retries:
            return None
        return first_failed_at + int(self.retry_window.total_seconds() * retry / self.retries)
