"""The ledger of what Microsoft charges the partner, invoices and line items.
Amounts follow the reconciliation file (https://learn.microsoft.com/en-us/partner-center/billing/modern-invoice-reconciliation-file):
subtotal = ROUNDDOWN(effectiveUnitPrice, 2) x quantity."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sandbox.partner_center import rules
from sandbox.partner_center.cli import config_from_args
from shared.partner_center.models import TransitionRequest
from tests.sandbox.partner_center.harness import BASIC, E3, E5, STANDARD, START


def rid() -> str:
    return str(uuid.uuid4())


def _charges(pc, sid):
    return [
        (c["chargeType"], c["quantity"], Decimal(c["effectiveUnitPrice"]), Decimal(c["subtotal"]))
        for c in pc.state()["ledger"]
        if c["subscriptionId"] == sid
    ]


@pytest.mark.parametrize(
    ("term", "cycle", "unit"),
    [
        ("P1Y", "monthly", Decimal("6.00")),  # annual term, billed monthly
        ("P1Y", "annual", Decimal("72.00")),  # annual term, billed upfront for the year
        ("P1M", "monthly", Decimal("7.20")),  # monthly term: +20% (a community figure)
    ],
)
def test_a_purchase_charges_one_billing_cycle_up_front(pc, term, cycle, unit):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=3, offer=BASIC, term=term, cycle=cycle)
    assert _charges(pc, sid) == [("new", 3, unit, unit * 3)]


def test_seats_added_mid_cycle_are_prorated_by_the_day_and_removed_seats_credited(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10)  # cycle 2026-03-02 .. 2026-04-01: 31 days
    pc.advance(timedelta(days=3))  # 2026-03-05: 28 days left
    pc.client.set_quantity(customer_id, sid, 12, request_id=rid())
    pc.client.set_quantity(customer_id, sid, 11, request_id=rid())
    added = (Decimal("6.00") * 28 / 31).quantize(Decimal("0.0001"))
    assert _charges(pc, sid) == [
        ("new", 10, Decimal("6.0000"), Decimal("60.00")),
        ("addQuantity", 2, added, Decimal("5.41") * 2),
        ("removeQuantity", 1, -added, Decimal("-5.41")),  # ROUNDDOWN: toward zero
    ]


def test_a_cancellation_credits_the_rest_of_the_cycle(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=2)
    pc.advance(timedelta(days=1))
    pc.client.cancel(customer_id, sid, request_id=rid())
    kinds = [c[0] for c in _charges(pc, sid)]
    assert kinds == ["new", "cancelImmediate"]
    assert _charges(pc, sid)[1][3] < 0


def test_monthly_billing_charges_each_cycle_as_time_passes(pc):
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=1)
    pc.advance_to(START.replace(month=6, day=2, hour=12))
    assert [c[0] for c in _charges(pc, sid)] == ["new", "cycleCharge", "cycleCharge", "cycleCharge"]


def test_each_month_closes_into_an_invoice_with_v1_line_items(pc):
    customer_id = pc.customer()
    pc.buy(customer_id, quantity=1)
    pc.buy(customer_id, quantity=2)
    pc.buy(customer_id, quantity=3)
    pc.advance_to(START.replace(month=4, day=8, hour=1))
    (invoice,) = pc.client.list_invoices()
    assert invoice.total_charges == Decimal("36.00")
    token = pc.app_token()
    path = f"/v1/invoices/{invoice.id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&size=2"
    page = pc.raw("GET", path, token).json()
    assert page["totalCount"] == 2
    following = page["links"]["next"]
    headers = {h["key"]: h["value"] for h in following["headers"]}
    rest = pc.raw("GET", "/v1" + following["uri"], token, headers=headers).json()
    assert rest["totalCount"] == 1 and "next" not in rest["links"]
    assert {i["invoiceNumber"] for i in page["items"] + rest["items"]} == {invoice.id}


def test_invoice_by_id_is_an_app_and_user_operation(pc):
    customer_id = pc.customer()
    pc.buy(customer_id)
    pc.advance_to(START.replace(month=4, day=8, hour=1))
    (invoice,) = pc.client.list_invoices()
    assert pc.raw("GET", f"/v1/invoices/{invoice.id}", pc.app_token()).status_code == 403


def test_term_end_is_the_inclusive_day_before_the_anniversary():
    # https://learn.microsoft.com/en-us/partner-center/developer/get-a-subscription-by-id shows a P1Y subscription
    # started 2026-01-14 with commitmentEndDate 2027-01-13 (the end day is inclusive).
    assert rules.term_end(date(2026, 1, 14), 12) == date(2027, 1, 13)


def test_calendar_alignment_ends_at_the_month_end_before_the_natural_end():
    # https://learn.microsoft.com/en-us/partner-center/customers/align-subscription-end-dates: an annual term
    # bought 2023-02-04 may end 2024-01-31.
    natural = rules.term_end(date(2023, 2, 4), 12)
    assert rules.calendar_aligned_end(natural).isoformat() == "2024-01-31"


def test_billing_cycles_count_from_the_term_start_and_do_not_drift(make_pc):
    # A term begun on the 31st bills on the last day of shorter months and returns to the
    # 31st, the clamped anchoring shared/policy/terms.add_months assumes for Microsoft's terms.
    pc = make_pc(start=datetime(2026, 1, 31, 9, 0, tzinfo=UTC))
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=1)
    pc.advance_to(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    starts = [
        c["chargeStartDate"][:10]
        for c in pc.state()["ledger"]
        if c["subscriptionId"] == sid and c["chargeType"] == "cycleCharge"
    ]
    assert starts == ["2026-02-28", "2026-03-31", "2026-04-30"]


def test_a_months_invoice_and_invoice_ready_come_out_on_the_8th_by_default(pc, receiver):
    """A month's invoice and reconciliation file "become available ... between the sixth and
    eighth days of the following month"
    (https://learn.microsoft.com/en-us/partner-center/billing/common-billing-scenarios-onetime-recurring);
    the sandbox publishes on the 8th at 00:00 UTC. Until then the month's charges are the
    unbilled export's last period."""
    pc.client.register_webhook(receiver.url, ["invoice-ready"], request_id=rid())
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=2)
    pc.advance_to(datetime(2026, 4, 7, 23, 59, tzinfo=UTC))
    assert pc.client.list_invoices() == []
    last = pc.client.unbilled_reconciliation("USD", "last")
    assert [(line.charge_type, line.subscription_id) for line in last] == [("new", sid)]
    current = pc.client.unbilled_reconciliation("USD", "current")
    assert [line.charge_type for line in current] == ["cycleCharge"]  # April 2's
    pc.advance_to(datetime(2026, 4, 8, tzinfo=UTC))
    (invoice,) = pc.client.list_invoices()
    assert invoice.invoice_date == datetime(2026, 4, 8, tzinfo=UTC)
    assert invoice.total_charges == Decimal("12.00")  # March only; April's cycle waits
    receiver.wait_for(1)
    event = receiver.events()[0]
    assert event["EventName"] == "invoice-ready"
    assert event["ResourceChangeUtcDate"] == "2026-04-08T00:00:00Z"


