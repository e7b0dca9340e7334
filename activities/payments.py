"""Payments in Stripe, for every workflow: one side effect each, one typed input each.

- `set_up_stripe_customer`: the customer's Stripe customer (cspflow's customer id in its
  metadata, `shared.payments.client.PARTNER_CUSTOMER_KEY`), created once per step key, with
  the storefront's card saved as `attach_card` does when the input names one.
- `attach_card`: a PaymentMethod from the storefront's card form saved and made the
  invoices' default; a card Stripe refuses comes back as its decline (a value, not a failure).
- `create_card_setup_link`: a hosted page (Checkout in setup mode) where the customer saves a
  card; `complete_card_setup` makes the card it saved the default.
- `charge_lines`: a set of lines invoiced as one invoice and collected at once (a decline is a
  value, with Stripe's codes and its dunning class), or, for a customer on invoice terms
  (`days_until_due`), finalized and sent.
- `credit_invoice`: a credit note on an invoice, refunding the card when it is paid.
- `refund_payment`: all or part of a payment refunded.
- `void_invoice`: an open invoice nobody will pay (a declined first invoice) voided.
- `read_invoice`: an invoice as Stripe has it now (a read; nothing written).

Every write derives its Stripe `Idempotency-Key`s from the input's `step_key`
(`shared/payments/idempotency.py`), one per operation within the step, so a retried or
replayed step (or a restarted host) gets Stripe's first answer back instead of charging,
refunding or saving twice (https://docs.stripe.com/api/idempotent_requests).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import azure.durable_functions as df
from pydantic import Field, model_validator

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import DomainModel, Money
from shared.models._base import UtcDateTime
from shared.models.money import CurrencyCode
from shared.payments import StripePayments
from shared.payments.models import Card, ChargeLine, Decline, Invoice, PaymentOutcome

bp = df.Blueprint()


def _stripe(settings: Settings) -> StripePayments:
    return per_settings("stripe", settings, StripePayments.from_settings)


# models ----------------------------------------------------------------------------------
class PaymentLine(DomainModel):
    """One line of a charge: what it is for, its amount, the period it pays for, and the
    caller's reference (a catalog item, a subscription), kept in the line's metadata."""

    reference: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=500)
    amount: Money
    period_start: UtcDateTime | None = None
    period_end: UtcDateTime | None = None

    @model_validator(mode="after")
    def _period(self) -> PaymentLine:
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("a period has a start and an end, or neither")
        if self.period_start and self.period_end and self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if self.amount.is_negative():
            raise ValueError("a charged line is not negative (credit with credit_invoice)")
        return self


class SetUpStripeCustomer(WriteInput):
    """Create the Stripe customer of cspflow's customer `customer_id`, and with
    `payment_method_id` save that card for it as the invoices' default (as `attach_card`)."""

    customer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    email: str | None = Field(default=None, max_length=512)
    metadata: dict[str, str] = Field(default_factory=dict)
    payment_method_id: str | None = Field(default=None, min_length=3, max_length=255)


class StripeCustomerSet(DomainModel):
    """The Stripe customer; with a card asked for, the card saved or the decline that
    refused it (the customer exists either way)."""

    stripe_customer_id: str
    card: Card | None = None
    decline: Decline | None = None


class AttachCard(WriteInput):
    """Save `payment_method_id` for the Stripe customer and make it the invoices' default."""

    stripe_customer_id: str = Field(pattern=r"^cus_[A-Za-z0-9]+$")
    payment_method_id: str = Field(min_length=3, max_length=255)


class CardOutcome(DomainModel):
    """A card saved (and the default), or the decline that refused it."""

    card: Card | None = None
    decline: Decline | None = None

    @property
    def ok(self) -> bool:
        return self.card is not None


class CreateCardSetupLink(WriteInput):
    """A hosted page where the customer saves a card; `metadata` comes back on the
    `checkout.session.completed` event (route it with it)."""

    stripe_customer_id: str = Field(pattern=r"^cus_[A-Za-z0-9]+$")
    success_url: str = Field(min_length=1, max_length=2000)
    metadata: dict[str, str] = Field(default_factory=dict)


class CardSetupLink(DomainModel):
    session_id: str
    url: str
    expires_at: UtcDateTime


