"""The onboarding orchestrator's decisions, driven step by step (tests/orchestrator_driver.py):
money before Microsoft, a decline that buys nothing, compensation after payment and after
checkout, provisioning waited for on durable timers, the SLA clock started, paused and met,
and the customer told once. docs/onboarding.md; docs/rules.md#first-invoice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.errors import Failure
from shared.models.onboarding import Onboarding, OrderProgress
from tests.orchestrator_driver import T0, Event, drive, refused, retries_spent, succeeded
from workflows.onboarding import (
    CARD_EVENT,
    CARD_REMINDER,
    CARD_TIMEOUT,
    CHARGED_ALONGSIDE,
    GROUPED,
    VOIDS_SENT,
    onboarding,
)

RECEIVED = T0
INSTANCE = "order-o-1001"
LINES = [
    ("CFQ7TTC0LH18:0001:CFQ7TTC0K971", "P1Y", "monthly", 5, 720, 3600),
    ("CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK", "P1Y", "annual", 2, 15000, 30000),
    ("CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN", "P1M", "monthly", 1, 2640, 2640),
]
TOTAL = 3600 + 30000 + 2640


def usd(minor: int) -> dict[str, Any]:
    return {"amount_minor": minor, "currency": "USD"}


def order_input(
    *, new: bool = True, domain_free_at: datetime | None = RECEIVED, **customer: Any
) -> dict[str, Any]:
    lines = [
        {
            "line": {
                "catalog_item_id": item,
                "quantity": qty,
                "term_duration": term,
                "billing_cycle": cycle,
                "unit_price": usd(price),
            },
            "name": f"Product {i}",
            "first_charge": usd(first),
            "period_start": RECEIVED.isoformat(),
            "period_end": (RECEIVED + timedelta(days=30)).isoformat(),
        }
        for i, (item, term, cycle, qty, price, first) in enumerate(LINES)
    ]
    contacts = [{"name": "Ada Lovelace", "email": "ada@fabrikam.example", "role": "primary"}]
    data: dict[str, Any] = {
        "order_id": "o-1001",
        "customer_id": "fabrikam",
        "received_at": RECEIVED.isoformat(),
        "currency": "USD",
        "lines": lines,
        "company_name": "Fabrikam",
        "contacts": contacts,
    }
    if new:
        data["new_customer"] = {
            "company_name": "Fabrikam",
            "domain": "fabrikam.onmicrosoft.com",
            "country": "US",
            "address": {"address_line1": "1 Main St", "city": "Redmond", "postal_code": "98052"},
            "contacts": contacts,
            "billing_currency": "USD",
            "payment_method": "pm_card_visa",
            **customer,
        }
        # the API found the domain free as it accepted the order (None: it could not ask)
        data["domain_free_at"] = domain_free_at.isoformat() if domain_free_at else None
    else:
        data |= {"tenant_id": "tenant-1", "stripe_customer_id": "cus_Existing"}
    return Onboarding.model_validate(data).model_dump(mode="json")


def invoice(status: str, paid: int = TOTAL) -> dict[str, Any]:
    return {
        "id": "in_First",
        "customer_id": "cus_New",
        "status": status,
        "number": "F-0001",
        "currency": "USD",
        "total": TOTAL,
        "amount_due": TOTAL,
        "amount_paid": paid,
        "amount_remaining": TOTAL - paid,
        "attempted": True,
        "next_payment_attempt": None,
        "hosted_invoice_url": "https://pay.example/i/in_First",
        "created": RECEIVED.isoformat(),
        "metadata": {"cspflow_order_id": "o-1001"},
    }


PAID = succeeded({"status": "paid", "invoice": invoice("paid"), "payment_intent_id": "pi_1"})
DECLINED = succeeded(
    {
        "status": "declined",
        "invoice": invoice("open", 0),
        "decline": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "decline_class": "soft",
        },
    }
)
CARD = {
    "payment_method_id": "pm_1",
    "customer_id": "cus_New",
    "brand": "visa",
    "last4": "4242",
    "exp_month": 12,
    "exp_year": 2030,
    "is_default": True,
}
BOUGHT = succeeded({"cart_id": "cart-1", "partner_center_order_ids": ["pco-1"]})
SUBS = ["sub-1", "sub-2", "sub-3"]
# The checkout with its own read of the provisioning (1.2), which found it done.
BOUGHT_PROVISIONED = succeeded(
    {
        "cart_id": "cart-1",
        "partner_center_order_ids": ["pco-1"],
        "provisioning": {"done": True, "pending": 0, "subscription_ids": SUBS},
    }
)


def provisioning(done_after: int) -> list[dict[str, Any]]:
    pending = succeeded({"done": False, "pending": 3, "subscription_ids": SUBS})
    done = succeeded({"done": True, "pending": 0, "subscription_ids": SUBS})
    return [pending] * done_after + [done]


def outcomes(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "reserve_order": succeeded({"customer_id": "fabrikam", "status": "received"}),
        "signal_sla_clock": lambda data: succeeded(
            {"queue": "cspflow-sla-signals", "clock_id": "onboarding|o-1001"}
        ),
        "check_domain": succeeded({"domain": "fabrikam.onmicrosoft.com", "available": True}),
        "create_partner_center_customer": succeeded(
            {"tenant_id": "tenant-1", "domain": "fabrikam.onmicrosoft.com"}
        ),
        "attest_customer_agreement": succeeded(
            {"tenant_id": "tenant-1", "date_agreed": RECEIVED.isoformat(), "already": False}
        ),
        "set_up_stripe_customer": lambda data: succeeded(
            {"stripe_customer_id": "cus_New", "card": CARD if data["payment_method_id"] else None}
        ),
        "link_stripe_customer": succeeded(
            {"customer_id": "fabrikam", "stripe_customer_id": "cus_New"}
        ),
        "attach_card": succeeded({"card": CARD}),
        "create_card_setup_link": succeeded(
            {
                "session_id": "cs_1",
                "url": "https://checkout.example/c/cs_1",
                "expires_at": (RECEIVED + timedelta(days=1)).isoformat(),
            }
        ),
        "complete_card_setup": succeeded({"card": CARD}),
        "charge_lines": PAID,
        "void_invoice": succeeded(invoice("void", 0)),
        "buy_lines": BOUGHT,
        "set_order_status": lambda data: succeeded(
            {"order_id": data["order_id"], "status": data["status"]}
        ),
        "read_provisioning": provisioning(2),
        "record_order_subscriptions": succeeded({"subscription_ids": SUBS, "added": 3}),
        "send_notice": lambda data: succeeded(
            {"key": data["step_key"], "kind": data["notice"]["kind"]}
        ),
        "record_time_to_value": succeeded({"recorded": True}),
        "credit_invoice": lambda data: succeeded(
            {
                "credit_note_id": "cn_1",
                "number": "F-0001-CN-01",
                "amount": data["amount"],
                "type": "post_payment",
                "refund_ids": ["re_1"],
            }
        ),
        "cancel_bought": lambda data: succeeded({"cancelled": data["subscription_ids"]}),
        "raise_order_alert": succeeded({"alert_id": "order-o-1001", "raised": True}),
    }
    return base | overrides


def start(
    order: dict[str, Any] | None = None,
    events: list[Event] | None = None,
    version: str = VOIDS_SENT,
    **overrides: Any,
) -> tuple[Any, OrderProgress]:
    run = drive(
        onboarding,
        outcomes(**overrides),
        instance_id=INSTANCE,
        version=version,
        input=order or order_input(),
        current_utc_datetime=RECEIVED + timedelta(seconds=1),
        events=list(events or ()),
    )
    return run, OrderProgress.model_validate(run.output)


def names(run: Any) -> list[str]:
    return [c.name for c in run.calls]


def inputs(run: Any, name: str) -> list[dict[str, Any]]:
    return [c.input for c in run.calls if c.name == name]


def signals(run: Any) -> list[str]:
    return [c["signal"]["action"] for c in inputs(run, "signal_sla_clock")]


def test_a_new_customer_is_created_attested_charged_then_bought_and_welcomed():
    run, done = start()
    assert done.status == "provisioned" and done.reason is None
    assert done.tenant_id == "tenant-1" and done.partner_center_order_ids == ("pco-1",)
    assert done.first_invoice is not None and done.first_invoice.amount_paid.amount_minor == TOTAL
    order = names(run)
    # money before Microsoft: the first invoice is paid before the cart is checked out
    assert order.index("charge_lines") < order.index("buy_lines")
    assert order.index("create_partner_center_customer") < order.index("attest_customer_agreement")
    # the card is saved with the Stripe customer, before the first invoice
    assert order.index("set_up_stripe_customer") < order.index("charge_lines")
    assert "attach_card" not in order
    (stripe,) = inputs(run, "set_up_stripe_customer")
    assert stripe["payment_method_id"] == "pm_card_visa"
    assert [s.step for s in done.steps] == [
        "reserved", "domain_checked", "customer_created", "stripe_customer", "card_saved",
        "mca_attested", "first_invoice", "checkout", "provisioned", "recorded", "welcomed",
    ]  # fmt: skip
    assert signals(run) == ["start", "met"]
    assert [n["notice"]["kind"] for n in inputs(run, "send_notice")] == ["welcome"]
    assert [s["status"] for s in inputs(run, "set_order_status")] == ["provisioning", "provisioned"]


def test_a_provisioning_the_checkout_found_done_goes_straight_to_provisioned_without_a_poll():
    run, done = start(buy_lines=BOUGHT_PROVISIONED)
    assert done.status == "provisioned" and not run.timers
    assert "read_provisioning" not in names(run)
    (bought,) = inputs(run, "buy_lines")
    assert bought["read_provisioning"] is True
    (status,) = inputs(run, "set_order_status")
    assert (status["status"], status["partner_center_order_id"]) == ("provisioned", "pco-1")


def test_a_provisioning_the_checkout_found_pending_is_polled_on_timers_from_then():
    pending = {"done": False, "pending": 3, "subscription_ids": SUBS}
    bought = succeeded({"cart_id": "cart-1", "partner_center_order_ids": ["pco-1"],
                        "provisioning": pending})  # fmt: skip
    run, done = start(buy_lines=bought, read_provisioning=provisioning(1))
    assert done.status == "provisioned"
    order = names(run)
    # the checkout's read counts as the first: the book shows provisioning, then a timer
    assert order[order.index("buy_lines") + 1] == "set_order_status"
    assert order.count("read_provisioning") == 2 and len(run.timers) == 2
    assert [s["status"] for s in inputs(run, "set_order_status")] == ["provisioning", "provisioned"]


def test_a_provisioning_done_at_the_first_poll_goes_straight_to_provisioned():
    run, done = start(read_provisioning=provisioning(0))
    assert done.status == "provisioned" and not run.timers
    (status,) = inputs(run, "set_order_status")
    assert (status["status"], status["partner_center_order_id"]) == ("provisioned", "pco-1")


def test_a_provisioning_that_takes_time_shows_in_the_book_while_the_timers_run():
    run, _ = start(read_provisioning=provisioning(3))
    order = names(run)
    first_poll = order.index("read_provisioning")
    assert order[first_poll + 1] == "set_order_status"
    marked = inputs(run, "set_order_status")[0]
    assert (marked["status"], marked["partner_center_order_id"]) == ("provisioning", "pco-1")
    assert order.count("set_order_status") == 2  # provisioning once, then provisioned


def test_the_order_reads_provisioned_once_the_licences_are_usable_not_after_the_bookkeeping():
    run, _ = start()
    published = [OrderProgress.model_validate(s) for s in run.custom_statuses]
    first = next(i for i, p in enumerate(published) if p.status == "provisioned")
    # the status that says so is the one that records the "provisioned" step ...
    assert [s.step for s in published[first].steps][-1] == "provisioned"
    # ... published before the closing steps (the book, the welcome) have run
    assert not {"recorded", "welcomed"} & {s.step for s in published[first].steps}
    assert all(p.status != "provisioned" for p in published[:first])


def test_steps_that_do_not_wait_on_each_other_run_together():
    run, _ = start(buy_lines=BOUGHT_PROVISIONED)
    # the reserve, the tenant and the Stripe customer with its card; the MCA, the clock, the
    # book's link and the first invoice; (the checkout with its provisioning read alone);
    # the five closing steps
    assert run.context.yields.count("AllTask") == 3
    order = names(run)
    assert order[:3] == ["reserve_order", "create_partner_center_customer",
                         "set_up_stripe_customer"]  # fmt: skip
    assert order[3:7] == ["attest_customer_agreement", "signal_sla_clock",
                          "link_stripe_customer", "charge_lines"]  # fmt: skip
    assert order[7:8] == ["buy_lines"]
    assert "check_domain" not in order  # the API found it free as it accepted the order
    assert "read_provisioning" not in order  # the checkout's own read found it done


def test_an_instance_started_on_1_1_saves_the_card_with_the_mca_and_charges_after_them():
    run, done = start(version=GROUPED)
    assert done.status == "provisioned"
    assert run.context.yields.count("AllTask") == 3
    order = names(run)
    assert order[:3] == ["reserve_order", "create_partner_center_customer",
                         "set_up_stripe_customer"]  # fmt: skip
    assert order[3:7] == ["attest_customer_agreement", "attach_card", "signal_sla_clock",
                          "link_stripe_customer"]  # fmt: skip
    assert order[7:10] == ["charge_lines", "buy_lines", "read_provisioning"]
    (stripe,) = inputs(run, "set_up_stripe_customer")
    assert stripe["payment_method_id"] is None
    (bought,) = inputs(run, "buy_lines")
    assert bought["read_provisioning"] is False


def test_a_domain_the_api_could_not_check_is_checked_with_the_reserve_before_the_tenant():
    run, done = start(order_input(domain_free_at=None))
    assert done.status == "provisioned"
    order = names(run)
    assert order[:4] == ["reserve_order", "check_domain", "create_partner_center_customer",
                         "set_up_stripe_customer"]  # fmt: skip
    assert run.context.yields.count("AllTask") == 4
    assert order[-5:] == ["record_order_subscriptions", "set_order_status", "send_notice",
                          "signal_sla_clock", "record_time_to_value"]  # fmt: skip


def test_the_tenant_and_the_stripe_customer_reach_the_book_in_one_write_once_both_exist():
    run, _ = start()
    (created,) = inputs(run, "create_partner_center_customer")
    assert created["record"] is False
    (link,) = inputs(run, "link_stripe_customer")
    assert (link["tenant_id"], link["stripe_customer_id"]) == ("tenant-1", "cus_New")


def test_a_tenant_made_for_an_order_that_then_fails_is_still_recorded_in_the_book():
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(set_up_stripe_customer=retries_spent(down))
    assert done.status == "failed" and "Stripe could not set up" in (done.reason or "")
    (record,) = inputs(run, "link_stripe_customer")
    assert record["step_key"] == f"{INSTANCE}/tenant-record"
    assert (record["tenant_id"], record["stripe_customer_id"]) == ("tenant-1", None)
    assert signals(run) == []  # the clock starts with the MCA: nothing to cancel


def test_a_book_that_cannot_record_the_tenant_fails_the_order_refunding_the_first_invoice():
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(link_stripe_customer=retries_spent(down))
    assert done.status == "failed" and "could not record" in (done.reason or "")
    assert "nothing was bought" in (done.reason or "") and "refunded" in (done.reason or "")
    assert "buy_lines" not in names(run)
    (credit,) = inputs(run, "credit_invoice")
    assert credit["invoice_id"] == "in_First" and credit["amount"] == usd(TOTAL)
    (alert,) = inputs(run, "raise_order_alert")
    assert "tenant tenant-1" in alert["summary"] and "not in the book" in alert["summary"]


def test_on_1_1_a_book_that_cannot_record_the_tenant_fails_the_order_before_any_charge():
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(version=GROUPED, link_stripe_customer=retries_spent(down))
    assert done.status == "failed" and "nothing was charged or bought" in (done.reason or "")
    assert "charge_lines" not in names(run)
    (alert,) = inputs(run, "raise_order_alert")
    assert "tenant tenant-1" in alert["summary"] and "not in the book" in alert["summary"]


def test_a_refused_mca_undoes_the_first_invoice_paid_alongside_it():
    no = Failure(kind="permanent", error_type="BusinessError", code="600039", message="refused")
    run, done = start(attest_customer_agreement=refused(no))
    assert done.status == "failed" and "nothing was bought" in (done.reason or "")
    (credit,) = inputs(run, "credit_invoice")
    assert credit["invoice_id"] == "in_First" and credit["amount"] == usd(TOTAL)
    assert "buy_lines" not in names(run) and "void_invoice" not in names(run)
    (failed,) = inputs(run, "send_notice")
    assert failed["notice"]["refunded"] == usd(TOTAL)
    (alert,) = inputs(run, "raise_order_alert")  # the tenant has no MCA: a person attests
    assert "MCA is not attested" in alert["summary"]


def test_a_refused_mca_voids_a_first_invoice_declined_alongside_it():
    no = Failure(kind="permanent", error_type="BusinessError", code="600039", message="refused")
    run, done = start(attest_customer_agreement=refused(no), charge_lines=DECLINED)
    assert done.status == "failed" and "Customer Agreement" in (done.reason or "")
    assert [v["invoice_id"] for v in inputs(run, "void_invoice")] == ["in_First"]
    assert "credit_invoice" not in names(run)


def test_a_first_invoice_in_doubt_beside_a_refused_mca_is_an_ops_alert():
    no = Failure(kind="permanent", error_type="BusinessError", code="600039", message="refused")
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(attest_customer_agreement=refused(no), charge_lines=retries_spent(down))
    assert done.status == "failed"
    assert "credit_invoice" not in names(run) and "void_invoice" not in names(run)
    (alert,) = inputs(run, "raise_order_alert")
    assert "first invoice's state is unknown" in alert["summary"]


SENT = succeeded({"status": "sent", "invoice": invoice("open", 0)})


def on_terms() -> dict[str, Any]:
    """An order on invoice terms (net 30): the first invoice is sent, not charged."""
    order = order_input(payment_terms={"collection": "send_invoice", "net_days": 30})
    data = Onboarding.model_validate(order).model_copy(update={"net_days": 30})
    return data.model_dump(mode="json")


def test_on_invoice_terms_a_sent_first_invoice_beside_a_refused_mca_is_voided():
    no = Failure(kind="permanent", error_type="BusinessError", code="600039", message="refused")
    run, done = start(on_terms(), attest_customer_agreement=refused(no), charge_lines=SENT)
    assert done.status == "failed"
    assert [v["invoice_id"] for v in inputs(run, "void_invoice")] == ["in_First"]
    assert "credit_invoice" not in names(run)
    assert "invoice F-0001 voided" in (done.reason or "")
    (failed,) = inputs(run, "send_notice")
    assert failed["notice"]["voided_invoice"] == "F-0001" and failed["notice"]["refunded"] is None
    (alert,) = inputs(run, "raise_order_alert")  # the MCA's, not the invoice's
    assert "MCA is not attested" in alert["summary"] and "void" not in alert["summary"]


def test_on_invoice_terms_a_checkout_refused_voids_the_sent_invoice_and_tells_the_customer():
    no = Failure(kind="permanent", error_type="BusinessError", code="800002", message="refused")
    run, done = start(on_terms(), charge_lines=SENT, buy_lines=refused(no))
    assert done.status == "failed"
    (void,) = inputs(run, "void_invoice")
    assert void["invoice_id"] == "in_First" and void["step_key"].endswith("/void-sent")
    assert "credit_invoice" not in names(run) and "raise_order_alert" not in names(run)
    assert [s.step for s in done.steps][-1] == "invoice_voided"
    (failed,) = inputs(run, "send_notice")
    assert failed["notice"]["voided_invoice"] == "F-0001"


def test_on_invoice_terms_provisioning_that_never_completes_is_cancelled_and_its_invoice_voided():
    never = succeeded({"done": False, "pending": 3, "subscription_ids": SUBS})
    run, done = start(on_terms(), charge_lines=SENT, read_provisioning=lambda data: never)
    assert done.status == "failed"
    assert [c["subscription_ids"] for c in inputs(run, "cancel_bought")] == [SUBS]
    assert [v["invoice_id"] for v in inputs(run, "void_invoice")] == ["in_First"]
    assert [s.step for s in done.steps][-2:] == ["cancelled_at_microsoft", "invoice_voided"]
    assert "credit_invoice" not in names(run)


def test_a_sent_invoice_stripe_will_not_void_is_an_ops_alert():
    no = Failure(kind="permanent", error_type="BusinessError", code="800002", message="refused")
    paid_since = Failure(kind="permanent", error_type="PaymentRejected", code="invoice_not_open",
                         message="This invoice is already paid")  # fmt: skip
    run, done = start(
        on_terms(), charge_lines=SENT, buy_lines=refused(no), void_invoice=refused(paid_since)
    )
    assert done.status == "failed" and "voided" not in (done.reason or "")
    (alert,) = inputs(run, "raise_order_alert")
    assert "could not void the sent invoice in_First" in alert["summary"]
    assert "already paid" in alert["summary"]
    assert inputs(run, "send_notice")[0]["notice"]["voided_invoice"] is None


@pytest.mark.parametrize("mca_refused", [True, False], ids=["mca-refused", "checkout-refused"])
def test_an_instance_started_on_1_2_leaves_a_sent_invoice_to_a_person(mca_refused):
    no = Failure(kind="permanent", error_type="BusinessError", code="800002", message="refused")
    failing: dict[str, Any] = {
        "attest_customer_agreement" if mca_refused else "buy_lines": refused(no)
    }
    run, done = start(on_terms(), version=CHARGED_ALONGSIDE, charge_lines=SENT, **failing)
    assert done.status == "failed"
    assert "void_invoice" not in names(run) and "credit_invoice" not in names(run)
    (alert,) = inputs(run, "raise_order_alert")
    assert "void the sent invoice in_First" in alert["summary"]


def test_subscriptions_the_book_could_not_record_are_an_ops_alert():
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(record_order_subscriptions=retries_spent(down))
    assert done.status == "provisioned"
    (alert,) = inputs(run, "raise_order_alert")
    assert "subscriptions not recorded" in alert["summary"]


def test_an_order_waiting_for_a_card_link_has_its_ids_in_the_book_before_it_waits():
    order = order_input(payment_method=None, payment="card_link")
    card = Event(RECEIVED + timedelta(hours=3), CARD_EVENT, {"stripe_customer_id": "cus_New"})
    run, _ = start(order, events=[card])
    order_ = names(run)
    assert order_.index("link_stripe_customer") < order_.index("create_card_setup_link")
    assert order_.count("link_stripe_customer") == 1
    # the first invoice waits for the card, not with the MCA
    assert order_.index("complete_card_setup") < order_.index("charge_lines")


def test_a_declined_first_invoice_leaves_the_tenant_in_the_book():
    run, done = start(charge_lines=DECLINED)
    assert done.status == "failed"
    (link,) = inputs(run, "link_stripe_customer")  # before the charge; not again on failing
    assert (link["tenant_id"], link["stripe_customer_id"]) == ("tenant-1", "cus_New")


def test_an_instance_started_before_1_1_replays_its_four_waits_in_a_row():
    # docs/architecture.md, "Changing a workflow that is running": what 1.0 scheduled, in
    # 1.0's order, so that its history replays.
    run, done = start(version="1.0")
    assert done.status == "provisioned"
    order = names(run)
    assert order[:4] == ["reserve_order", "signal_sla_clock", "check_domain",
                         "set_up_stripe_customer"]  # fmt: skip
    assert order[4:8] == ["create_partner_center_customer", "link_stripe_customer",
                          "attach_card", "attest_customer_agreement"]  # fmt: skip
    assert order[8:12] == ["charge_lines", "buy_lines", "set_order_status", "read_provisioning"]
    (created,) = inputs(run, "create_partner_center_customer")
    assert created["record"] is True  # 1.0's tenant is recorded by its own step
    assert [s["status"] for s in inputs(run, "set_order_status")] == ["provisioning", "provisioned"]
    assert run.context.yields.count("AllTask") == 4


def test_every_write_carries_a_key_of_its_own_step_in_this_order():
    run, _ = start()
    keys = [c.input["step_key"] for c in run.calls if "step_key" in (c.input or {})]
    assert all(k.startswith(f"{INSTANCE}/") for k in keys)
    assert len(keys) == len(set(keys))
    assert all(c.retry is not None for c in run.calls)


def test_the_first_invoice_charges_each_lines_first_period_in_the_orders_currency():
    run, _ = start()
    (charge,) = inputs(run, "charge_lines")
    assert [line["amount"]["amount_minor"] for line in charge["lines"]] == [3600, 30000, 2640]
    assert charge["currency"] == "USD" and charge["metadata"] == {"cspflow_order_id": "o-1001"}
    assert charge["days_until_due"] is None


def test_the_mca_is_attested_by_the_primary_contact_dated_the_order_day():
    run, _ = start()
    (attest,) = inputs(run, "attest_customer_agreement")
    assert (attest["first_name"], attest["last_name"]) == ("Ada", "Lovelace")
    assert attest["email"] == "ada@fabrikam.example"
    assert datetime.fromisoformat(attest["date_agreed"]) == RECEIVED


def test_the_sla_clock_starts_at_the_order_and_is_met_when_the_licences_are_usable():
    run, done = start()
    start_signal, met = (c["signal"] for c in inputs(run, "signal_sla_clock"))
    assert datetime.fromisoformat(start_signal["at"]) == RECEIVED
    provisioned = next(s.at for s in done.steps if s.step == "provisioned")
    assert datetime.fromisoformat(met["at"]) == provisioned
    (kpi,) = inputs(run, "record_time_to_value")
    assert datetime.fromisoformat(kpi["received_at"]) == RECEIVED
    assert datetime.fromisoformat(kpi["usable_at"]) == provisioned


def test_provisioning_is_waited_for_on_durable_timers_backing_off():
    run, _ = start(read_provisioning=provisioning(4))
    gaps = [b - a for a, b in zip(run.timers, run.timers[1:], strict=False)]
    assert len(run.timers) == 4
    assert [round(g.total_seconds()) for g in gaps] == [10, 20, 40]


def test_a_card_refused_when_saved_fails_the_order_with_nothing_charged_or_bought():
    declined = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "decline_class": "soft",
    }
    with_decline = succeeded({"stripe_customer_id": "cus_New", "decline": declined})
    run, done = start(set_up_stripe_customer=with_decline)
    assert done.status == "failed" and "insufficient funds" in (done.reason or "")
    assert "charge_lines" not in names(run) and "buy_lines" not in names(run)
    assert [n["notice"]["kind"] for n in inputs(run, "send_notice")] == ["order_failed"]
    assert signals(run) == []  # refused before the clock started
    # the tenant and the Stripe customer made for it are in the book all the same
    (record,) = inputs(run, "link_stripe_customer")
    assert (record["tenant_id"], record["stripe_customer_id"]) == ("tenant-1", "cus_New")


def test_on_1_1_a_card_refused_when_saved_fails_the_order_with_nothing_charged_or_bought():
    declined = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "decline_class": "soft",
    }
    run, done = start(version=GROUPED, attach_card=succeeded({"decline": declined}))
    assert done.status == "failed" and "insufficient funds" in (done.reason or "")
    assert "charge_lines" not in names(run) and "buy_lines" not in names(run)
    assert signals(run) == ["start", "cancel"]


def test_a_declined_first_payment_voids_the_invoice_and_buys_nothing():
    run, done = start(charge_lines=DECLINED)
    assert done.status == "failed" and "declined" in (done.reason or "")
    assert "buy_lines" not in names(run)
    assert [v["invoice_id"] for v in inputs(run, "void_invoice")] == ["in_First"]
    (failed,) = inputs(run, "send_notice")
    assert failed["notice"]["reason"] == "payment_declined"
    assert "credit_invoice" not in names(run)


def test_a_checkout_partner_center_refuses_after_payment_refunds_all_that_was_paid():
    no = Failure(kind="permanent", error_type="BusinessError", code="800002", message="refused")
    run, done = start(buy_lines=refused(no))
    assert done.status == "failed"
    (credit,) = inputs(run, "credit_invoice")
    assert credit["invoice_id"] == "in_First" and credit["amount"] == usd(TOTAL)
    (failed,) = inputs(run, "send_notice")
    assert failed["notice"]["refunded"] == usd(TOTAL)
    assert "raise_order_alert" not in names(run)
    assert [s["status"] for s in inputs(run, "set_order_status")] == ["failed"]


def test_provisioning_that_never_completes_is_cancelled_at_microsoft_and_refunded():
    never = succeeded({"done": False, "pending": 3, "subscription_ids": SUBS})
    run, done = start(read_provisioning=lambda data: never)
    assert done.status == "failed"
    (cancel,) = inputs(run, "cancel_bought")
    assert cancel["subscription_ids"] == SUBS
    assert [c["amount"] for c in inputs(run, "credit_invoice")] == [usd(TOTAL)]
    assert [s.step for s in done.steps][-2:] == ["cancelled_at_microsoft", "refunded"]
    assert run.timers[-1] - RECEIVED <= timedelta(hours=24, minutes=1)


def test_what_cannot_be_cancelled_is_an_ops_alert():
    never = succeeded({"done": False, "pending": 3, "subscription_ids": SUBS})
    run, done = start(
        read_provisioning=lambda data: never,
        cancel_bought=succeeded({"cancelled": [], "refused": SUBS}),
    )
    assert done.status == "failed"
    (alert,) = inputs(run, "raise_order_alert")
    assert "could not cancel sub-1" in alert["summary"]


def test_a_domain_taken_by_the_time_the_tenant_is_made_fails_the_order_with_nothing_charged():
    taken = Failure(kind="permanent", error_type="BusinessError", code="domain_unavailable",
                    message="the domain is taken")  # fmt: skip
    run, done = start(create_partner_center_customer=refused(taken))
    assert done.status == "failed" and "already taken" in (done.reason or "")
    assert "charge_lines" not in names(run)
    assert inputs(run, "send_notice")[0]["notice"]["reason"] == "domain_unavailable"


def test_a_taken_domain_fails_before_partner_center_creates_anything():
    run, done = start(
        order_input(domain_free_at=None),
        check_domain=succeeded({"domain": "fabrikam.onmicrosoft.com", "available": False}),
    )
    assert done.status == "failed" and "already taken" in (done.reason or "")
    assert "create_partner_center_customer" not in names(run)
    assert inputs(run, "send_notice")[0]["notice"]["reason"] == "domain_unavailable"
    assert signals(run) == []  # the clock had not started: nothing to cancel


def test_partner_center_down_for_good_fails_the_order_with_nothing_charged():
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(create_partner_center_customer=retries_spent(down))
    assert done.status == "failed" and "Partner Center could not create" in (done.reason or "")
    assert "charge_lines" not in names(run)


def test_an_existing_customer_is_charged_and_bought_for_without_a_new_tenant_or_card():
    run, done = start(order_input(new=False))
    assert done.status == "provisioned"
    for step in ("check_domain", "create_partner_center_customer", "set_up_stripe_customer",
                 "attach_card", "attest_customer_agreement"):  # fmt: skip
        assert step not in names(run)
    (charge,) = inputs(run, "charge_lines")
    assert charge["stripe_customer_id"] == "cus_Existing"
    assert [n["notice"]["kind"] for n in inputs(run, "send_notice")] == ["order_provisioned"]


def test_on_invoice_terms_the_invoice_is_sent_and_the_order_goes_on():
    run, done = start(on_terms(), charge_lines=SENT)
    assert done.status == "provisioned" and "void_invoice" not in names(run)
    assert inputs(run, "charge_lines")[0]["days_until_due"] == 30


@pytest.mark.parametrize("arrives_after", [timedelta(hours=3), CARD_REMINDER + timedelta(hours=5)])
def test_a_card_setup_link_waits_for_the_card_with_the_clock_paused(arrives_after):
    order = order_input(payment_method=None, payment="card_link")
    at = RECEIVED + arrives_after
    run, done = start(order, events=[Event(at, CARD_EVENT, {"stripe_customer_id": "cus_New"})])
    assert done.status == "provisioned"
    assert signals(run) == ["start", "pause", "resume", "met"]
    assert "attach_card" not in names(run)
    names_ = names(run)
    assert names_.index("create_card_setup_link") < names_.index("charge_lines")
    assert any(s.step == "card_link_sent" for s in done.steps)
    mailed = [n["notice"] for n in inputs(run, "send_notice")]
    links = 1 if arrives_after < CARD_REMINDER else 2
    assert [n["kind"] for n in mailed] == ["payment_method_requested"] * links + ["welcome"]
    assert [n["reminder"] for n in mailed[:links]] == [False, True][:links]
    assert len(inputs(run, "create_card_setup_link")) == links
    (made_default,) = inputs(run, "complete_card_setup")
    assert made_default["checkout_session_id"] == "cs_1"
    assert all(c["metadata"] == {"cspflow_order_id": "o-1001"}
               for c in inputs(run, "create_card_setup_link"))  # fmt: skip


def test_a_card_setup_link_never_completed_fails_the_order_as_no_payment_method():
    order = order_input(payment_method=None, payment="card_link")
    run, done = start(order)
    assert done.status == "failed" and "No payment method" in (done.reason or "")
    assert "charge_lines" not in names(run)
    kinds = [n["notice"]["kind"] for n in inputs(run, "send_notice")]
    assert kinds == ["payment_method_requested", "payment_method_requested", "order_failed"]
    assert (
        RECEIVED + CARD_TIMEOUT <= run.timers[-1] <= RECEIVED + CARD_TIMEOUT + timedelta(minutes=1)
    )


def test_an_order_the_book_cannot_reserve_fails_with_what_was_made_recorded_and_ops_told():
    down = Failure(kind="transient", error_type="RetryableError", code="503", message="down")
    run, done = start(reserve_order=retries_spent(down))
    assert done.status == "failed" and "could not record the order" in (done.reason or "")
    assert "attest_customer_agreement" not in names(run) and "charge_lines" not in names(run)
    (record,) = inputs(run, "link_stripe_customer")  # the tenant made alongside, if it can be
    assert record["tenant_id"] == "tenant-1"
    (alert,) = inputs(run, "raise_order_alert")
    assert "not in the book" in alert["summary"]
    assert [n["notice"]["kind"] for n in inputs(run, "send_notice")] == ["order_failed"]


def test_before_1_1_an_order_the_book_cannot_reserve_ends_failed_before_any_side_effect():
    conflict = Failure(kind="permanent", error_type="OrderNotReservable", code="order_conflict",
                       message="order o-1001 is another customer's")  # fmt: skip
    run, done = start(version="1.0", reserve_order=refused(conflict))
    assert done.status == "failed" and names(run) == ["reserve_order"]


def test_writes_to_microsoft_and_compensations_retry_patiently_the_rest_standardly():
    never = succeeded({"done": False, "pending": 3, "subscription_ids": SUBS})
    run, _ = start(read_provisioning=lambda data: never)
    patient = {"create_partner_center_customer", "attest_customer_agreement", "buy_lines",
               "cancel_bought", "credit_invoice", "link_stripe_customer"}  # fmt: skip
    for call in run.calls:
        attempts = call.retry.max_number_of_attempts if call.retry else None
        assert attempts == (13 if call.name in patient else 5), call.name
