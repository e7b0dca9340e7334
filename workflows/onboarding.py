"""Onboarding: a storefront order becomes a customer with working licences and a paid first
invoice, durably, on its SLA clock (docs/onboarding.md).

Instance `order-<order id>` (triggers/orders.py; event intake signals it by the Stripe
metadata `cspflow_order_id`). Each step an activity keyed by `<instance>/<step>`; the steps
that do not depend on each other run together (below, "1-3"):

1. the order (and a new customer) reserved in the book; the onboarding SLA clock started,
   counting from the moment the order was received;
2. a new customer: the domain free (as the API found it, else asked), the Partner Center
   customer created, the Microsoft Customer Agreement attested by its primary contact, dated
   the order day;
3. the Stripe customer (cspflow's id in its metadata), recorded with the tenant on the book's
   customer, and the card from the storefront saved as its default; or a card-setup link
   mailed, and the workflow waits for the card
   (`card_updated`), with a reminder and a timeout that fails the order ("no payment
   method");
4. money before Microsoft: the first billing period of every line
   (shared/policy/onboarding.py) invoiced and paid; a decline fails the order with nothing
   bought (the open invoice voided); on invoice terms the invoice is sent and the order goes on;
5. one cart of the lines checked out; provisioning read at once, then on durable timers,
   backing off, bounded;
6. the subscriptions recorded in the book (with the first invoice's charge of each, for the
   reconciliation), the order provisioned, the welcome sent, the SLA
   clock met, the `time_to_value` KPI event recorded.

Compensation: a failure after payment refunds what was paid (a credit note on the first
invoice), or voids the first invoice sent on invoice terms; a failure after checkout cancels
what was bought (inside Microsoft's 7-day window) and refunds; whatever cannot be undone
raises an ops alert. Every failure ends the order `failed` with a reason a person can act on,
tells the customer, and cancels the SLA clock.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.notifications import SendNotice, send_notice
from activities.onboarding import (
    AttestAgreement,
    BuyLines,
    CancelBought,
    CheckDomain,
    CreateTenant,
    LinkStripe,
    Provisioning,
    RaiseOrderAlert,
    ReadProvisioning,
    RecordSubscriptions,
    RecordTimeToValue,
    ReserveOrder,
    SetOrderStatus,
    attest_customer_agreement,
    buy_lines,
    cancel_bought,
    check_domain,
    create_partner_center_customer,
    link_stripe_customer,
    raise_order_alert,
    read_provisioning,
    record_order_subscriptions,
    record_time_to_value,
    reserve_order,
    set_order_status,
)
from activities.payments import (
    AttachCard,
    Charged,
    ChargeLines,
    CompleteCardSetup,
    CreateCardSetupLink,
    CreditInvoice,
    PaymentLine,
    SetUpStripeCustomer,
    VoidInvoice,
    attach_card,
    charge_lines,
    complete_card_setup,
    create_card_setup_link,
    credit_invoice,
    set_up_stripe_customer,
    void_invoice,
)
from activities.sla_clocks import SignalClock, signal_sla_clock
from shared.errors import Failure
from shared.models import Money
from shared.models.onboarding import (
    FirstInvoice,
    Onboarding,
    OrderProgress,
    StepDone,
    StepName,
)
from shared.models.order import OrderStatus
from shared.models.sla import SlaAction, SlaSignal
from shared.notifications import Addressee
from shared.notifications.kinds import (
    OrderedLine,
    OrderFailed,
    OrderFailureReason,
    OrderProvisioned,
    PaymentMethodRequested,
    ProductLine,
    Welcome,
)
from workflows.durable import (
    Call,
    Outcome,
    at_least,
    call,
    orchestration,
    read_input,
    run,
    set_status,
    settle,
    settle_all,
    step_key,
)

bp = df.Blueprint()

ORCHESTRATOR = "onboarding"
ORDER_KEY = "cspflow_order_id"  # the Stripe metadata event intake routes by
CARD_EVENT = "card_updated"
# Provisioning is polled on durable timers: 5 s, doubled up to 5 min, for at most 24 h.
FIRST_POLL = timedelta(seconds=5)
LONGEST_POLL = timedelta(minutes=5)
PROVISIONING_LIMIT = timedelta(hours=24)
# A card-setup link (a Checkout page lives 24 hours): a reminder with a new one after a day,
# the order fails as "no payment method" when that one has expired too.
CARD_REMINDER = timedelta(days=1)
CARD_TIMEOUT = timedelta(days=2)
# The version (host.json defaultVersion) from which the first steps run in two groups and a
# provisioning done at the first read goes straight to provisioned (docs/onboarding.md,
# "The workflow").
GROUPED = "1.1"
# The version from which the card is saved with the Stripe customer, the first invoice is
# collected alongside the MCA, the clock and the book's link, and the checkout reads the
# provisioning once: four waits in a row from the order to licences found usable, not six.
CHARGED_ALONGSIDE = "1.2"
# The version from which a failure voids a first invoice sent on invoice terms (and tells the
# customer) instead of asking a person to: an order that bought nothing owes nothing.
VOIDS_SENT = "1.3"


def instance_id(order_id: str) -> str:
    return f"order-{order_id}"


class _Progress:
    """What the workflow publishes after each step (its custom status) and returns."""

    def __init__(self, context: df.DurableOrchestrationContext, order: Onboarding) -> None:
        self.context = context
        self.status: OrderStatus = "received"
        self.steps: list[StepDone] = []
        self.tenant_id = order.tenant_id
        self.pc_orders: tuple[str, ...] = ()
        self.invoice: FirstInvoice | None = None
        self.reason: str | None = None
        # Not published: whether the SLA clock was started (a failure cancels it); a tenant
        # and a Stripe customer made but not yet in the book (a failure records the tenant).
        self.clock_started = False
        self.unrecorded_tenant: str | None = None
        self.unlinked_stripe: str | None = None
        # From 1.2: the first invoice's outcome while the steps that ran alongside it are
        # read (a failure among them undoes it); taken up once they all succeeded.
        self.charge_alongside: Outcome[Charged] | None = None

    def done(self, step: StepName, detail: str | None = None) -> None:
        self.steps.append(StepDone(step=step, at=self.context.current_utc_datetime, detail=detail))
        set_status(self.context, self.view())

    def view(self) -> OrderProgress:
        return OrderProgress(
            status=self.status,
            steps=tuple(self.steps),
            tenant_id=self.tenant_id,
            partner_center_order_ids=self.pc_orders,
            first_invoice=self.invoice,
            reason=self.reason,
        )


@orchestration(bp)
def onboarding(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    order = read_input(context, Onboarding)
    progress = _Progress(context, order)
    set_status(context, progress.view())

    def key(step: str) -> str:
        return step_key(context, step)

    def fail(
        reason: OrderFailureReason,
        words: str,
        *,
        first: Charged | None = None,
        bought: tuple[str, ...] = (),
        alert: str | None = None,
    ) -> Generator[Any, Any, dict[str, Any]]:
        """Undo what can be undone, then end the order failed with `words`. `first`: the
        first invoice, when the order fails after it (what it took refunded; sent on invoice
        terms, voided)."""
        undone: list[str] = []
        alerts = [alert] if alert else []
        alongside, progress.charge_alongside = progress.charge_alongside, None
        if alongside is not None:
            # The first invoice went with the step that failed (1.2): undone as after it, an
            # invoice it could not collect voided.
            if alongside.value is None:
                alerts.append("the first invoice's state is unknown: check it in Stripe")
            elif alongside.value.status == "declined":
                yield from run(
                    context,
                    void_invoice,
                    VoidInvoice(step_key=key("void"), invoice_id=alongside.value.invoice.id),
                )
            else:
                first = alongside.value
        sent = first.invoice if first is not None and first.status == "sent" else None
        if sent is not None and not at_least(context, VOIDS_SENT):
            alerts.append(f"void the sent invoice {sent.id}")
            sent = None
        if progress.unrecorded_tenant is not None:
            # The tenant exists at Microsoft whatever becomes of the order: the book knows it
            # (and the Stripe customer, when one was made and not yet recorded).
            out_link = yield from run(
                context,
                link_stripe_customer,
                LinkStripe(step_key=key("tenant-record"), customer_id=order.customer_id,
                           tenant_id=progress.unrecorded_tenant,
                           stripe_customer_id=progress.unlinked_stripe),
                retry="patient",
            )  # fmt: skip
            if not out_link.ok:
                alerts.append(f"tenant {progress.unrecorded_tenant} is not in the book")
        if bought and progress.tenant_id:
            out = yield from run(
                context,
                cancel_bought,
                CancelBought(step_key=key("cancel"), tenant_id=progress.tenant_id,
                             subscription_ids=bought),
                retry="patient",
            )  # fmt: skip
            if out.value is not None and not out.value.refused:
                progress.done("cancelled_at_microsoft", ", ".join(out.value.cancelled))
            else:
                alerts.append(f"could not cancel {', '.join(bought)}")
        voided: str | None = None
        if sent is not None:
            out_void = yield from run(
                context,
                void_invoice,
                VoidInvoice(step_key=key("void-sent"), invoice_id=sent.id),
                retry="patient",
            )
            if out_void.ok:
                voided = sent.number or sent.id
                progress.done("invoice_voided", sent.id)
                undone.append(f"invoice {voided} voided")
            else:  # paid since (Stripe voids open invoices only), or Stripe down for an hour
                alerts.append(
                    f"could not void the sent invoice {sent.id} ({_why(out_void.failure)}): "
                    "void it in Stripe, or refund what was paid on it"
                )
        refunded: Money | None = None
        if first is not None and first.amount_paid.amount_minor > 0:
            refund = first.amount_paid
            out_refund = yield from run(
                context,
                credit_invoice,
                CreditInvoice(
                    step_key=key("refund"),
                    invoice_id=first.invoice.id,
                    amount=refund,
                    description=f"Order {order.order_id}: not delivered",
                ),
                retry="patient",
            )
            if out_refund.ok:
                refunded = refund
                progress.done("refunded", str(refund))
                undone.append(f"{refund} refunded")
            else:
                alerts.append(f"refund of {refund} failed")
        progress.status = "failed"
        progress.reason = words + (f" ({'; '.join(undone)})" if undone else "")
        yield from run(
            context,
            set_order_status,
            SetOrderStatus(step_key=key("status-failed"), order_id=order.order_id,
                           status="failed"),
        )  # fmt: skip
        if progress.clock_started:
            yield from _clock(context, order, "cancel", key("sla-cancel"))
        yield from run(
            context,
            send_notice,
            SendNotice(
                step_key=key("notice-failed"),
                notice=OrderFailed(
                    customer_name=order.company_name,
                    order_id=order.order_id,
                    reason=reason,
                    failed_at=context.current_utc_datetime,
                    refunded=refunded,
                    voided_invoice=voided,
                ),
                customer_id=order.customer_id,
                contacts=_addressees(order),
            ),
        )
        if alerts:
            yield from _alert(context, order, f"failed and needs a person: {'; '.join(alerts)}")
        set_status(context, progress.view())
        return progress.view().model_dump(mode="json")

    # 1-4. the book, the tenant, Stripe, the MCA, the first invoice ------------------------
    # Steps that do not wait on each other run together (one task_all each): the host's part
    # of an order is its number of waits in a row. 1.2's grouping (CHARGED_ALONGSIDE) has two:
    #   the reserve, the tenant and the Stripe customer with the card saved (the domain
    #   checked first, with the reserve, when the API could not ask Partner Center);
    #   the MCA, the clock, the book's one write of the tenant and the Stripe customer, and
    #   the first invoice (which needs only the card: a failure of another step of the
    #   group refunds it).
    # An instance started on 1.1 replays its own: the same first group, with the card saved
    # in the second and the first invoice after it. One started before 1.1 replays 1.0's
    # four: the reserve; the clock, the domain and the Stripe customer; the tenant (recorded
    # by its own step), the Stripe link and the card; the MCA.
    grouped = at_least(context, GROUPED)
    alongside = at_least(context, CHARGED_ALONGSIDE)
    new = order.new_customer
    stripe_id = order.stripe_customer_id
    waits_for_card = new is not None and new.payment == "card_link" and new.payment_method is None
    checks_domain = new is not None and (not grouped or order.domain_free_at is None)

    def reserve() -> Call[Any, Any]:
        return call(context, reserve_order, ReserveOrder(step_key=key("reserve"), order=order))

    def domain() -> Call[Any, Any] | None:
        # The check is in the history once made: a replay, or the host restarted after the
        # create, reads the answer it got before the tenant existed.
        if new is None or not checks_domain:
            return None
        return call(context, check_domain, CheckDomain(domain=new.domain))

    def clock_start() -> Call[Any, Any]:
        progress.clock_started = True
        return _clock_call(context, order, "start", key("sla-start"))

    def tenant() -> Call[Any, Any] | None:
        if new is None:
            return None
        return call(
            context,
            create_partner_center_customer,
            CreateTenant(step_key=key("partner-center-customer"), order=order, record=not grouped),
            retry="patient",
        )

    def stripe_customer() -> Call[Any, Any] | None:
        if stripe_id is not None:
            return None
        return call(
            context,
            set_up_stripe_customer,
            SetUpStripeCustomer(
                step_key=key("stripe-customer"),
                customer_id=order.customer_id,
                name=order.company_name,
                email=str(order.contacts[0].email),
                metadata={ORDER_KEY: order.order_id},
                payment_method_id=new.payment_method if alongside and new is not None else None,
            ),
        )

    def link() -> Call[Any, Any] | None:
        # (Before 1.1 the tenant is recorded by its own step, so it is never unrecorded here.)
        if progress.unlinked_stripe is None and progress.unrecorded_tenant is None:
            return None
        return call(
            context,
            link_stripe_customer,
            LinkStripe(
                step_key=key("stripe-link"),
                customer_id=order.customer_id,
                stripe_customer_id=progress.unlinked_stripe,
                tenant_id=progress.unrecorded_tenant,
            ),
            retry="patient" if grouped else "standard",
        )

    def card() -> Call[Any, Any] | None:
        if new is None or new.payment_method is None or alongside:  # (1.2: with the customer)
            return None
        assert stripe_id is not None
        return call(
            context,
            attach_card,
            AttachCard(
                step_key=key("card"),
                stripe_customer_id=stripe_id,
                payment_method_id=new.payment_method,
            ),
        )

    def attest() -> Call[Any, Any] | None:
        if new is None or progress.tenant_id is None:
            return None
        first, _, last = new.primary.name.partition(" ")
        return call(
            context,
            attest_customer_agreement,
            AttestAgreement(
                step_key=key("mca"),
                tenant_id=progress.tenant_id,
                first_name=first,
                last_name=last or first,
                email=str(new.primary.email),
                date_agreed=order.received_at,
            ),
            retry="patient",
        )

    def charge() -> Call[Any, Any]:
        assert stripe_id is not None
        return call(
            context,
            charge_lines,
            ChargeLines(
                step_key=key("first-invoice"),
                stripe_customer_id=stripe_id,
                currency=order.currency,
                lines=tuple(
                    PaymentLine(
                        reference=p.line.catalog_item_id,
                        description=f"{p.name} x {p.line.quantity}",
                        amount=p.first_charge,
                        period_start=p.period_start,
                        period_end=p.period_end,
                    )
                    for p in order.lines
                ),
                description=f"Order {order.order_id}",
                metadata={ORDER_KEY: order.order_id},
                days_until_due=order.net_days,
            ),
        )

    Group = list[Callable[[], Call[Any, Any] | None]]
    groups: list[Group]
    if grouped:
        # The API found the domain free a moment ago (a taken one still fails the create, as
        # `domain_unavailable`); when it could not ask, the domain is checked with the
        # reserve, before the tenant.
        first: list[Group] = (
            [[reserve, domain], [tenant, stripe_customer]]
            if checks_domain
            else [[reserve, tenant, stripe_customer]]
        )
        # (A card to come through the card-setup link is waited for after the group.)
        paying: Group = [charge] if alongside and not waits_for_card else []
        groups = [*first, [attest, card, clock_start, link, *paying]]
    else:
        groups = [[reserve], [clock_start, domain, stripe_customer], [tenant, link, card], [attest]]
    for group in groups:
        calls = [c for c in (make() for make in group) if c is not None]
        by_name = {o.activity: o for o in (yield from settle_all(*calls))}
        # Held where fail() finds it, so that a failure read below undoes it.
        progress.charge_alongside = by_name.get(charge_lines.name)
        nothing = (
            "nothing was bought"
            if progress.charge_alongside is not None
            else "nothing was charged or bought"
        )
        # Each outcome is read in this order, whichever group it came in.
        reserved = by_name.get(reserve_order.name)
        unreserved = reserved.failure if reserved is not None and not reserved.ok else None
        if reserved is not None and reserved.ok:
            progress.done("reserved")
        if reserved is not None and new is not None and not checks_domain:
            progress.done("domain_checked", "free when the order was received")
        if unreserved is not None and not grouped:
            # 1.0 reserved alone, first: nothing has happened, nothing to undo, nobody to tell
            progress.status, progress.reason = "failed", _why(unreserved)
            set_status(context, progress.view())
            return progress.view().model_dump(mode="json")
        checked = by_name.get(check_domain.name)
        if new is not None and checked is not None:
            if checked.value is not None and not checked.value.available:
                return (yield from fail("domain_unavailable", _taken(new.domain)))
            progress.done("domain_checked")
        created = by_name.get(create_partner_center_customer.name)
        if new is not None and created is not None:
            if created.value is None:
                if created.failure is not None and created.failure.code == "domain_unavailable":
                    return (yield from fail("domain_unavailable", _taken(new.domain)))
                return (
                    yield from fail(
                        "provider_error",
                        "Partner Center could not create the customer "
                        f"({_why(created.failure)}); nothing was charged or bought.",
                    )
                )
            progress.tenant_id = created.value.tenant_id
            progress.unrecorded_tenant = created.value.tenant_id if grouped else None
            progress.done("customer_created", created.value.tenant_id)
        made = by_name.get(set_up_stripe_customer.name)
        if made is not None:
            if made.value is None:
                return (
                    yield from fail(
                        "provider_error",
                        f"Stripe could not set up the customer ({_why(made.failure)}); "
                        "nothing was charged or bought.",
                    )
                )
            stripe_id = progress.unlinked_stripe = made.value.stripe_customer_id
            progress.done("stripe_customer", stripe_id)
            if made.value.decline is not None:  # (1.2: the card saved with the customer)
                return (yield from fail("payment_declined", _refused(made.value.decline.message)))
            if made.value.card is not None:
                progress.done("card_saved")
        if unreserved is not None:
            # 1.1 reserves alongside the tenant and the Stripe customer (the API's command
            # ledger has already made the order id the order's own, so only an outage of the
            # book gets here): what was made is recorded where it can be, and a person told.
            return (
                yield from fail(
                    "provider_error",
                    f"cspflow could not record the order in its book ({_why(unreserved)}); "
                    "nothing was charged or bought.",
                    alert=f"order {order.order_id} is not in the book",
                )
            )
        linked = by_name.get(link_stripe_customer.name)
        if linked is not None and linked.ok:
            progress.unrecorded_tenant = progress.unlinked_stripe = None
        elif grouped and linked is not None:  # (1.0 went on without the link)
            return (
                yield from fail(
                    "provider_error",
                    "cspflow could not record the customer's Partner Center tenant and "
                    f"Stripe customer in its book ({_why(linked.failure)}); {nothing}.",
                    alert=f"customer {order.customer_id}: tenant {progress.tenant_id}, "
                    f"Stripe customer {stripe_id} not in the book",
                )
            )
        saved = by_name.get(attach_card.name)
        if saved is not None:
            if saved.value is None or saved.value.decline is not None:
                why = (
                    saved.value.decline.message
                    if saved.value is not None and saved.value.decline is not None
                    else _why(saved.failure)
                )
                return (yield from fail("payment_declined", _refused(why)))
            progress.done("card_saved")
        attested = by_name.get(attest_customer_agreement.name)
        if attested is not None:
            if not attested.ok:
                return (
                    yield from fail(
                        "provider_error",
                        "Partner Center refused the Microsoft Customer Agreement attestation "
                        f"({_why(attested.failure)}); {nothing}. The customer exists in "
                        "Partner Center: attest the agreement there, then order again.",
                        alert="customer created in Partner Center but the MCA is not attested",
                    )
                )
            progress.done("mca_attested")
    tenant_id = progress.tenant_id
    assert tenant_id is not None  # an existing customer comes with its tenant (the trigger)
    assert stripe_id is not None
    if waits_for_card:
        got_card = yield from _wait_for_card(context, order, stripe_id, progress, key)
        if not got_card:
            return (
                yield from fail(
                    "payment_declined",
                    "No payment method: the card-setup link was not completed within "
                    f"{CARD_TIMEOUT.days} days. Nothing was charged or bought.",
                )
            )

    # 4. money before Microsoft -------------------------------------------------------------
    charged: Outcome[Charged]
    if progress.charge_alongside is not None:  # (1.2: with the MCA, all of which succeeded)
        charged, progress.charge_alongside = progress.charge_alongside, None
    else:
        charged = yield from settle(charge())
    if charged.value is None:
        return (
            yield from fail(
                "provider_error",
                f"Stripe could not collect the first invoice ({_why(charged.failure)}); "
                "nothing was bought.",
                alert="the first invoice's state is unknown: check it in Stripe",
            )
        )
    invoice = charged.value.invoice
    progress.invoice = FirstInvoice(
        stripe_invoice_id=invoice.id,
        status=invoice.status,
        amount_due=Money(amount_minor=invoice.amount_due, currency=invoice.currency),
        amount_paid=Money(amount_minor=invoice.amount_paid, currency=invoice.currency),
        hosted_invoice_url=invoice.hosted_invoice_url,
    )
    if charged.value.status == "declined":
        yield from run(
            context, void_invoice, VoidInvoice(step_key=key("void"), invoice_id=invoice.id)
        )
        decline = charged.value.decline
        why = decline.message if decline is not None else "the payment was not completed"
        return (
            yield from fail(
                "payment_declined",
                f"The first payment was declined: {why}. Nothing was bought; "
                "order again with another card.",
            )
        )
    charged_at = context.current_utc_datetime
    progress.done("first_invoice", f"{charged.value.status} {invoice.id}")

    # 5. buy, then wait for provisioning ----------------------------------------------------
    bought = yield from run(
        context,
        buy_lines,
        BuyLines(
            step_key=key("checkout"), order=order, tenant_id=tenant_id, read_provisioning=alongside
        ),
        retry="patient",
    )
    if bought.value is None or not bought.value.partner_center_order_ids:
        why = _why(bought.failure) if bought.value is None else "; ".join(bought.value.errors)
        return (
            yield from fail(
                "not_eligible" if bought.failure and bought.failure.kind == "permanent"
                else "provider_error",
                f"Partner Center did not take the order ({why}).",
                first=charged.value,
            )
        )  # fmt: skip
    progress.pc_orders = bought.value.partner_center_order_ids
    progress.status = "provisioning"
    progress.done("checkout", ", ".join(progress.pc_orders))

    def mark_provisioning() -> Call[Any, Any]:
        return call(
            context,
            set_order_status,
            SetOrderStatus(
                step_key=key("status-provisioning"),
                order_id=order.order_id,
                status="provisioning",
                partner_center_order_id=progress.pc_orders[0],
            ),
        )

    # The book's order reads `provisioning` while Microsoft provisions: from 1.1 only when
    # the first poll finds it not done (with the first timer: a provisioning done at once
    # goes straight to `provisioned`); before, with the first poll.
    marked: Call[Any, Any] | None = None if grouped else mark_provisioning()
    deadline = context.current_utc_datetime + PROVISIONING_LIMIT
    wait = FIRST_POLL
    subscriptions: tuple[str, ...] = bought.value.subscription_ids
    # From 1.2 the first read came with the checkout (None if it could not be made).
    read: Provisioning | None = bought.value.provisioning
    while True:
        if read is None:
            poll = call(
                context,
                read_provisioning,
                ReadProvisioning(tenant_id=tenant_id, partner_center_order_ids=progress.pc_orders),
            )
            # Before 1.1 the first poll goes with the status change (one action); the others
            # alone.
            read = (yield from settle_all(*([marked] if marked else []), poll))[-1].value
            marked = None
        if read is not None:
            subscriptions = read.subscription_ids or subscriptions
            if read.done:
                break
        read = None
        if grouped and wait == FIRST_POLL:
            yield from settle_all(mark_provisioning())
        if context.current_utc_datetime + wait > deadline:
            return (
                yield from fail(
                    "provider_error",
                    f"Microsoft did not provision the order within {PROVISIONING_LIMIT}.",
                    first=charged.value,
                    bought=subscriptions,
                    alert=None if subscriptions else "bought, but no subscription id to cancel",
                )
            )
        yield context.create_timer(context.current_utc_datetime + wait)
        wait = min(wait * 2, LONGEST_POLL)
    # The licences are usable: the storefront sees `provisioned` now (published with the
    # episode that schedules the closing steps), not after the book and the welcome mail.
    progress.status = "provisioned"
    progress.done("provisioned")
    usable_at = context.current_utc_datetime

    # 6. record, welcome, stop the clock, KPI ------------------------------------------------
    notice: Welcome | OrderProvisioned
    if new is not None:
        notice = Welcome(
            customer_name=order.company_name,
            domain=new.domain,
            products=tuple(
                ProductLine(product=p.name, quantity=p.line.quantity) for p in order.lines
            ),
        )
    else:
        notice = OrderProvisioned(
            customer_name=order.company_name,
            order_id=order.order_id,
            lines=tuple(
                OrderedLine(
                    product=p.name,
                    quantity=p.line.quantity,
                    term=p.line.term_duration,
                    price=p.line.amount,
                )
                for p in order.lines
            ),
            total=order.first_total,
            provisioned_at=usable_at,
        )
    # The licences are usable: the rest runs together.
    recorded, _, welcomed, _, _ = yield from settle_all(
        call(
            context,
            record_order_subscriptions,
            RecordSubscriptions(
                step_key=key("record"),
                customer_id=order.customer_id,
                tenant_id=tenant_id,
                partner_center_order_ids=progress.pc_orders,
                order_id=order.order_id,
                lines=order.lines,
                stripe_invoice_id=invoice.id,
                charged_at=charged_at,
            ),
            retry="patient",
        ),
        call(
            context,
            set_order_status,
            SetOrderStatus(step_key=key("status-provisioned"), order_id=order.order_id,
                           status="provisioned", partner_center_order_id=progress.pc_orders[0]),
        ),
        call(
            context,
            send_notice,
            SendNotice(
                step_key=key("welcome"),
                notice=notice,
                customer_id=order.customer_id,
                contacts=_addressees(order),
            ),
        ),
        _clock_call(context, order, "met", key("sla-met"), at=usable_at),
        call(
            context,
            record_time_to_value,
            RecordTimeToValue(
                step_key=key("kpi"),
                customer_id=order.customer_id,
                order_id=order.order_id,
                received_at=order.received_at,
                usable_at=usable_at,
                lines=len(order.lines),
            ),
        ),
    )  # fmt: skip
    progress.done("recorded", None if recorded.ok else _why(recorded.failure))
    progress.done("welcomed", None if welcomed.ok else _why(welcomed.failure))
    if not recorded.ok:
        yield from _alert(
            context,
            order,
            "is provisioned but the book is incomplete: "
            f"subscriptions not recorded ({_why(recorded.failure)})",
        )
    set_status(context, progress.view())
    return progress.view().model_dump(mode="json")


def _wait_for_card(
    context: df.DurableOrchestrationContext,
    order: Onboarding,
    stripe_id: str,
    progress: _Progress,
    key: Any,
) -> Generator[Any, Any, bool]:
    """Mail a card-setup link and wait for the card (`card_updated`, from Stripe's
    `checkout.session.completed`): a reminder after `CARD_REMINDER`, given up after
    `CARD_TIMEOUT`. The SLA clock is paused while the customer has the move."""
    link = yield from _mail_card_link(context, order, stripe_id, key, reminder=False)
    if link is None:
        return False
    session = link[1]
    progress.status = "awaiting_payment_method"
    progress.done("card_link_sent", link[0])
    yield from run(
        context,
        set_order_status,
        SetOrderStatus(step_key=key("status-awaiting"), order_id=order.order_id,
                       status="awaiting_payment_method"),
    )  # fmt: skip
    yield from _clock(context, order, "pause", key("sla-pause"))
    started = context.current_utc_datetime
    reminded = False
    while True:
        card = context.wait_for_external_event(CARD_EVENT)
        until = started + (CARD_TIMEOUT if reminded else CARD_REMINDER)
        timer = context.create_timer(until)
        winner = yield context.task_any([card, timer])
        if winner == card:
            timer.cancel()
            break
        if reminded:
            return False
        # A Checkout page lives 24 hours: the reminder carries a new one.
        again = yield from _mail_card_link(context, order, stripe_id, key, reminder=True)
        if again is not None:
            session = again[1]
            progress.done("card_link_sent", again[0])
        reminded = True
    saved = yield from run(
        context,
        complete_card_setup,
        CompleteCardSetup(step_key=key("card-default"), checkout_session_id=session),
    )
    if saved.value is None or saved.value.card is None:
        return False
    progress.status = "received"
    progress.done("card_saved", "through the card-setup link")
    yield from _clock(context, order, "resume", key("sla-resume"))
    return True


def _mail_card_link(
    context: df.DurableOrchestrationContext,
    order: Onboarding,
    stripe_id: str,
    key: Any,
    *,
    reminder: bool,
) -> Generator[Any, Any, tuple[str, str] | None]:
    """A card-setup page (Stripe Checkout in setup mode, the order id in its metadata so
    that event intake signals this instance) mailed to the customer; its URL and session id,
    or None."""
    suffix = "-reminder" if reminder else ""
    link = yield from run(
        context,
        create_card_setup_link,
        CreateCardSetupLink(
            step_key=key(f"card-link{suffix}"),
            stripe_customer_id=stripe_id,
            success_url=order.card_setup_return_url or "https://admin.microsoft.com/",
            metadata={ORDER_KEY: order.order_id},
        ),
    )
    if link.value is None:
        return None
    yield from run(
        context,
        send_notice,
        SendNotice(
            step_key=key(f"notice-card-link{suffix}"),
            notice=PaymentMethodRequested(
                customer_name=order.company_name,
                order_id=order.order_id,
                setup_url=link.value.url,  # type: ignore[arg-type]  # validated as ActionUrl
                expires_at=link.value.expires_at,
                reminder=reminder,
            ),
            customer_id=order.customer_id,
            contacts=_addressees(order),
        ),
    )
    return link.value.url, link.value.session_id


def _clock(
    context: df.DurableOrchestrationContext,
    order: Onboarding,
    action: SlaAction,
    key: str,
    *,
    at: Any = None,
) -> Generator[Any, Any, None]:
    """A signal to the order's onboarding clock (docs/architecture.md, "Promises on an SLA
    clock"); the clock's own instance applies it."""
    yield from settle_all(_clock_call(context, order, action, key, at=at))