class CompleteCardSetup(WriteInput):
    """Make the card a completed card setup saved the customer's default: the SetupIntent's,
    or the one a card-setup link's Checkout session made."""

    setup_intent_id: str | None = Field(default=None, pattern=r"^seti_[A-Za-z0-9_]+$")
    checkout_session_id: str | None = Field(default=None, pattern=r"^cs_[A-Za-z0-9_]+$")

    @model_validator(mode="after")
    def _one(self) -> CompleteCardSetup:
        if (self.setup_intent_id is None) == (self.checkout_session_id is None):
            raise ValueError("give setup_intent_id or checkout_session_id")
        return self


class CardSetupNotDone(PermanentError):
    """The card-setup link's page has not saved a card."""

    code = "card_setup_not_done"


class ChargeLines(WriteInput):
    """Invoice `lines` to the Stripe customer as one invoice, then collect it now from the
    default card, or (with `days_until_due`, a customer on invoice terms) send it."""

    stripe_customer_id: str = Field(pattern=r"^cus_[A-Za-z0-9]+$")
    currency: CurrencyCode
    lines: tuple[PaymentLine, ...] = Field(min_length=1, max_length=250)
    description: str = Field(min_length=1, max_length=500)
    metadata: dict[str, str] = Field(default_factory=dict)
    days_until_due: int | None = Field(default=None, ge=0, le=365)

    @model_validator(mode="after")
    def _one_currency(self) -> ChargeLines:
        others = {line.amount.currency for line in self.lines} - {self.currency}
        if others:
            raise ValueError(f"every line is in {self.currency}, not {sorted(others)}")
        return self


ChargeStatus = Literal["paid", "declined", "sent"]


class Charged(DomainModel):
    """What the charge came to: the invoice, paid / declined (with why) / sent."""

    status: ChargeStatus
    invoice: Invoice
    decline: Decline | None = None
    payment_intent_id: str | None = None
    attempts: int = Field(default=0, ge=0)

    @property
    def amount_paid(self) -> Money:
        return Money(amount_minor=self.invoice.amount_paid, currency=self.invoice.currency)


class CreditInvoice(WriteInput):
    """A credit note of `amount` on the invoice; on a paid invoice it refunds the card
    (`refund`) or credits the customer's balance."""

    invoice_id: str = Field(pattern=r"^in_[A-Za-z0-9]+$")
    amount: Money
    description: str = Field(min_length=1, max_length=500)
    reason: Literal["order_change", "duplicate", "product_unsatisfactory"] = "order_change"
    refund: bool = True

    @model_validator(mode="after")
    def _positive(self) -> CreditInvoice:
        if self.amount.amount_minor <= 0:
            raise ValueError("a credit is a positive amount")
        return self


class Credited(DomainModel):
    credit_note_id: str
    number: str
    amount: Money
    type: Literal["pre_payment", "post_payment", "mixed"]
    refund_ids: tuple[str, ...] = ()


class RefundPayment(WriteInput):
    """Refund a payment: all of it, or `amount`."""

    payment_intent_id: str = Field(pattern=r"^pi_[A-Za-z0-9]+$")
    amount: Money | None = None


class Refunded(DomainModel):
    refund_id: str
    amount: Money
    status: str


class VoidInvoice(WriteInput):
    invoice_id: str = Field(pattern=r"^in_[A-Za-z0-9]+$")


class ReadInvoice(DomainModel):
    invoice_id: str = Field(pattern=r"^in_[A-Za-z0-9]+$")


# activities ------------------------------------------------------------------------------
@activity(bp)
def set_up_stripe_customer(request: SetUpStripeCustomer, ctx: ActivityContext) -> StripeCustomerSet:
    """The customer's Stripe customer, linked to cspflow's customer by metadata; and the
    card, when asked, saved in the same step (one wait for the workflow instead of two). A
    retry after the create gets the same customer back (its idempotency key) and saves the
    card once."""
    stripe = _stripe(ctx.settings)
    customer = stripe.create_customer(
        request.step_key,
        partner_customer_id=request.customer_id,
        name=request.name,
        email=request.email,
        metadata=request.metadata,
    )
    if request.payment_method_id is None:
        return StripeCustomerSet(stripe_customer_id=customer.id)
    saved = stripe.attach_payment_method(request.step_key, customer.id, request.payment_method_id)
    return StripeCustomerSet(stripe_customer_id=customer.id, card=saved.card, decline=saved.decline)


@activity(bp)
def attach_card(request: AttachCard, ctx: ActivityContext) -> CardOutcome:
    """Save the card and make it the default for invoices; a refused card is its decline."""
    outcome = _stripe(ctx.settings).attach_payment_method(
        request.step_key, request.stripe_customer_id, request.payment_method_id
    )
    return CardOutcome(card=outcome.card, decline=outcome.decline)


