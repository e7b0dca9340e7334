"""The dunning workflow's activities: open the case, charge again, notices, Partner Center
suspension and auto-renew, write-off, close (workflows/dunning.py, docs/dunning.md).

Each reads the case's record in the book first and writes it back with what it did, so the
record, not the orchestrator's memory, is the truth a retried or replayed step meets:

- a charge carries the Idempotency-Key of its step (`<instance>/charge-<n>`), re-reads the
  invoice first and never charges one that is paid, and appends its attempt to the case only
  once (attempt `n` is recorded when the case holds fewer than `n` attempts);
- a notice goes through the notifications adapter under its step key (sent once, even by a
  host killed mid-send) and re-reads the invoice first: no reminder after a payment;
- Partner Center writes carry an `MS-RequestId` derived from the step and the subscription;
  the subscriptions suspended or turned off are kept in the record, so reactivation and
  restoring auto-renew touch exactly those.

Partner Center subscription writes are activities/subscriptions.py's (`write_suspend`,
`write_reactivate`, `write_auto_renew`, `write_cancel`: the same writes its activities make),
called here once per subscription with the request ids this module always used. A renewal
being processed (409) is waited out: the step is retried with the same request ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from activities.notifications import notifier
from activities.subscriptions import write_auto_renew, write_cancel, write_reactivate, write_suspend
from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.errors import PermanentError
from shared.models import DomainModel, KpiEvent, UtcDateTime
from shared.models.billing import PaymentAttempt
from shared.models.dunning import (
    DunningAction,
    DunningCase,
    DunningCaseRecord,
    DunningHistoryEntry,
    DunningNextStep,
)
from shared.models.money import Money
from shared.models.party import Customer
from shared.models.subscription import SubscriptionRecord
from shared.notifications import Addressee
from shared.notifications import Notice as NoticeModel
from shared.notifications.kinds import (
    AutoRenewOffUnpaid,
    CardExpiring,
    CardExpiringReminder,
    CardRef,
    InvoiceOverdue,
    PaymentFailed,
    PaymentFailureReason,
    Reactivated,
    Suspended,
    SuspensionWarning,
    WrittenOff,
)
from shared.payments import PaymentRejected, StripePayments
from shared.payments.models import Decline
from shared.payments.models import Invoice as StripeInvoice
from shared.policy.dunning import (
    DEFAULT_RULES,
    CustomerAsk,
    card_expiry_notice_due,
    card_expiry_reminder_due,
    classify_attempt,
    next_retry_at,
    next_step,
)
from shared.policy.renewal import renewal_lock_at

bp = df.Blueprint()

INVOICE_KEY = "cspflow_invoice_id"  # Stripe metadata naming cspflow's invoice (docs/intake.md)
# Stripe metadata of a card-update link: why it was sent. Event intake makes the card saved
# through a "card_expiry" link the customer's default at once (triggers/queues/routing.py).
CARD_UPDATE_KEY = "cspflow_card_update"
MAX_HISTORY = 100


class UnknownCustomer(PermanentError):
    """The invoice's Stripe customer is no customer of the book: nobody to dun."""

    code = "unknown_customer"


class OpenCase(WriteInput):
    """What `invoice.payment_failed` told the workflow (event intake's start payload)."""

    invoice_id: str = Field(min_length=1, max_length=64)  # the case's id (cspflow's invoice)
    stripe_invoice_id: str = Field(min_length=1, max_length=255)
    stripe_customer_id: str = Field(min_length=1, max_length=255)
    failed_at: UtcDateTime
    # `invoice.overdue` (invoice terms) rather than a failed payment: no decline to read.
    overdue: bool = False


class CaseStep(WriteInput):
    """A step on one case, done at `at` (the orchestrator's time)."""

    invoice_id: str = Field(min_length=1, max_length=64)
    at: UtcDateTime


class Charge(CaseStep):
    attempt: int = Field(ge=2, le=100)  # the attempt this charge is (1 was the failure)


class Refresh(CaseStep):
    reason: Literal["invoice_paid", "card_updated", "payment_failed", "check"]
    # The card a `card_updated` names: a card-update link's SetupIntent (made the default
    # here, as Stripe's guide has the merchant do), or a PaymentMethod attached.
    setup_intent_id: str | None = Field(default=None, max_length=255)
    payment_method_id: str | None = Field(default=None, max_length=255)


class Notify(CaseStep):
    number: int = Field(ge=1, le=20)  # the notice's number in the ladder
    ask: CustomerAsk = "pay"
    final: bool = False


class AutoRenew(CaseStep):
    enabled: bool


class Close(CaseStep):
    pass


# -- helpers -------------------------------------------------------------------------------


# The process's clients, shared by every activity on a worker (activities/boundary.py).
def _book(ctx: ActivityContext) -> Book:
    return per_settings("book", ctx.settings, Book)


