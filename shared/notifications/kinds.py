"""Every notice cspflow sends: one typed model per kind, with who gets it by default.

A notice model holds what its reader is shown, nothing more: amounts as `Money` (integer
minor units), times as UTC instants (each reader sees them in their own zone), a card as its
brand and last four digits only, and each link as an absolute `ActionUrl` that does one thing
(pay this invoice, decide this renewal, update this card). The models never carry an error
text from an external system for a customer; the reasons they show are a fixed vocabulary the
templates translate.

`KINDS` maps each kind to its model, the recipient roles it goes to unless the customer's
preferences route it elsewhere, and whether it is essential (an essential notice asks for an
action or announces a consequence for the customer's money or licences, and cannot be muted).

    notice = PaymentFailed(customer_name="Contoso", invoice_number="INV-0042", ...)
    SendNotice(step_key=step_key(context, "notice-payment-failed"), notice=notice, ...)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias
from urllib.parse import parse_qsl

from pydantic import AfterValidator, AnyHttpUrl, Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.catalog import TermDuration
from shared.models.money import Money
from shared.models.notice import NoticeKind as NoticeKind  # re-exported: one definition
from shared.models.party import DomainName, SlaTier
from shared.models.sla import SlaKind

RecipientRole = Literal["primary", "billing", "technical", "approver", "ops"]
ContactRole = Literal["primary", "billing", "technical"]
CONTACT_ROLES: tuple[ContactRole, ...] = ("primary", "billing", "technical")

# No control characters: these values reach mail headers (the subject) and must stay one line.
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
LongText = Annotated[
    str, Field(min_length=1, max_length=1000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$")
]
Identifier = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:/@-]+$")]
Quantity = Annotated[int, Field(ge=0, le=1_000_000)]

# Query parameters that carry a credential broader than one action: an Azure Functions key
# (`code`) opens every call of a function; the others are the usual names of API keys and
# bearer tokens. A one-action link carries its own signed token under another name.
_BROAD_CREDENTIALS = frozenset({"code", "api_key", "apikey", "key", "access_token", "token"})


def _one_action_link(url: AnyHttpUrl) -> AnyHttpUrl:
    host = url.host or ""
    if url.scheme != "https" and not _is_loopback(host):
        raise ValueError("a link in a notice is https (http only to this machine)")
    if url.username or url.password:
        raise ValueError("a link in a notice carries no user name or password")
    broad = sorted({k for k, _ in parse_qsl(url.query or "")} & _BROAD_CREDENTIALS)
    if broad:
        raise ValueError(
            f"a link in a notice grants one action; {', '.join(broad)} would grant more"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


ActionUrl = Annotated[AnyHttpUrl, AfterValidator(_one_action_link)]
"""An absolute link to one action (https; plain http only to loopback, for local runs)."""

CardBrand = Literal[
    "amex",
    "cartes_bancaires",
    "diners",
    "discover",
    "eftpos_au",
    "interac",
    "jcb",
    "link",
    "mastercard",
    "unionpay",
    "visa",
    "unknown",
]


class CardRef(DomainModel):
    """A payment card as a notice may show it: brand and last four digits, never more."""

    brand: CardBrand
    last4: str = Field(pattern=r"^[0-9]{4}$")
    exp_month: int | None = Field(default=None, ge=1, le=12)
    exp_year: int | None = Field(default=None, ge=2000, le=2100)

    @model_validator(mode="after")
    def _expiry_whole(self) -> CardRef:
        if (self.exp_month is None) != (self.exp_year is None):
            raise ValueError("exp_month and exp_year go together")
        return self


class ProductLine(DomainModel):
    product: ShortText
    quantity: Quantity


class OrderedLine(DomainModel):
    product: ShortText
    quantity: Quantity
    term: TermDuration
    # What the line costs per billing period, for the whole quantity.
    price: Money


class CustomerNotice(DomainModel):
    """A notice to one of the customer's contacts."""

    customer_name: ShortText