def test_the_invoice_day_is_an_option(make_pc):
    pc = make_pc(invoice_day=3)
    pc.buy(pc.customer(), quantity=1)
    pc.advance_to(datetime(2026, 4, 2, 23, 0, tzinfo=UTC))
    assert pc.client.list_invoices() == []
    pc.advance_to(datetime(2026, 4, 3, 0, 0, tzinfo=UTC))
    (invoice,) = pc.client.list_invoices()
    assert invoice.invoice_date == datetime(2026, 4, 3, tzinfo=UTC)


@pytest.mark.parametrize(("argv", "day"), [([], 8), (["--invoice-day", "6"], 6)])
def test_the_command_line_sets_the_invoice_day(tmp_path, argv, day):
    assert config_from_args(["--data", str(tmp_path), *argv]).invoice_day == day


def test_seats_moved_into_an_existing_subscription_are_billed_as_move_quantity(pc):
    """Recon charge types
    (https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types):
    a transition into an existing subscription moves seats, charge type moveQuantity, not
    removeQuantity + convert (those stay for upgrades in place and to a new subscription)."""
    customer_id = pc.customer()
    source = pc.buy(customer_id, offer=E3, quantity=5)
    dest = pc.buy(customer_id, offer=E5, quantity=2)
    pc.advance(timedelta(days=8))  # the destination must be out of its cancellation window
    pc.client.transition(
        customer_id,
        source,
        TransitionRequest(to_catalog_item_id=E5, quantity=3, to_subscription_id=dest),
        request_id=rid(),
    )
    moved = [
        (c["subscriptionId"], c["chargeType"], c["quantity"], Decimal(c["subtotal"]) > 0)
        for c in pc.state()["ledger"]
        if c["chargeType"] not in ("new", "cycleCharge")
    ]
    assert moved == [(source, "moveQuantity", 3, False), (dest, "moveQuantity", 3, True)]
    assert pc.client.get_subscription(customer_id, dest).quantity == 5


