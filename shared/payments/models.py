"""What the payments adapter returns: typed, validated values, never raw StripeObjects.

Amounts are integer minor units; currencies are ISO 4217 upper case (Stripe sends lower case);
times are UTC-aware datetimes (Stripe sends Unix seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from shared.models.money import Money
from shared.policy.dunning import DeclineClass, classify_decline


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _utc(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return value


def expandable_id(value: Any) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value["id"])
    return str(value.id)


Currency = Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z]{3}$")]
Timestamp = Annotated[datetime, BeforeValidator(_utc)]
MinorUnits = StrictInt  # 12.0 or "12" is a bug upstream, not an amount to round or parse


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Customer(_Model):
    id: str
    partner_customer_id: str | None
    name: str | None
    email: str | None
    default_payment_method_id: str | None
    balance: MinorUnits
    metadata: dict[str, str]


class Card(_Model):
    payment_method_id: str
    customer_id: str | None
    brand: str
    last4: str
    exp_month: int = Field(ge=1, le=12)
    exp_year: int
    is_default: bool = False

    def expires_before(self, when: datetime) -> bool:
        """True when the card is no longer valid at `when` (valid through its expiry month)."""
        return (when.year, when.month) > (self.exp_year, self.exp_month)


class Decline(_Model):
    code: str | None
    decline_code: str | None
    advice_code: str | None = None
    message: str
    decline_class: DeclineClass
    charge_id: str | None = None
    payment_intent_id: str | None = None
    payment_method_id: str | None = None  # the card that was declined

    @classmethod
    def from_error(cls, error: dict[str, Any]) -> Decline:
        """From Stripe's `error` object or a PaymentIntent's `last_payment_error`."""
        pi = error.get("payment_intent")
        return cls(
            code=error.get("code"),
            decline_code=error.get("decline_code"),
            advice_code=error.get("advice_code"),
            message=error.get("message") or "The payment was declined.",
            decline_class=classify_decline(
                error.get("decline_code"), error.get("code"), error.get("advice_code")
            ),
            charge_id=error.get("charge"),
            payment_intent_id=pi.get("id") if isinstance(pi, dict) else pi,
            payment_method_id=expandable_id(error.get("payment_method")),
        )


class AttachOutcome(_Model):
    """A card saved for the customer, or the decline that refused it."""

    card: Card | None
    decline: Decline | None

    @property
    def ok(self) -> bool:
        return self.card is not None


class CardUpdateLink(_Model):
    """A hosted page (Stripe Checkout, setup mode) where the customer saves a new card."""

    session_id: str
    url: str
    expires_at: Timestamp


InvoiceStatus = Literal["draft", "open", "paid", "uncollectible", "void"]


class Invoice(_Model):
    id: str
    customer_id: str
    status: InvoiceStatus
    number: str | None
    currency: Currency
    total: MinorUnits
    amount_due: MinorUnits
    amount_paid: MinorUnits
    amount_remaining: MinorUnits
    # Whether any payment attempt was made. Stripe's `attempt_count` is left out on purpose:
    # it counts for Stripe's retry schedule (manual attempts after the first do not raise it),
    # so it is no count of cspflow's attempts; `PaymentOutcome.attempts` is.
    attempted: bool
    next_payment_attempt: Timestamp | None
    hosted_invoice_url: str | None
    created: Timestamp
    metadata: dict[str, str]
    # When an invoice on invoice terms (`send_invoice`) is due; None for a charged one.
    due_date: Timestamp | None = None


class InvoiceItem(_Model):
    id: str
    customer_id: str
    invoice_id: str | None
    amount: MinorUnits
    currency: Currency
    description: str | None


class PaymentOutcome(_Model):
    """The result of asking Stripe to collect an invoice: paid, or declined with its class.

    `attempts`: every payment attempt made on the invoice so far, this one included (cspflow's
    and any of Stripe's), counted from the charges of its PaymentIntents."""

    invoice: Invoice
    decline: Decline | None
    payment_intent_id: str | None
    attempts: int = Field(ge=0)

    @property
    def paid(self) -> bool:
        return self.invoice.status == "paid"


class ChargeLine(_Model):
    """One line of a one-off charge (a prorated seat change, say), in minor units of the
    charge's currency. Built from Money (`ChargeLine.of`) it carries its currency, and a charge
    in another currency is refused."""

    amount: MinorUnits
    description: str = Field(min_length=1, max_length=500)
    period_start: datetime | None = None
    period_end: datetime | None = None
    currency: Currency | None = None

    @classmethod
    def of(
        cls,
        money: Money,
        description: str,
        period: tuple[datetime, datetime] | None = None,
    ) -> ChargeLine:
        start, end = period if period is not None else (None, None)
        return cls(
            amount=money.amount_minor,
            description=description,
            period_start=start,
            period_end=end,
            currency=money.currency,
        )


class CreditNote(_Model):
    id: str
    invoice_id: str
    number: str
    amount: MinorUnits
    currency: Currency
    type: Literal["pre_payment", "post_payment", "mixed"]
    refund_ids: tuple[str, ...]


class Refund(_Model):
    id: str
    amount: MinorUnits
    currency: Currency
    payment_intent_id: str | None
    charge_id: str | None
    status: str


class IssueLine(_Model):
    """One line of an invoice cspflow issues (`StripePayments.issue_invoice`)."""

    amount: MinorUnits
    description: str
    period_start: datetime
    period_end: datetime
    tax_rate_ids: tuple[str, ...] = ()
    metadata: dict[str, str] = Field(default_factory=dict)