def _same_currency(*amounts: Money | None) -> None:
    currencies = {a.currency for a in amounts if a is not None}
    if len(currencies) > 1:
        raise ValueError(f"amounts in one notice share a currency, got {sorted(currencies)}")


# Onboarding -------------------------------------------------------------------------------
class Welcome(CustomerNotice):
    kind: Literal["welcome"] = "welcome"
    domain: DomainName
    products: tuple[ProductLine, ...] = ()
    admin_center_url: ActionUrl = AnyHttpUrl("https://admin.microsoft.com/")


class OrderProvisioned(CustomerNotice):
    kind: Literal["order_provisioned"] = "order_provisioned"
    order_id: Identifier
    lines: tuple[OrderedLine, ...] = Field(min_length=1)
    total: Money  # charged now
    provisioned_at: UtcDateTime

    @model_validator(mode="after")
    def _one_currency(self) -> OrderProvisioned:
        _same_currency(self.total, *(line.price for line in self.lines))
        return self


OrderFailureReason = Literal[
    "payment_declined", "domain_unavailable", "not_eligible", "provider_error"
]


class OrderFailed(CustomerNotice):
    kind: Literal["order_failed"] = "order_failed"
    order_id: Identifier
    reason: OrderFailureReason
    failed_at: UtcDateTime
    refunded: Money | None = None  # what was charged and is being returned
    # The number of an invoice sent on invoice terms and voided: nothing is owed on it.
    voided_invoice: ShortText | None = None


class PaymentMethodRequested(CustomerNotice):
    """An order waits for a card: the page where the customer saves one (a card-setup
    link), until when it works, and whether this is the reminder."""

    kind: Literal["payment_method_requested"] = "payment_method_requested"
    order_id: Identifier
    setup_url: ActionUrl
    expires_at: UtcDateTime
    reminder: bool = False


# Licence changes and their approval ---------------------------------------------------------
class ApprovalRequested(CustomerNotice):
    """To the partner's approver: a change above the approval threshold waits for a decision."""

    kind: Literal["approval_requested"] = "approval_requested"
    change_id: Identifier
    product: ShortText
    from_quantity: Quantity
    to_quantity: Quantity
    amount: Money  # what the change costs (prorated charge)
    requested_by: ShortText
    requested_at: UtcDateTime
    decide_by: UtcDateTime
    approve_url: ActionUrl
    decline_url: ActionUrl


class ApprovalDecided(CustomerNotice):
    kind: Literal["approval_decided"] = "approval_decided"
    change_id: Identifier
    product: ShortText
    from_quantity: Quantity
    to_quantity: Quantity
    approved: bool
    decided_at: UtcDateTime
    note: LongText | None = None  # the approver's words to the customer


class LicenceChangeApplied(CustomerNotice):
    kind: Literal["licence_change_applied"] = "licence_change_applied"
    change_id: Identifier
    product: ShortText
    from_quantity: Quantity
    to_quantity: Quantity
    effective_at: UtcDateTime
    charge: Money | None = None  # prorated: positive charged now, negative credited


ScheduleReason = Literal["outside_cancellation_window", "requested_for_renewal"]


class LicenceChangeScheduled(CustomerNotice):
    kind: Literal["licence_change_scheduled"] = "licence_change_scheduled"
    change_id: Identifier
    product: ShortText
    from_quantity: Quantity
    to_quantity: Quantity
    effective_at: UtcDateTime  # the start of the next term
    reason: ScheduleReason