def _patch(pc, customer_id, sid, **changes):
    """A full-resource PATCH with a real token, as Partner Center wants it."""
    current = pc.client._raw_subscription(customer_id, sid)
    return pc.raw(
        "PATCH",
        f"/v1/customers/{customer_id}/subscriptions/{sid}",
        pc.app_token(),
        json={**current, **changes},
        headers={"MS-RequestId": rid(), "If-Match": current["attributes"]["etag"]},
    )


def _next_charge(offer: str, cycle: str, quantity: int, term: str = "P1Y") -> dict[str, Any]:
    product_id, sku_id, availability_id = offer.split(":")
    return {
        "product": {
            "productId": product_id,
            "skuId": sku_id,
            "availabilityId": availability_id,
            "billingCycle": cycle,
            "termDuration": term,
        },
        "quantity": quantity,
    }


def test_next_charge_instructions_change_the_billing_plan_at_the_next_cycle(pc):
    """nextChargeInstructions: "the next charge instructions for billing cycle changes during
    the next charge cycle" (https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources);
    a billing-frequency-only change "take[s] effect at your next billing cycle"
    (https://learn.microsoft.com/en-us/partner-center/customers/billing-frequency-changes).
    The recon line of the new plan's first cycle is changeBillingPlan
    (https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types)."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10, term="P1Y", cycle="monthly")
    assert pc.client._raw_subscription(customer_id, sid)["nextChargeInstructions"] is None
    instructions = _next_charge(BASIC, "Annual", 10)
    resp = _patch(pc, customer_id, sid, nextChargeInstructions=instructions)
    assert resp.status_code == 200 and resp.json()["nextChargeInstructions"] == instructions

    pc.advance_to(datetime(2026, 4, 2, 1, 0, tzinfo=UTC))  # the next monthly cycle
    raw = pc.client._raw_subscription(customer_id, sid)
    assert (raw["billingCycle"], raw["nextChargeInstructions"]) == ("annual", None)
    assert raw["billingCycleEndDate"] == "2027-03-01T00:00:00Z"  # an annual cycle, cut at term end
    changed = [c for c in pc.state()["ledger"] if c["chargeType"] == "changeBillingPlan"]
    assert [
        (c["quantity"], c["chargeStartDate"][:10], c["chargeEndDate"][:10]) for c in changed
    ] == [(10, "2026-04-02", "2027-03-01")]
    assert Decimal(changed[0]["effectiveUnitPrice"]) == (Decimal("72.00") * 334 / 365).quantize(
        Decimal("0.0001")
    )
    pc.advance_to(datetime(2026, 9, 2, 1, 0, tzinfo=UTC))
    kinds = [c["chargeType"] for c in pc.state()["ledger"]]
    assert kinds == ["new", "changeBillingPlan"]  # no monthly cycle charges any more


@pytest.mark.parametrize(
    ("term", "cycle", "instructions", "field"),
    [
        ("P1Y", "monthly", _next_charge(STANDARD, "annual", 10), "product"),
        ("P1Y", "monthly", _next_charge(BASIC, "annual", 11), "quantity"),
        ("P1Y", "monthly", _next_charge(BASIC, "annual", 10, "P3Y"), "termDuration"),
        ("P1Y", "monthly", _next_charge(BASIC, "monthly", 10), "billingCycle"),
        ("P1Y", "annual", _next_charge(BASIC, "monthly", 10), "no billing cycle is left"),
        ("P3Y", "monthly", _next_charge(BASIC, "annual", 10, "P3Y"), "triennial"),
    ],
)
def test_next_charge_instructions_change_only_the_billing_frequency(
    pc, term, cycle, instructions, field
):
    """Billing cycle changes alter the billing frequency alone; triennial terms no longer
    take them midterm (https://learn.microsoft.com/en-us/partner-center/customers/billing-frequency-changes)."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10, term=term, cycle=cycle)
    resp = _patch(pc, customer_id, sid, nextChargeInstructions=instructions)
    assert resp.status_code == 400 and resp.json()["code"] == 800002
    assert field in resp.json()["description"]


def test_a_suspension_keeps_next_charge_instructions_and_drops_scheduled_ones(pc):
    """https://learn.microsoft.com/partner-center/subscription-lifecycle: when a subscription
    is suspended, "If there are next charge instructions, or changes to the billing plan mid
    term, they're not removed"; other scheduled changes are."""
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=10, term="P1Y", cycle="monthly")
    instructions = _next_charge(BASIC, "annual", 10)
    scheduled = {**_next_charge(BASIC, "monthly", 8), "quantity": 8}
    resp = _patch(
        pc,
        customer_id,
        sid,
        autoRenewEnabled=True,
        nextChargeInstructions=instructions,
        scheduledNextTermInstructions=scheduled,
    )
    assert resp.status_code == 200, resp.text
    pc.client.suspend(customer_id, sid, request_id=rid())
    raw = pc.client._raw_subscription(customer_id, sid)
    assert raw["nextChargeInstructions"] == instructions
    assert raw["scheduledNextTermInstructions"] is None


