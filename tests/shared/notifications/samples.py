"""One filled-in notice of every kind, the readers the golden files are written for, and the
brand they carry. Golden files (golden/<locale>/<kind>.txt) are these, rendered."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AnyHttpUrl

from shared.models import Money
from shared.notifications.kinds import (
    KINDS,
    ApprovalDecided,
    ApprovalRequested,
    AutoRenewOffUnpaid,
    CardExpiring,
    CardExpiringReminder,
    CardRef,
    InvoiceIssued,
    InvoiceOverdue,
    LicenceChangeApplied,
    LicenceChangeNotApplied,
    LicenceChangeScheduled,
    NoticeKind,
    NoticeModel,
    OpsAlert,
    OrderedLine,
    OrderFailed,
    OrderProvisioned,
    PaymentFailed,
    PaymentMethodRequested,
    PaymentRetryScheduled,
    ProductLine,
    Reactivated,
    RenewalDecisionConfirmed,
    RenewalDecisionNotApplied,
    RenewalOutcome,
    RenewalReminder,
    SlaAtRisk,
    SlaBreached,
    SlaEscalated,
    Suspended,
    SuspensionWarning,
    Welcome,
    WrittenOff,
)
from shared.notifications.recipients import Addressee
from shared.notifications.render import Brand

BRAND = Brand(
    name="Contoso Cloud Partners",
    support_email="support@contoso-cloud.example",
    support_phone="+31 20 555 0100",
    support_url="https://help.contoso-cloud.example/",
    logo_url="https://contoso-cloud.example/logo.png",
)

# The golden readers: each locale in a zone where the instants below fall on another day
# or hour than in UTC.
READERS = {
    "en": {"locale": "en", "time_zone": "America/New_York"},
    "nl": {"locale": "nl", "time_zone": "Europe/Amsterdam"},
}
LOCALES = tuple(READERS)


def eur(minor: int) -> Money:
    return Money(amount_minor=minor, currency="EUR")


def at(day: int, hour: int = 12, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=UTC)


def url(path: str) -> AnyHttpUrl:
    return AnyHttpUrl(f"https://portal.contoso-cloud.example/{path}")


VISA = CardRef(brand="visa", last4="4242", exp_month=7, exp_year=2030)
CUSTOMER = "Northwind Traders"

SAMPLES: dict[NoticeKind, NoticeModel] = {
    "welcome": Welcome(
        customer_name=CUSTOMER,
        domain="northwinddemo.onmicrosoft.com",
        products=(
            ProductLine(product="Microsoft 365 Business Premium", quantity=25),
            ProductLine(product="Microsoft Teams Rooms Pro", quantity=1),
        ),
    ),
    "order_provisioned": OrderProvisioned(
        customer_name=CUSTOMER,
        order_id="ord-2030-0601",
        lines=(
            OrderedLine(
                product="Microsoft 365 Business Premium",
                quantity=25,
                term="P1Y",
                price=eur(55000),
            ),
            OrderedLine(product="Exchange Online (Plan 1)", quantity=1, term="P1M", price=eur(480)),
        ),
        total=eur(55480),
        provisioned_at=at(1, 23, 30),
    ),
    "order_failed": OrderFailed(
        customer_name=CUSTOMER,
        order_id="ord-2030-0602",
        reason="domain_unavailable",
        failed_at=at(2, 9, 15),
        refunded=eur(55480),
    ),
    "approval_requested": ApprovalRequested(
        customer_name=CUSTOMER,
        change_id="chg-7f3a",
        product="Microsoft 365 E5",
        from_quantity=40,
        to_quantity=120,
        amount=eur(1_824_000),
        requested_by="Nancy Davolio",
        requested_at=at(3, 8, 0),
        decide_by=at(5, 17, 0),
        approve_url=url("approvals/chg-7f3a/approve?t=one-action-token-a"),
        decline_url=url("approvals/chg-7f3a/decline?t=one-action-token-d"),
    ),
    "approval_decided": ApprovalDecided(
        customer_name=CUSTOMER,
        change_id="chg-7f3a",
        product="Microsoft 365 E5",
        from_quantity=40,
        to_quantity=120,
        approved=False,
        decided_at=at(4, 10, 0),
        note="Let us talk about an annual plan first: it costs less for 120 seats.",
    ),
    "licence_change_applied": LicenceChangeApplied(
        customer_name=CUSTOMER,
        change_id="chg-8b21",
        product="Microsoft 365 Business Premium",
        from_quantity=25,
        to_quantity=30,
        effective_at=at(6, 14, 45),
        charge=eur(9_342),
    ),
    "licence_change_scheduled": LicenceChangeScheduled(
        customer_name=CUSTOMER,
        change_id="chg-8b22",
        product="Microsoft 365 Business Premium",
        from_quantity=30,
        to_quantity=10,
        effective_at=at(1, 0, 0, month=9),
        reason="outside_cancellation_window",
    ),
    "renewal_reminder": RenewalReminder(
        customer_name=CUSTOMER,
        subscription_id="sub-4c1d",
        product="Microsoft 365 Business Premium",
        quantity=30,
        term="P1Y",
        term_end=at(30, 23, 59),
        auto_renew=True,
        renewal_price=eur(660_000),
        decision_deadline=at(29, 23, 0),
        decision_url=url("renewals/sub-4c1d?t=one-action-token-r"),
    ),
    "renewal_decision_confirmed": RenewalDecisionConfirmed(
        customer_name=CUSTOMER,
        subscription_id="sub-4c1d",
        product="Microsoft 365 Business Premium",
        decision="change",
        quantity=28,
        term_end=at(30, 23, 59),
        renewal_price=eur(616_000),
        changeable_until=at(29, 23, 0),
        decision_url=url("renewals/sub-4c1d?t=one-action-token-r2"),
    ),
    "renewal_outcome": RenewalOutcome(
        customer_name=CUSTOMER,
        subscription_id="sub-4c1d",
        product="Microsoft 365 Business Premium",
        outcome="renewed",
        quantity=28,
        new_term_end=at(30, 23, 59, month=6).replace(year=2031),
        amount=eur(616_000),
    ),
    "payment_failed": PaymentFailed(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_due=eur(12_345),
        reason="insufficient_funds",
        failed_at=at(10, 3, 0),
        pay_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"),
        card=VISA,
        next_retry_at=at(13, 3, 0),
        suspension_at=at(24, 22, 30),
    ),
    "invoice_issued": InvoiceIssued(
        customer_name=CUSTOMER,
        invoice_number="contoso-2030-06",
        period="2030-06",
        total=eur(237_838),
        collection="due",
        due_at=at(30, 12, 0),
        invoice_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_aW52b2ljZQ"),
    ),
    "payment_retry_scheduled": PaymentRetryScheduled(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_due=eur(12_345),
        retry_at=at(13, 3, 0),
        attempt=2,
        pay_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"),
        card=VISA,
    ),
    "payment_method_requested": PaymentMethodRequested(
        customer_name=CUSTOMER,
        order_id="shop-10042",
        setup_url=AnyHttpUrl("https://checkout.stripe.com/c/pay/cs_test_a1b2c3"),
        expires_at=at(2, 9, 30),
    ),
    "card_expiring": CardExpiring(
        customer_name=CUSTOMER,
        card=VISA,
        update_url=url("billing/card?t=one-action-token-c"),
        next_charge_at=at(1, 6, 0, month=8),
    ),
    "suspension_warning": SuspensionWarning(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_due=eur(12_345),
        suspension_at=at(24, 22, 30),
        pay_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"),
        products=("Microsoft 365 Business Premium", "Exchange Online (Plan 1)"),
    ),
    "suspended": Suspended(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_due=eur(12_345),
        suspended_at=at(24, 22, 30),
        pay_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"),
        products=("Microsoft 365 Business Premium", "Exchange Online (Plan 1)"),
    ),
    "reactivated": Reactivated(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_paid=eur(12_345),
        reactivated_at=at(25, 8, 5),
        products=("Microsoft 365 Business Premium", "Exchange Online (Plan 1)"),
    ),
    "written_off": WrittenOff(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount=eur(12_345),
        written_off_at=at(26, 12, 0, month=7),
        subscriptions_cancelled=True,
    ),
    "sla_at_risk": SlaAtRisk(
        customer_name=CUSTOMER,
        sla="onboarding",
        subject_id="ord-2030-0601",
        tier="premium",
        started_at=at(1, 9, 0),
        deadline=at(2, 9, 0),
        at_risk_at=at(2, 3, 0),
        status_url=url("ops/sla/ord-2030-0601"),
    ),
    "sla_breached": SlaBreached(
        customer_name=CUSTOMER,
        sla="licence_change",
        subject_id="chg-8b21",
        tier="standard",
        started_at=at(1, 9, 0),
        deadline=at(3, 17, 0),
        breached_at=at(3, 17, 0),
        status_url=url("ops/sla/chg-8b21"),
    ),
    "sla_escalated": SlaEscalated(
        customer_name=CUSTOMER,
        sla="renewal_decision",
        subject_id="sub-4c1d",
        tier="premium",
        started_at=at(1, 9, 0),
        deadline=at(29, 23, 0),
        escalated_at=at(28, 23, 0),
        level=2,
        status_url=url("ops/sla/sub-4c1d"),
    ),
    "ops_alert": OpsAlert(
        alert="workflow_failed",
        occurred_at=at(11, 4, 20),
        source="dunning",
        reference="dunning-in_1Demo42",
        failure='charge_invoice: PaymentsUnavailable: Stripe answered 503 "try again later"',
        customer_name=CUSTOMER,
        status_url=url("ops/instances/dunning-in_1Demo42"),
    ),
    "invoice_overdue": InvoiceOverdue(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_due=eur(12_345),
        due_at=at(3, 12, 0),
        pay_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"),
        suspension_at=at(24, 22, 30),
    ),
    "auto_renew_off_unpaid": AutoRenewOffUnpaid(
        customer_name=CUSTOMER,
        invoice_number="INV-2030-0042",
        amount_due=eur(12_345),
        pay_url=AnyHttpUrl("https://invoice.stripe.com/i/acct_1Demo/test_YWNjdF8xRGVtbw"),
        term_ends_at=at(20, 0, 0),
        products=("Microsoft 365 Business Premium",),
    ),
    "card_expiring_reminder": CardExpiringReminder(
        customer_name=CUSTOMER,
        card=VISA,
        update_url=url("billing/card?t=one-action-token-r"),
        next_charge_at=at(1, 6, 0, month=8),
    ),
    "licence_change_not_applied": LicenceChangeNotApplied(
        customer_name=CUSTOMER,
        change_id="chg-9c04",
        change="quantity",
        product="Microsoft 365 Business Premium",
        from_quantity=25,
        to_quantity=30,
        reason="partner_refused",
        decided_at=at(5, 14, 2),
        refunded=eur(10_833),
        note="Microsoft sells at most 300 licences of this product to one customer.",
    ),
    "renewal_decision_not_applied": RenewalDecisionNotApplied(
        customer_name=CUSTOMER,
        subscription_id="sub-4c1d",
        product="Microsoft 365 Business Premium",
        decision="cancel",
        reason="renewal_processing",
        term_end=at(30, 23, 59),
        renews=True,
        next_step="cancel_in_window",
        next_step_until=at(7, 23, 59, month=7),
        cost_per_day=eur(2_170),
    ),
}
assert set(SAMPLES) == set(KINDS), set(KINDS) - set(SAMPLES)

CONTACT_NAMES = {
    "primary": ("Nancy Davolio", "nancy@northwind.example"),
    "billing": ("Andrew Fuller", "ap@northwind.example"),
    "technical": ("Janet Leverling", "it@northwind.example"),
    "approver": ("Steven Buchanan", "approvals@contoso-cloud.example"),
    "ops": ("Operations", "ops@contoso-cloud.example"),
}


def reader(kind: NoticeKind, locale: str) -> Addressee:
    """The golden reader of `kind`: its first default role, in `locale`'s reader setup."""
    role = KINDS[kind].roles[0]
    name, email = CONTACT_NAMES[role]
    return Addressee(name=name, email=email, role=role, **READERS[locale])