# Why a licence change was not made: a fixed vocabulary the templates translate (never an
# external system's error text).
NotAppliedReason = Literal[
    "card_declined",  # the charge for it was declined: nothing changed
    "payment_failed",  # the charge could not be made: nothing changed
    "partner_refused",  # Microsoft refused the write (what was charged is refunded)
    "renewal_processing",  # Microsoft was renewing the subscription
    "renewal_lock",  # the last 24 hours before the renewal: renewal settings are locked
    "not_allowed",  # the NCE rules refuse it on Microsoft's current read
    "approval_rejected",  # the partner's approver said no
    "approval_timed_out",  # nobody approved it before the deadline
    "provider_error",  # Microsoft's systems did not answer
    "partner_setup",  # the partner's own records lack something (a price, a payment account)
    "internal",  # the change's workflow failed for good; the operators see it
]
ChangeKindName = Literal["quantity", "upgrade", "auto_renew", "cancel"]


class LicenceChangeNotApplied(CustomerNotice):
    """A licence change that failed for good or was refused: what was not done, and why."""

    kind: Literal["licence_change_not_applied"] = "licence_change_not_applied"
    change_id: Identifier
    change: ChangeKindName
    product: ShortText
    from_quantity: Quantity
    to_quantity: Quantity  # what was asked (0 for a cancellation)
    auto_renew: bool | None = None  # what was asked, for an auto-renew change
    reason: NotAppliedReason
    decided_at: UtcDateTime
    refunded: Money | None = None  # what was charged for it and is being returned
    note: LongText | None = None  # the approver's words, or the rule in the partner's words


# Renewals ---------------------------------------------------------------------------------
class RenewalReminder(CustomerNotice):
    kind: Literal["renewal_reminder"] = "renewal_reminder"
    subscription_id: Identifier
    product: ShortText
    quantity: Quantity
    term: TermDuration
    term_end: UtcDateTime
    auto_renew: bool
    renewal_price: Money  # the next term, for the current quantity
    decision_deadline: UtcDateTime
    decision_url: ActionUrl
    # No answer turns auto-renew off (the customer has an unpaid invoice: docs/rules.md#no-answer).
    turns_auto_renew_off: bool = False

    @model_validator(mode="after")
    def _deadline_before_term_end(self) -> RenewalReminder:
        if self.decision_deadline > self.term_end:
            raise ValueError("decision_deadline is after term_end")
        return self


RenewalDecision = Literal["renew", "change", "cancel"]


class RenewalDecisionConfirmed(CustomerNotice):
    kind: Literal["renewal_decision_confirmed"] = "renewal_decision_confirmed"
    subscription_id: Identifier
    product: ShortText
    decision: RenewalDecision
    quantity: Quantity  # for the next term (0 when cancelled)
    term_end: UtcDateTime
    renewal_price: Money | None = None
    changeable_until: UtcDateTime
    decision_url: ActionUrl | None = None  # to change the decision until then


# Why a decision in force did not reach Partner Center before the renewal lock
# (docs/renewals.md): held off by renewal processing (409 800082) until the lock; a mid-term
# change wiped the next term's scheduled changes and they could not be scheduled again;
# Partner Center refused the write.
RenewalNotAppliedReason = Literal["renewal_processing", "changes_dropped", "partner_center_refused"]
# What the customer can still do (shared/policy/renewal.take_answer, docs/rules.md#cancellation-window).
NextStep = Literal["cancel_in_window", "remove_seats_in_window", "buy_again"]


class RenewalDecisionNotApplied(CustomerNotice):
    """A decision (or the changes scheduled for the next term) that could not be applied
    before the renewal lock: why, what happens at term end, and the next possible action."""

    kind: Literal["renewal_decision_not_applied"] = "renewal_decision_not_applied"
    subscription_id: Identifier
    product: ShortText
    decision: RenewalDecision
    reason: RenewalNotAppliedReason
    term_end: UtcDateTime
    renews: bool  # what happens at term end now
    next_step: NextStep | None = None
    next_step_until: UtcDateTime | None = None
    cost_per_day: Money | None = None  # what each day of the new term costs, all seats

    @model_validator(mode="after")
    def _window_has_an_end(self) -> RenewalDecisionNotApplied:
        if self.next_step in ("cancel_in_window", "remove_seats_in_window") and (
            self.next_step_until is None
        ):
            raise ValueError("a step inside the 7-day window names until when")
        return self