def _lines(pc, sid):
    """A subscription's charges as the reconciliation reads them: charge type, quantity,
    effective unit price, subtotal and the service period (its end inclusive)."""
    return [
        (
            c["chargeType"],
            c["quantity"],
            Decimal(c["effectiveUnitPrice"]),
            Decimal(c["subtotal"]),
            c["chargeStartDate"][:10],
            c["chargeEndDate"][:10],
        )
        for c in pc.state()["ledger"]
        if c["subscriptionId"] == sid
    ]


def _share(price: str, days: int, of: int) -> Decimal:
    return (Decimal(price) * days / of).quantize(Decimal("0.0001"))


def _down(effective: Decimal, quantity: int) -> Decimal:
    return effective.quantize(Decimal("0.01"), rounding="ROUND_DOWN") * quantity


def test_each_charge_type_cspflow_reconciles_has_its_amount_and_service_period(pc):
    """The lines the reconciliation matches cspflow's charges against
    (https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types):
    new, addQuantity, removeQuantity, cancelImmediate, and an upgrade's removeQuantity of the
    old offer with the convert of the new (in place, or on a new subscription for part of the
    seats), each from the day it happened to the end of the billing cycle; then the next
    cycle's cycleCharge. Bought 2 March: the cycle is 2 March..1 April, 31 days; on 5 March
    28 days are left."""
    customer_id = pc.customer()
    basic = pc.buy(customer_id, quantity=5)
    full = pc.buy(customer_id, offer=E3, quantity=4)
    part = pc.buy(customer_id, offer=E3, quantity=5)
    gone = pc.buy(customer_id, quantity=2)
    pc.advance(timedelta(days=3))
    pc.client.set_quantity(customer_id, basic, 7, request_id=rid())
    pc.client.set_quantity(customer_id, basic, 6, request_id=rid())
    pc.client.cancel(customer_id, gone, request_id=rid())
    pc.client.transition(customer_id, full, TransitionRequest(to_catalog_item_id=E5, quantity=4),
                         request_id=rid())  # fmt: skip
    moved = pc.client.transition(
        customer_id, part, TransitionRequest(to_catalog_item_id=E5, quantity=2), request_id=rid()
    )
    basic28, e3_28, e5_28 = _share("6.00", 28, 31), _share("23.00", 28, 31), _share("38.00", 28, 31)
    bought, cycle_end, today = "2026-03-02", "2026-04-01", "2026-03-05"
    assert _lines(pc, basic) == [
        ("new", 5, Decimal("6.0000"), Decimal("30.00"), bought, cycle_end),
        ("addQuantity", 2, basic28, _down(basic28, 2), today, cycle_end),
        ("removeQuantity", 1, -basic28, _down(-basic28, 1), today, cycle_end),
    ]
    assert _lines(pc, gone)[1] == (
        "cancelImmediate", 2, -basic28, _down(-basic28, 2), today, cycle_end
    )  # fmt: skip
    assert _lines(pc, full)[1:] == [
        ("removeQuantity", 4, -e3_28, _down(-e3_28, 4), today, cycle_end),
        ("convert", 4, e5_28, _down(e5_28, 4), today, cycle_end),
    ]
    assert _lines(pc, part)[1:] == [
        ("removeQuantity", 2, -e3_28, _down(-e3_28, 2), today, cycle_end),
    ]
    new_sub = moved.to_subscription_id
    assert new_sub is not None and [line[:2] for line in _lines(pc, new_sub)] == [("convert", 2)]
    assert _lines(pc, new_sub)[0][4] == today
    pc.advance_to(START.replace(day=2, month=4, hour=12))
    assert _lines(pc, basic)[-1] == (
        "cycleCharge", 6, Decimal("6.0000"), Decimal("36.00"), "2026-04-02", "2026-05-01"
    )  # fmt: skip