def _stripe(ctx: ActivityContext) -> StripePayments:
    return per_settings("stripe", ctx.settings, StripePayments.from_settings)


def _planned(record: DunningCaseRecord, at: datetime) -> DunningCaseRecord:
    """The record with the ladder's next step (what GET /api/dunning/{id} shows)."""
    if record.status != "open":
        return record.model_copy(update={"next_step": None})
    step = next_step(record.case, at, DEFAULT_RULES)
    return record.model_copy(
        update={"next_step": DunningNextStep(action=step.action, at=step.at, reason=step.reason)}
    )


def _noted(
    record: DunningCaseRecord, at: datetime, action: DunningAction, detail: str
) -> DunningCaseRecord:
    entry = DunningHistoryEntry(at=at, action=action, detail=detail[:500])
    return record.model_copy(update={"history": (*record.history, entry)[-MAX_HISTORY:]})


def _update(
    book: Book,
    invoice_id: str,
    at: datetime,
    change: Callable[[DunningCaseRecord], DunningCaseRecord],
) -> DunningCaseRecord:
    return book.dunning.update(invoice_id, lambda r: _planned(change(r), at)).record


def _case(record: DunningCaseRecord, **changes: object) -> DunningCaseRecord:
    return record.model_copy(update={"case": record.case.model_copy(update=changes)})


def _mark_paid(record: DunningCaseRecord, at: datetime, how: str) -> DunningCaseRecord:
    if record.case.paid_at is not None:
        return record
    return _noted(_case(record, paid_at=at), at, "paid", how)


def _settled(
    book: Book, record: DunningCaseRecord, invoice: StripeInvoice, at: datetime
) -> DunningCaseRecord | None:
    """The case brought in line with an invoice no longer open (paid by any route, voided,
    written off by hand in Stripe), or None while it is open."""
    if invoice.status == "open":
        return None

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if invoice.status == "paid":
            return _mark_paid(r, at, "invoice paid")
        if invoice.status == "uncollectible":
            if r.case.written_off:
                return r
            return _noted(_case(r, written_off=True), at, "write_off", "uncollectible in Stripe")
        if r.status != "open":
            return r
        return _noted(r, at, "close", f"invoice {invoice.status} in Stripe").model_copy(
            update={"status": "cancelled", "closed_at": at}
        )

    return _update(book, record.invoice_id, at, change)


def _tell(ctx: ActivityContext, key: str, notice: NoticeModel, customer: Customer) -> str | None:
    """Send `notice` to the customer's contacts once (its key); None when it went out, else
    why not. A notice nobody could receive (no address, every address refused) is recorded
    in the case's history, never the end of the case: the ladder goes on."""
    try:
        notifier(ctx.settings).send(
            key, notice, customer_id=customer.id, contacts=_contacts(customer)
        )
    except PermanentError as exc:
        return f"{notice.kind} not delivered: {exc}"[:300]
    return None


def _customer(book: Book, record: DunningCaseRecord) -> Customer:
    return book.customers.get(record.customer_id).record


def _contacts(customer: Customer) -> tuple[Addressee, ...]:
    return tuple(
        Addressee(
            name=c.name[:200],
            email=c.email,
            role=c.role,
            time_zone=customer.calendar.time_zone,
        )
        for c in customer.contacts
    )


def _stripe_invoice(record: DunningCaseRecord) -> str:
    return record.stripe_invoice_id or record.invoice_id


def _amount(invoice: StripeInvoice) -> Money:
    return Money(amount_minor=max(invoice.amount_remaining, 1), currency=invoice.currency)


def _number(record: DunningCaseRecord) -> str:
    return record.invoice_number or record.invoice_id


def _subscriptions(book: Book, customer_id: str) -> Iterator[SubscriptionRecord]:
    cursor: str | None = None
    while True:
        page = book.subscriptions.of_customer(customer_id, limit=200, next=cursor)
        yield from page.items
        if page.next is None:
            return
        cursor = page.next


def _next_renewal_lock(book: Book, customer_id: str, now: datetime) -> datetime | None:
    locks = [
        renewal_lock_at(s.subscription)
        for s in _subscriptions(book, customer_id)
        if s.subscription.status == "active" and s.subscription.auto_renew_enabled
    ]
    ahead = [lock for lock in locks if lock > now]
    return min(ahead) if ahead else None


def _attempt(
    record: DunningCaseRecord, at: datetime, payment_method_id: str, decline: Decline | None
) -> PaymentAttempt:
    return PaymentAttempt(
        invoice_id=record.invoice_id,
        attempted_at=at,
        amount=record.amount_due or record.case.attempts[0].amount,
        payment_method_id=payment_method_id,
        outcome="failed",
        failure_code=decline.code if decline else "card_declined",
        decline_code=decline.decline_code if decline else None,
        advice_code=decline.advice_code if decline else None,
        charge_id=decline.charge_id if decline else None,
    )