RenewalResult = Literal["renewed", "cancelled", "expired"]


class RenewalOutcome(CustomerNotice):
    kind: Literal["renewal_outcome"] = "renewal_outcome"
    subscription_id: Identifier
    product: ShortText
    outcome: RenewalResult
    quantity: Quantity
    new_term_end: UtcDateTime | None = None
    amount: Money | None = None  # charged for the new term

    @model_validator(mode="after")
    def _renewed_has_a_term(self) -> RenewalOutcome:
        if self.outcome == "renewed" and self.new_term_end is None:
            raise ValueError("a renewed subscription has a new_term_end")
        return self


# Payments and dunning -----------------------------------------------------------------------
PaymentFailureReason = Literal[
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "authentication_required",
    "processing_error",
    "other",
]


class PaymentFailed(CustomerNotice):
    """A payment failed: the pay link, and what happens next and when."""

    kind: Literal["payment_failed"] = "payment_failed"
    invoice_number: Identifier
    amount_due: Money
    reason: PaymentFailureReason
    failed_at: UtcDateTime
    pay_url: ActionUrl
    card: CardRef | None = None
    next_retry_at: UtcDateTime | None = None
    suspension_at: UtcDateTime | None = None
    # The card-update page (Checkout in setup mode) when the card will not pay again.
    update_url: ActionUrl | None = None


class InvoiceIssued(CustomerNotice):
    """The period's invoice: what it totals, when it is due, how it is collected, and the
    link to Stripe's hosted invoice page (docs/billing.md)."""

    kind: Literal["invoice_issued"] = "invoice_issued"
    invoice_number: Identifier
    period: Identifier
    total: Money
    collection: Literal["charged", "due"]
    due_at: UtcDateTime | None = None
    invoice_url: ActionUrl

    @model_validator(mode="after")
    def _due_date_for_an_invoice_to_pay(self) -> InvoiceIssued:
        if (self.collection == "due") != (self.due_at is not None):
            raise ValueError("due_at is given exactly for an invoice the customer pays")
        return self


class PaymentRetryScheduled(CustomerNotice):
    kind: Literal["payment_retry_scheduled"] = "payment_retry_scheduled"
    invoice_number: Identifier
    amount_due: Money
    retry_at: UtcDateTime
    attempt: int = Field(ge=2, le=20)  # the attempt that will be made then
    pay_url: ActionUrl
    card: CardRef | None = None


class CardExpiring(CustomerNotice):
    kind: Literal["card_expiring"] = "card_expiring"
    card: CardRef
    update_url: ActionUrl
    next_charge_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _card_has_expiry(self) -> CardExpiring:
        if self.card.exp_month is None:
            raise ValueError("card_expiring needs the card's exp_month and exp_year")
        return self


class SuspensionWarning(CustomerNotice):
    kind: Literal["suspension_warning"] = "suspension_warning"
    invoice_number: Identifier
    amount_due: Money
    suspension_at: UtcDateTime
    pay_url: ActionUrl
    products: tuple[ShortText, ...] = ()


class Suspended(CustomerNotice):
    kind: Literal["suspended"] = "suspended"
    invoice_number: Identifier
    amount_due: Money
    suspended_at: UtcDateTime
    pay_url: ActionUrl
    products: tuple[ShortText, ...] = ()


class Reactivated(CustomerNotice):
    kind: Literal["reactivated"] = "reactivated"
    invoice_number: Identifier
    amount_paid: Money
    reactivated_at: UtcDateTime
    products: tuple[ShortText, ...] = ()


class WrittenOff(CustomerNotice):
    kind: Literal["written_off"] = "written_off"
    invoice_number: Identifier
    amount: Money
    written_off_at: UtcDateTime
    subscriptions_cancelled: bool