def _clock_call(
    context: df.DurableOrchestrationContext,
    order: Onboarding,
    action: SlaAction,
    key: str,
    *,
    at: Any = None,
) -> Call[Any, Any]:
    return call(
        context,
        signal_sla_clock,
        SignalClock(
            step_key=key,
            signal=SlaSignal(
                action=action,
                kind="onboarding",
                subject_id=order.order_id,
                at=order.received_at if action == "start" else at or context.current_utc_datetime,
                customer_id=order.customer_id,
                owner="onboarding" if action == "start" else None,
                by="onboarding" if action == "cancel" else None,
            ),
        ),
    )


def _alert(
    context: df.DurableOrchestrationContext, order: Onboarding, what: str
) -> Generator[Any, Any, None]:
    """An ops alert about the order (once per order: its key is the order's)."""
    yield from run(
        context,
        raise_order_alert,
        RaiseOrderAlert(
            step_key=step_key(context, "alert"),
            order_id=order.order_id,
            at=context.current_utc_datetime,
            summary=f"order {order.order_id} {what}",
        ),
    )


def _addressees(order: Onboarding) -> tuple[Addressee, ...]:
    return tuple(
        Addressee(name=c.name, email=c.email, role=c.role, locale=order.locale[:2])
        for c in order.contacts
    )


def _taken(domain: str) -> str:
    return (
        f"The domain {domain} is already taken in Microsoft's cloud: "
        "place the order again with another initial domain."
    )


def _refused(why: str) -> str:
    return (
        f"The card was refused: {why}. Nothing was charged or bought; "
        "order again with another card."
    )


def _why(failure: Failure | None) -> str:
    return failure.describe() if failure is not None else "no answer"