@activity(bp)
def create_card_setup_link(request: CreateCardSetupLink, ctx: ActivityContext) -> CardSetupLink:
    link = _stripe(ctx.settings).card_update_link(
        request.step_key,
        request.stripe_customer_id,
        success_url=request.success_url,
        metadata=request.metadata,
    )
    return CardSetupLink(session_id=link.session_id, url=link.url, expires_at=link.expires_at)


@activity(bp)
def complete_card_setup(request: CompleteCardSetup, ctx: ActivityContext) -> CardOutcome:
    stripe = _stripe(ctx.settings)
    seti = request.setup_intent_id
    if seti is None and request.checkout_session_id is not None:
        seti = stripe.setup_intent_of_session(request.checkout_session_id)
    if seti is None:
        raise CardSetupNotDone(f"checkout session {request.checkout_session_id} saved no card")
    card = stripe.complete_card_update(request.step_key, seti)
    return CardOutcome(card=card)


@activity(bp)
def charge_lines(request: ChargeLines, ctx: ActivityContext) -> Charged:
    """One invoice of the lines, collected now (or sent, on invoice terms). Each Stripe write
    has its own key derived from the step's, so a retry resumes where the last one stopped."""
    stripe = _stripe(ctx.settings)
    if request.days_until_due is None:
        paid = stripe.charge_now(
            request.step_key,
            request.stripe_customer_id,
            currency=request.currency,
            lines=[_charge_line(line) for line in request.lines],
            description=request.description,
            metadata=request.metadata,
        )
        return _charged(paid)
    invoice = stripe.create_invoice(
        request.step_key,
        request.stripe_customer_id,
        currency=request.currency,
        description=request.description,
        metadata=request.metadata,
        days_until_due=request.days_until_due,
    )
    for i, line in enumerate(request.lines):
        stripe.add_invoice_item(
            request.step_key,
            request.stripe_customer_id,
            invoice_id=invoice.id,
            amount=line.amount,
            description=line.description,
            period=_period(line),
            metadata={**request.metadata, "reference": line.reference},
            operation=f"invoiceitem.create.{i}",
        )
    sent = stripe.send_invoice(request.step_key, invoice.id)
    return Charged(status="sent", invoice=sent)


@activity(bp)
def credit_invoice(request: CreditInvoice, ctx: ActivityContext) -> Credited:
    note = _stripe(ctx.settings).credit_invoice(
        request.step_key,
        request.invoice_id,
        amount=request.amount,
        description=request.description,
        reason=request.reason,
        refund=request.refund,
    )
    return Credited(
        credit_note_id=note.id,
        number=note.number,
        amount=Money(amount_minor=note.amount, currency=note.currency),
        type=note.type,
        refund_ids=note.refund_ids,
    )


@activity(bp)
def refund_payment(request: RefundPayment, ctx: ActivityContext) -> Refunded:
    refund = _stripe(ctx.settings).refund_payment(
        request.step_key, request.payment_intent_id, amount=request.amount
    )
    return Refunded(
        refund_id=refund.id,
        amount=Money(amount_minor=refund.amount, currency=refund.currency),
        status=refund.status,
    )


@activity(bp)
def void_invoice(request: VoidInvoice, ctx: ActivityContext) -> Invoice:
    """Void an open invoice (https://docs.stripe.com/api/invoices/void); one already void is
    the answer again."""
    stripe = _stripe(ctx.settings)
    current = stripe.get_invoice(request.invoice_id)
    if current.status == "void":
        return current
    return stripe.void_invoice(request.step_key, request.invoice_id)


@activity(bp)
def read_invoice(request: ReadInvoice, ctx: ActivityContext) -> Invoice:
    return _stripe(ctx.settings).get_invoice(request.invoice_id)


# helpers ---------------------------------------------------------------------------------
def _period(line: PaymentLine) -> tuple[datetime, datetime] | None:
    if line.period_start is None or line.period_end is None:
        return None
    return (line.period_start, line.period_end)


def _charge_line(line: PaymentLine) -> ChargeLine:
    return ChargeLine.of(line.amount, line.description, _period(line))


def _charged(outcome: PaymentOutcome) -> Charged:
    return Charged(
        status="paid" if outcome.paid else "declined",
        invoice=outcome.invoice,
        decline=outcome.decline,
        payment_intent_id=outcome.payment_intent_id,
        attempts=outcome.attempts,
    )