class InvoiceOverdue(CustomerNotice):
    """An invoice on invoice terms (paid by transfer) is past its due date: the pay link, and
    what happens next and when (docs/dunning.md, "Overdue invoices on invoice terms")."""

    kind: Literal["invoice_overdue"] = "invoice_overdue"
    invoice_number: Identifier
    amount_due: Money
    due_at: UtcDateTime | None = None
    pay_url: ActionUrl
    suspension_at: UtcDateTime | None = None


class AutoRenewOffUnpaid(CustomerNotice):
    """An unpaid invoice near a renewal: auto-renew turned off so no new term is committed,
    and turned back on once the invoice is paid (docs/rules.md#auto-renew-before-lock)."""

    kind: Literal["auto_renew_off_unpaid"] = "auto_renew_off_unpaid"
    invoice_number: Identifier
    amount_due: Money
    pay_url: ActionUrl
    term_ends_at: UtcDateTime | None = None
    products: tuple[ShortText, ...] = ()


class CardExpiringReminder(CardExpiring):
    """The reminder of `card_expiring`, days before the card expires, when it is still the
    default (docs/rules.md#card-expiry)."""

    kind: Literal["card_expiring_reminder"] = "card_expiring_reminder"  # type: ignore[assignment]


# SLA and operations (partner side) --------------------------------------------------------
class SlaNotice(DomainModel):
    customer_name: ShortText
    sla: SlaKind
    subject_id: Identifier  # the order, change or subscription the promise is about
    tier: SlaTier
    started_at: UtcDateTime
    deadline: UtcDateTime
    status_url: ActionUrl | None = None


class SlaAtRisk(SlaNotice):
    kind: Literal["sla_at_risk"] = "sla_at_risk"
    at_risk_at: UtcDateTime


class SlaBreached(SlaNotice):
    kind: Literal["sla_breached"] = "sla_breached"
    breached_at: UtcDateTime


class SlaEscalated(SlaNotice):
    kind: Literal["sla_escalated"] = "sla_escalated"
    escalated_at: UtcDateTime
    level: int = Field(ge=1, le=10)


OpsAlertKind = Literal["workflow_failed", "poison_message"]


class OpsAlert(DomainModel):
    """A workflow failed for good, or a message went to the poison queue."""

    kind: Literal["ops_alert"] = "ops_alert"
    alert: OpsAlertKind
    occurred_at: UtcDateTime
    # What failed: an orchestration (name + instance id) or a queue (name + message id).
    source: ShortText
    reference: Identifier
    # Failure.describe() of the step: already redacted by the activity boundary, and
    # redacted again before rendering.
    failure: LongText
    customer_name: ShortText | None = None
    dequeue_count: int | None = Field(default=None, ge=0)
    status_url: ActionUrl | None = None


Notice: TypeAlias = Annotated[
    Welcome
    | OrderProvisioned
    | OrderFailed
    | ApprovalRequested
    | ApprovalDecided
    | LicenceChangeApplied
    | LicenceChangeScheduled
    | RenewalReminder
    | RenewalDecisionConfirmed
    | RenewalOutcome
    | PaymentFailed
    | PaymentRetryScheduled
    | CardExpiring
    | SuspensionWarning
    | Suspended
    | Reactivated
    | WrittenOff
    | SlaAtRisk
    | SlaBreached
    | SlaEscalated
    | OpsAlert
    | PaymentMethodRequested
    | InvoiceIssued
    | InvoiceOverdue
    | AutoRenewOffUnpaid
    | CardExpiringReminder
    | LicenceChangeNotApplied
    | RenewalDecisionNotApplied,
    Field(discriminator="kind"),
]
"""Any notice, told apart by its `kind` (how it crosses a Durable boundary)."""

# Every kind, defined with the book's notice record (shared/models/notice.py).