def _reason(attempt: PaymentAttempt) -> PaymentFailureReason:
    code = attempt.decline_code or attempt.failure_code
    if code in ("insufficient_funds", "expired_card", "authentication_required"):
        return code  # type: ignore[return-value]
    if code in ("processing_error", "issuer_not_available", "try_again_later"):
        return "processing_error"
    return "card_declined" if code else "other"


def _card_ref(stripe: StripePayments, customer_id: str, payment_method_id: str) -> CardRef | None:
    for card in stripe.list_cards(customer_id):
        if card.payment_method_id == payment_method_id:
            brand = card.brand if card.brand in _BRANDS else "unknown"
            return CardRef.model_validate({"brand": brand, "last4": card.last4})
    return None


_BRANDS = frozenset(CardRef.model_fields["brand"].annotation.__args__)  # type: ignore[union-attr]


def _products(book: Book, customer_id: str, ids: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for sub in _subscriptions(book, customer_id):
        if sub.id in ids:
            names.append(
                (sub.subscription.friendly_name or sub.subscription.offer_name or sub.id)[:200]
            )
    return tuple(names)


# -- activities ----------------------------------------------------------------------------


@activity(bp)
def open_dunning_case(request: OpenCase, ctx: ActivityContext) -> DunningCaseRecord:
    """The invoice's case in the book: opened from Stripe's invoice and its last decline, or
    the one opened before (a replay, a second start). An invoice paid meanwhile is recorded
    as paid at once."""
    book, stripe = _book(ctx), _stripe(ctx)
    existing = book.dunning.find(request.invoice_id)
    if existing is not None:
        return existing.record
    customer = book.customers.by_stripe_customer(request.stripe_customer_id)
    if customer is None:
        raise UnknownCustomer(f"Stripe customer {request.stripe_customer_id} is not in the book")
    invoice = stripe.get_invoice(request.stripe_invoice_id)
    if request.overdue:
        return _open_overdue(book, request, customer.record.id, invoice)
    decline = stripe.last_decline(request.stripe_invoice_id)
    default_pm = stripe.get_customer(request.stripe_customer_id).default_payment_method_id
    payment_method = default_pm or "none"
    first = PaymentAttempt(
        invoice_id=request.invoice_id,
        attempted_at=request.failed_at,
        amount=_amount(invoice),
        payment_method_id=payment_method,
        outcome="failed",
        failure_code=decline.code if decline else "card_declined",
        decline_code=decline.decline_code if decline else None,
        advice_code=decline.advice_code if decline else None,
        charge_id=decline.charge_id if decline else None,
    )
    case = DunningCase(
        invoice_id=request.invoice_id,
        opened_at=request.failed_at,
        attempts=(first,),
        payment_method_id=payment_method,
        next_renewal_lock_at=_next_renewal_lock(book, customer.record.id, request.failed_at),
    )
    record = DunningCaseRecord(
        customer_id=customer.record.id,
        case=case,
        stripe_invoice_id=invoice.id,
        stripe_customer_id=request.stripe_customer_id,
        invoice_number=invoice.number,
        amount_due=_amount(invoice),
        history=(
            DunningHistoryEntry(
                at=request.failed_at,
                action="opened",
                detail=f"payment of {_amount(invoice)} failed: "
                f"{first.decline_code or first.failure_code} ({classify_attempt(first)})",
            ),
        ),
    )
    if invoice.status == "paid":
        record = _mark_paid(record, request.failed_at, "paid before the case opened")
    stored = book.dunning.open(_planned(record, request.failed_at)).record
    return stored


def _open_overdue(
    book: Book, request: OpenCase, customer_id: str, invoice: StripeInvoice
) -> DunningCaseRecord:
    """The case of an invoice on invoice terms past its due date: no attempt and no card to
    charge (cspflow does not charge what the customer was asked to pay by transfer); the
    ladder is its notices with the pay link, then grace and suspension."""
    case = DunningCase(
        invoice_id=request.invoice_id,
        opened_at=request.failed_at,
        payment_method_id="none",
        overdue=True,
        next_renewal_lock_at=_next_renewal_lock(book, customer_id, request.failed_at),
    )
    record = DunningCaseRecord(
        customer_id=customer_id,
        case=case,
        stripe_invoice_id=invoice.id,
        stripe_customer_id=request.stripe_customer_id,
        invoice_number=invoice.number,
        amount_due=_amount(invoice),
        history=(
            DunningHistoryEntry(
                at=request.failed_at,
                action="opened",
                detail=f"invoice of {_amount(invoice)} overdue (invoice terms): no charge",
            ),
        ),
    )
    if invoice.status == "paid":
        record = _mark_paid(record, request.failed_at, "paid before the case opened")
    return book.dunning.open(_planned(record, request.failed_at)).record


@activity(bp)
def refresh_dunning_case(request: Refresh, ctx: ActivityContext) -> DunningCaseRecord:
    """Stripe's word on the case now: the invoice paid (by any route: the pay link, a new
    card, out of band, a credit) or not, and the customer's default card (a new one is
    charged at once, docs/rules.md#new-payment-method)."""
    book, stripe = _book(ctx), _stripe(ctx)
    record = book.dunning.get(request.invoice_id).record
    if record.status != "open":
        return record
    invoice = stripe.get_invoice(_stripe_invoice(record))
    if (settled := _settled(book, record, invoice, request.at)) is not None:
        return settled
    if request.reason == "payment_failed":
        return _failed_elsewhere(book, stripe, record, request)
    card = _new_card(stripe, record, request)

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if card is None or card == r.case.payment_method_id:
            return r
        return _noted(
            _case(r, payment_method_id=card, payment_method_changed_at=request.at),
            request.at,
            "card_updated",
            f"new card {card}: charged at once",
        )

    return _update(book, request.invoice_id, request.at, change)


def _failed_elsewhere(
    book: Book, stripe: StripePayments, record: DunningCaseRecord, request: Refresh
) -> DunningCaseRecord:
    """Another `invoice.payment_failed` for the invoice: the latest decline recorded as an
    attempt on the card it was made with (the customer's own try on the pay link counts
    toward the cap of charges per card, docs/rules.md#per-card-cap), unless it is a charge
    the case knows (the failure that opened it, a retry of its own that Stripe reports)
    or Stripe does not say which charge it was."""
    decline = stripe.last_decline(_stripe_invoice(record))
    if decline is None or decline.charge_id is None:
        return record
    charge_id = decline.charge_id

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if any(a.charge_id == charge_id for a in r.case.attempts):
            return r
        card = decline.payment_method_id or r.case.payment_method_id
        attempt = _attempt(r, request.at, card, decline)
        r = _case(r, attempts=(*r.case.attempts, attempt))
        return _noted(
            r,
            request.at,
            "payment_failed",
            f"payment on {card} failed outside the ladder (charge {charge_id}): "
            f"{attempt.decline_code or attempt.failure_code} ({classify_attempt(attempt)})",
        )

    return _update(book, request.invoice_id, request.at, change)


def _new_card(stripe: StripePayments, record: DunningCaseRecord, request: Refresh) -> str | None:
    """The card to charge from now on, if the customer gave a new one: the card a card-update
    link saved or a card attached since (either made the invoices' default), or a new
    default card.
    A card this case already saw refused for good is not taken again."""
    customer = record.stripe_customer_id
    if customer is None:
        return None
    refused = {a.payment_method_id for a in record.case.attempts if classify_attempt(a) != "soft"}
    card_id: str | None = None
    if request.setup_intent_id:
        try:
            saved_card = stripe.complete_card_update(request.step_key, request.setup_intent_id)
            card_id = saved_card.payment_method_id
        except PaymentRejected:  # not a saved card after all: nothing new
            card_id = None
    elif request.payment_method_id:
        saved = {c.payment_method_id for c in stripe.list_cards(customer)}
        card_id = request.payment_method_id if request.payment_method_id in saved else None
        if card_id is not None and card_id not in refused | {record.case.payment_method_id}:
            # The card the customer saved pays this invoice and the next ones.
            stripe.set_default_card(request.step_key, customer, card_id)
    card_id = card_id or stripe.get_customer(customer).default_payment_method_id
    return None if card_id is None or card_id in refused else card_id


@activity(bp)
def charge_dunning_invoice(request: Charge, ctx: ActivityContext) -> DunningCaseRecord:
    """Charge the invoice again on the case's card, once: re-read first (never a charge
    after a payment), the Idempotency-Key from the case and the attempt number."""
    book, stripe = _book(ctx), _stripe(ctx)
    record = book.dunning.get(request.invoice_id).record
    if record.status != "open" or record.case.paid_at is not None:
        return record
    if len(record.case.attempts) >= request.attempt:  # recorded by an earlier run of the step
        return record
    invoice_id = _stripe_invoice(record)
    invoice = stripe.get_invoice(invoice_id)
    if (settled := _settled(book, record, invoice, request.at)) is not None:
        return settled
    method = record.case.payment_method_id
    outcome = stripe.pay_invoice(
        request.step_key, invoice_id, payment_method_id=method if method != "none" else None
    )

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if outcome.paid:
            return _mark_paid(r, request.at, f"attempt {request.attempt} paid on {method}")
        if len(r.case.attempts) >= request.attempt:
            return r
        attempt = _attempt(r, request.at, method, outcome.decline)
        r = _case(r, attempts=(*r.case.attempts, attempt))
        return _noted(
            r,
            request.at,
            "retry_charge",
            f"attempt {request.attempt} on {method} declined: "
            f"{attempt.decline_code or attempt.failure_code} ({classify_attempt(attempt)})",
        )

    return _update(book, request.invoice_id, request.at, change)


@activity(bp)
def send_dunning_notice(request: Notify, ctx: ActivityContext) -> DunningCaseRecord:
    """The ladder's notice number `number`: the failed-payment notice with the pay link,
    what happens next and when, and the card-update link when the card will not pay again;
    the final one before suspension is the suspension warning with its date. Nothing is sent
    for an invoice paid meanwhile."""
    book, stripe = _book(ctx), _stripe(ctx)
    record = book.dunning.get(request.invoice_id).record
    if record.status != "open" or record.case.notices_sent >= request.number:
        return record
    invoice = stripe.get_invoice(_stripe_invoice(record))
    if (settled := _settled(book, record, invoice, request.at)) is not None:
        return settled
    customer = _customer(book, record)
    case = record.case
    pay_url = invoice.hosted_invoice_url or stripe.pay_link(invoice.id)
    suspension_at = None if case.suspended else case.opened_at + DEFAULT_RULES.grace_period
    last = max(case.attempts, key=lambda a: a.attempted_at, default=None)
    notice: PaymentFailed | SuspensionWarning | InvoiceOverdue
    if request.final and suspension_at is not None and suspension_at > request.at:
        notice = SuspensionWarning(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount_due=_amount(invoice),
            suspension_at=suspension_at,
            pay_url=pay_url,  # type: ignore[arg-type]
        )
    elif case.overdue and not case.attempts:
        # Invoice terms, no payment tried: the invoice is overdue, nothing "failed".
        notice = InvoiceOverdue(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount_due=_amount(invoice),
            due_at=invoice.due_date,
            pay_url=pay_url,  # type: ignore[arg-type]
            suspension_at=suspension_at if suspension_at and suspension_at > request.at else None,
        )
    else:
        update_url = None
        if request.ask == "update_payment_method" and record.stripe_customer_id:
            update_url = stripe.card_update_link(
                request.step_key,
                record.stripe_customer_id,
                success_url=str(ctx.settings.dunning_card_update_return_url),
                metadata={INVOICE_KEY: record.invoice_id},
            ).url
        retry_at = next_retry_at(case, DEFAULT_RULES)
        card = (
            _card_ref(stripe, record.stripe_customer_id, case.payment_method_id)
            if record.stripe_customer_id
            else None
        )
        notice = PaymentFailed(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount_due=_amount(invoice),
            reason=_reason(last) if last is not None else "other",
            failed_at=last.attempted_at if last is not None else case.opened_at,
            pay_url=pay_url,  # type: ignore[arg-type]
            card=card,
            next_retry_at=retry_at if retry_at and retry_at > request.at else None,
            suspension_at=suspension_at,
            update_url=update_url,  # type: ignore[arg-type]
        )
    undelivered = _tell(ctx, request.step_key, notice, customer)

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if r.case.notices_sent >= request.number:
            return r
        r = _case(r, notices_sent=request.number)
        if undelivered is None:
            r = r.model_copy(update={"first_notice_at": r.first_notice_at or request.at})
        return _noted(
            r,
            request.at,
            "send_payment_failed_notice",
            f"notice {request.number}: {undelivered or notice.kind}",
        )

    return _update(book, request.invoice_id, request.at, change)


@activity(bp)
def set_dunning_auto_renew(request: AutoRenew, ctx: ActivityContext) -> DunningCaseRecord:
    """Off: every active subscription of the customer that would renew gets auto-renew off
    in Partner Center before the lock (docs/rules.md#auto-renew-before-lock), is kept in the
    record, and the customer is told. On: exactly those get it back (docs/rules.md#paid).

    The subscriptions to turn off are written to the record before Partner Center is asked:
    a step run again after a host died midway finds them there (the book then already says
    auto-renew is off, so it could not tell them from the ones that were off before dunning),
    asks Partner Center again with the same request ids (answered the first result), and
    still tells the customer, once (the notice's key)."""
    book = _book(ctx)
    record = book.dunning.get(request.invoice_id).record
    customer = _customer(book, record)
    tenant = str(customer.tenant_id) if customer.tenant_id else None
    changed: list[str] = []
    refused: list[str] = []
    refused_ids: set[str] = set()
    if not request.enabled and not record.case.auto_renew_off and tenant is not None:
        planned = record.auto_renew_turned_off or tuple(
            sub.id
            for sub in _subscriptions(book, record.customer_id)
            if sub.subscription.status == "active" and sub.subscription.auto_renew_enabled
        )
        if planned and not record.auto_renew_turned_off:
            record = book.dunning.update(
                request.invoice_id,
                lambda r: r.model_copy(update={"auto_renew_turned_off": planned}),
            ).record
        targets = set(record.auto_renew_turned_off)
    else:
        targets = set(record.auto_renew_turned_off) if request.enabled else set()
    if tenant is not None:
        for sub in _subscriptions(book, record.customer_id):
            if sub.id not in targets or sub.subscription.status != "active":
                continue
            verb = "on" if request.enabled else "off"
            try:
                read = write_auto_renew(
                    ctx, tenant, sub.id, request.enabled, operation=f"auto-renew-{verb}-{sub.id}"
                )
            except PermanentError as exc:  # Partner Center's answer: noted, the case goes on
                refused.append(f"{sub.id}: {exc}"[:120])
                refused_ids.add(sub.id)
                continue
            apply_partner_center_subscription(book, record.customer_id, read)
            changed.append(sub.id)

    undelivered = None
    if not request.enabled and changed and not record.case.auto_renew_off:
        undelivered = _tell_auto_renew_off(ctx, request, book, record, customer, tuple(changed))

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if request.enabled:
            if not r.case.auto_renew_off:
                return r
            r = _case(r, auto_renew_off=False).model_copy(update={"auto_renew_turned_off": ()})
            return _noted(
                r, request.at, "restore_auto_renew", f"auto-renew back on: {changed} {refused}"
            )
        if r.case.auto_renew_off:
            return r
        kept = tuple(
            s for s in dict.fromkeys((*r.auto_renew_turned_off, *changed)) if s not in refused_ids
        )
        r = _case(r, auto_renew_off=True).model_copy(update={"auto_renew_turned_off": kept})
        return _noted(
            r,
            request.at,
            "turn_off_auto_renew",
            f"auto-renew off before the lock: {list(kept)} {refused} {undelivered or ''}",
        )

    return _update(book, request.invoice_id, request.at, change)


def _tell_auto_renew_off(
    ctx: ActivityContext,
    request: AutoRenew,
    book: Book,
    record: DunningCaseRecord,
    customer: Customer,
    changed: tuple[str, ...],
) -> str | None:
    """The customer told that auto-renew is off for these subscriptions while the invoice is
    unpaid, when the first of them ends, and that paying turns it back on (once: the step's
    key)."""
    stripe = _stripe(ctx)
    invoice = stripe.get_invoice(_stripe_invoice(record))
    ends = [
        s.subscription.term_end for s in _subscriptions(book, record.customer_id) if s.id in changed
    ]
    return _tell(
        ctx,
        f"{request.step_key}-notice",
        AutoRenewOffUnpaid(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount_due=_amount(invoice),
            pay_url=invoice.hosted_invoice_url or stripe.pay_link(invoice.id),  # type: ignore[arg-type]
            term_ends_at=min(ends) if ends else None,
            products=_products(book, record.customer_id, changed),
        ),
        customer,
    )


@activity(bp)
def suspend_for_dunning(request: CaseStep, ctx: ActivityContext) -> DunningCaseRecord:
    """After grace: the customer's active subscriptions suspended in Partner Center (which
    turns auto-renew off; docs/rules.md#grace-then-suspend), then the customer told."""
    book = _book(ctx)
    record = book.dunning.get(request.invoice_id).record
    if record.status != "open" or record.case.suspended or record.case.paid_at is not None:
        return record
    customer = _customer(book, record)
    tenant = str(customer.tenant_id) if customer.tenant_id else None
    suspended: list[str] = []
    renewing: list[str] = []
    refused: list[str] = []
    if tenant is not None:
        for sub in _subscriptions(book, record.customer_id):
            if sub.subscription.status != "active":
                continue
            try:
                read = write_suspend(ctx, tenant, sub.id, operation=f"suspend-{sub.id}")
            except PermanentError as exc:  # Partner Center's answer: noted, the case goes on
                refused.append(f"{sub.id}: {exc}"[:120])
                continue
            if sub.subscription.auto_renew_enabled:
                renewing.append(sub.id)
            apply_partner_center_subscription(book, record.customer_id, read)
            suspended.append(sub.id)
    stripe = _stripe(ctx)
    invoice = stripe.get_invoice(_stripe_invoice(record))
    undelivered = _tell(
        ctx,
        f"{request.step_key}-notice",
        Suspended(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount_due=_amount(invoice),
            suspended_at=request.at,
            pay_url=invoice.hosted_invoice_url or stripe.pay_link(invoice.id),  # type: ignore[arg-type]
            products=_products(book, record.customer_id, tuple(suspended)),
        ),
        customer,
    )

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if r.case.suspended:
            return r
        r = _case(r, suspended=True).model_copy(
            update={
                "suspended_subscriptions": tuple(suspended),
                "auto_renew_turned_off": tuple(
                    dict.fromkeys((*r.auto_renew_turned_off, *renewing))
                ),
            }
        )
        return _noted(
            r,
            request.at,
            "suspend",
            f"suspended after grace: {suspended} {refused} {undelivered or ''}",
        )

    return _update(book, request.invoice_id, request.at, change)


@activity(bp)
def reactivate_after_payment(request: CaseStep, ctx: ActivityContext) -> DunningCaseRecord:
    """Paid: the subscriptions this case suspended reactivated at once, auto-renew as it was
    before dunning, and the customer told (docs/rules.md#paid)."""
    book = _book(ctx)
    record = book.dunning.get(request.invoice_id).record
    if not record.case.suspended:
        return record
    customer = _customer(book, record)
    tenant = str(customer.tenant_id) if customer.tenant_id else None
    refused: list[str] = []
    if tenant is not None:
        for sub_id in record.suspended_subscriptions:
            try:
                read = write_reactivate(
                    ctx,
                    tenant,
                    sub_id,
                    auto_renew=sub_id in record.auto_renew_turned_off,
                    operation=f"reactivate-{sub_id}",
                )
            except PermanentError as exc:  # ended meanwhile, say: noted for ops
                refused.append(f"{sub_id}: {exc}"[:120])
                continue
            apply_partner_center_subscription(book, record.customer_id, read)
    amount = record.amount_due or record.case.attempts[0].amount
    undelivered = _tell(
        ctx,
        f"{request.step_key}-notice",
        Reactivated(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount_paid=amount,
            reactivated_at=request.at,
            products=_products(book, record.customer_id, record.suspended_subscriptions),
        ),
        customer,
    )

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if not r.case.suspended:
            return r
        restored = set(r.suspended_subscriptions)
        r = _case(r, suspended=False, auto_renew_off=False).model_copy(
            update={
                "auto_renew_turned_off": tuple(
                    s for s in r.auto_renew_turned_off if s not in restored
                )
            }
        )
        return _noted(
            r,
            request.at,
            "reactivate",
            f"reactivated: {sorted(restored)} {refused} {undelivered or ''}",
        )

    return _update(book, request.invoice_id, request.at, change)


@activity(bp)
def write_off_dunning_case(request: CaseStep, ctx: ActivityContext) -> DunningCaseRecord:
    """Collection gave up: the invoice marked uncollectible in Stripe (still payable), the
    subscriptions cancelled where still inside their cancellation window when the partner's
    settings say so, else left to expire (auto-renew is off), the customer told."""
    book, stripe = _book(ctx), _stripe(ctx)
    record = book.dunning.get(request.invoice_id).record
    if record.case.written_off or record.case.paid_at is not None:
        return record
    invoice = stripe.get_invoice(_stripe_invoice(record))
    if invoice.status == "paid":
        return _update(
            book,
            request.invoice_id,
            request.at,
            lambda r: _mark_paid(r, request.at, "paid meanwhile"),
        )
    if invoice.status == "open":
        invoice = stripe.mark_uncollectible(request.step_key, invoice.id)
    customer = _customer(book, record)
    cancelled: list[str] = []
    if ctx.settings.dunning_write_off_cancel and customer.tenant_id is not None:
        for sub in _subscriptions(book, record.customer_id):
            window = sub.subscription.cancellation_allowed_until_date
            if sub.id in record.suspended_subscriptions and window and window > request.at:
                try:
                    read = write_cancel(
                        ctx, str(customer.tenant_id), sub.id, operation=f"cancel-{sub.id}"
                    )
                except PermanentError:  # refused: it is left to expire, auto-renew off
                    continue
                apply_partner_center_subscription(book, record.customer_id, read)
                cancelled.append(sub.id)
    amount = (
        _amount(invoice) if invoice.amount_remaining else (record.amount_due or _amount(invoice))
    )
    undelivered = _tell(
        ctx,
        f"{request.step_key}-notice",
        WrittenOff(
            customer_name=customer.company_name[:200],
            invoice_number=_number(record),
            amount=amount,
            written_off_at=request.at,
            subscriptions_cancelled=bool(cancelled),
        ),
        customer,
    )

    def change(r: DunningCaseRecord) -> DunningCaseRecord:
        if r.case.written_off:
            return r
        r = _case(r, written_off=True).model_copy(
            update={"subscriptions_cancelled": tuple(cancelled)}
        )
        return _noted(
            r,
            request.at,
            "write_off",
            f"written off: {amount}; cancelled {cancelled} {undelivered or ''}",
        )

    return _update(book, request.invoice_id, request.at, change)


@activity(bp)
def close_dunning_case(request: Close, ctx: ActivityContext) -> DunningCaseRecord:
    """Close the case (recovered, written off, or cancelled) and record its
    `dunning_recovery` KPI event once."""
    book = _book(ctx)
    record = book.dunning.get(request.invoice_id).record
    if record.status == "open":
        status = (
            "recovered"
            if record.case.paid_at is not None
            else "written_off"
            if record.case.written_off
            else "cancelled"
        )

        def change(r: DunningCaseRecord) -> DunningCaseRecord:
            if r.status != "open":
                return r
            r = _noted(r, request.at, "close", status)
            return r.model_copy(
                update={"status": status, "closed_at": request.at, "next_step": None}
            )

        record = book.dunning.update(request.invoice_id, change).record
    case = record.case
    recovered = record.status == "recovered"
    ended = case.paid_at if recovered and case.paid_at else record.closed_at or request.at
    book.kpi_events.record(
        KpiEvent(
            name="dunning_recovery",
            occurred_at=ended,
            customer_id=record.customer_id,
            subject_id=record.invoice_id,
            outcome=record.status,
            duration_seconds=max(0, round((ended - case.opened_at).total_seconds())),
            amount=record.amount_due,
            dimensions={
                "recovered": str(recovered).lower(),
                "days_to_recover": str((ended - case.opened_at).days) if recovered else "",
                "attempts": str(len(case.attempts) + (1 if recovered else 0)),
                "notices": str(case.notices_sent),
                "first_decline": (
                    classify_attempt(case.attempts[0]) if case.attempts else "overdue"
                ),
            },
        )
    )
    return record


# -- card-expiry pre-dunning -----------------------------------------------------------------


class ExpiryScan(WriteInput):
    customer_id: str = Field(min_length=1, max_length=64)
    at: UtcDateTime


class ExpiryScanned(DomainModel):
    customer_id: str
    notices: tuple[str, ...] = ()  # the cards mailed about


@activity(bp)
def warn_expiring_card(request: ExpiryScan, ctx: ActivityContext) -> ExpiryScanned:
    """The customer's default card, when it expires within `card_expiry_notice_before`: the
    card-update link mailed ahead of time, once per card and expiry, and in its last
    `card_expiry_reminder_before` the reminder, once, while it is still the default (a card
    replaced in time is the default no more). The step keys name the card and its expiry
    (docs/rules.md#card-expiry). Stripe sends no `customer.source.expiring` for
    PaymentMethods, so cspflow lists the cards itself."""
    book, stripe = _book(ctx), _stripe(ctx)
    customer = book.customers.get(request.customer_id).record
    if customer.stripe_customer_id is None:
        return ExpiryScanned(customer_id=customer.id)
    sent: list[str] = []
    for card in stripe.list_cards(customer.stripe_customer_id):
        if not card.is_default:
            continue
        reminder = card_expiry_reminder_due(card.exp_month, card.exp_year, request.at)
        if not reminder and not card_expiry_notice_due(
            card.exp_month, card.exp_year, request.at, None
        ):
            continue
        expiry = f"{card.payment_method_id}-{card.exp_year}{card.exp_month:02d}"
        key = f"card-expiry{'-reminder' if reminder else ''}-{customer.id}/{expiry}"
        link = stripe.card_update_link(
            key,
            customer.stripe_customer_id,
            success_url=str(ctx.settings.dunning_card_update_return_url),
            metadata={CARD_UPDATE_KEY: "card_expiry"},
        )
        brand = card.brand if card.brand in _BRANDS else "unknown"
        ref = CardRef.model_validate(
            {
                "brand": brand,
                "last4": card.last4,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
            }
        )
        kind = CardExpiringReminder if reminder else CardExpiring
        notice = kind(
            customer_name=customer.company_name[:200],
            card=ref,
            update_url=link.url,  # type: ignore[arg-type]
        )
        notifier(ctx.settings).send(
            key, notice, customer_id=customer.id, contacts=_contacts(customer)
        )
        sent.append(card.payment_method_id)
    return ExpiryScanned(customer_id=customer.id, notices=tuple(sent))


class CustomerPage(DomainModel):
    """Which page of the book's customers to read (`next`: the cursor, None: the first)."""

    next: str | None = Field(default=None, max_length=2000)
    limit: int = Field(default=100, ge=1, le=500)


class CardCustomers(DomainModel):
    customer_ids: tuple[str, ...]
    next: str | None = None


@activity(bp)
def card_customers_page(request: CustomerPage, ctx: ActivityContext) -> CardCustomers:
    """One page of the book's customers that pay by card through Stripe (what the card-expiry
    sweep looks at)."""
    page = _book(ctx).customers.page(limit=request.limit, next=request.next)
    return CardCustomers(
        customer_ids=tuple(
            c.id
            for c in page.items
            if c.stripe_customer_id is not None
            and c.payment_terms.collection == "charge_automatically"
        ),
        next=page.next,
    )