NoticeModel: TypeAlias = (
    Welcome
    | OrderProvisioned
    | OrderFailed
    | ApprovalRequested
    | ApprovalDecided
    | LicenceChangeApplied
    | LicenceChangeScheduled
    | RenewalReminder
    | RenewalDecisionConfirmed
    | RenewalOutcome
    | PaymentFailed
    | PaymentRetryScheduled
    | CardExpiring
    | SuspensionWarning
    | Suspended
    | Reactivated
    | WrittenOff
    | SlaAtRisk
    | SlaBreached
    | SlaEscalated
    | OpsAlert
    | PaymentMethodRequested
    | InvoiceIssued
    | InvoiceOverdue
    | AutoRenewOffUnpaid
    | CardExpiringReminder
    | LicenceChangeNotApplied
    | RenewalDecisionNotApplied
)


@dataclass(frozen=True)
class KindInfo:
    model: type[NoticeModel]
    roles: tuple[RecipientRole, ...]  # who gets it unless preferences route it elsewhere
    essential: bool  # asks for an action or announces a consequence: cannot be muted

    @property
    def partner_side(self) -> bool:
        return not set(self.roles) & set(CONTACT_ROLES)


KINDS: dict[NoticeKind, KindInfo] = {
    "welcome": KindInfo(Welcome, ("primary", "technical"), essential=False),
    "order_provisioned": KindInfo(OrderProvisioned, ("primary", "technical"), essential=False),
    "order_failed": KindInfo(OrderFailed, ("primary",), essential=True),
    "approval_requested": KindInfo(ApprovalRequested, ("approver",), essential=True),
    "approval_decided": KindInfo(ApprovalDecided, ("primary",), essential=True),
    "licence_change_applied": KindInfo(
        LicenceChangeApplied, ("primary", "billing"), essential=False
    ),
    "licence_change_scheduled": KindInfo(
        LicenceChangeScheduled, ("primary", "billing"), essential=False
    ),
    "renewal_reminder": KindInfo(RenewalReminder, ("primary",), essential=True),
    "renewal_decision_confirmed": KindInfo(RenewalDecisionConfirmed, ("primary",), essential=False),
    "renewal_outcome": KindInfo(RenewalOutcome, ("primary", "billing"), essential=False),
    "payment_failed": KindInfo(PaymentFailed, ("billing",), essential=True),
    "payment_retry_scheduled": KindInfo(PaymentRetryScheduled, ("billing",), essential=False),
    "card_expiring": KindInfo(CardExpiring, ("billing",), essential=True),
    "suspension_warning": KindInfo(SuspensionWarning, ("billing", "primary"), essential=True),
    "suspended": KindInfo(Suspended, ("billing", "primary", "technical"), essential=True),
    "reactivated": KindInfo(Reactivated, ("billing", "primary", "technical"), essential=False),
    "written_off": KindInfo(WrittenOff, ("billing",), essential=True),
    "sla_at_risk": KindInfo(SlaAtRisk, ("ops",), essential=True),
    "sla_breached": KindInfo(SlaBreached, ("ops",), essential=True),
    "sla_escalated": KindInfo(SlaEscalated, ("ops",), essential=True),
    "ops_alert": KindInfo(OpsAlert, ("ops",), essential=True),
    "payment_method_requested": KindInfo(
        PaymentMethodRequested, ("primary", "billing"), essential=True
    ),
    "invoice_issued": KindInfo(InvoiceIssued, ("billing",), essential=True),
    "invoice_overdue": KindInfo(InvoiceOverdue, ("billing",), essential=True),
    "auto_renew_off_unpaid": KindInfo(AutoRenewOffUnpaid, ("billing", "primary"), essential=True),
    "card_expiring_reminder": KindInfo(CardExpiringReminder, ("billing",), essential=True),
    "licence_change_not_applied": KindInfo(
        LicenceChangeNotApplied, ("primary", "billing"), essential=True
    ),
    "renewal_decision_not_applied": KindInfo(
        RenewalDecisionNotApplied, ("primary", "billing"), essential=True
    ),
}
