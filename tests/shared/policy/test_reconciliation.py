"""Reconciliation, line by line (docs/rules.md#reconciliation): the hand-worked month
(tests/billing_month.py) against the lines Microsoft billed the partner for it, then the
same with a seat added behind cspflow's back, a price below cost, a credit not passed on."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from shared.models.money import Money
from shared.models.reconciliation import BilledLine, MicrosoftLine
from shared.policy.billing import plan_invoice
from shared.policy.reconciliation import (
    accuracy,
    charge_kind,
    counts,
    leakage_by_customer,
    leakage_totals,
    over_threshold,
    reconcile,
)
from tests import billing_month as month

PERIOD = "2027-03"


def usd(text: str) -> Money:
    return Money.from_decimal(text, "USD")


def billed_lines() -> list[BilledLine]:
    """What cspflow billed in March: the month's invoices, line by line, with the
    catalogue's cost per seat."""
    lines: list[BilledLine] = []
    for customer in month.CUSTOMERS:
        plan = plan_invoice(
            customer,
            month.SUBSCRIPTIONS[customer.id],
            month.list_prices(customer.billing_currency),
            [],
            period=PERIOD,
            partner_country="NL",
        )
        for line in plan.lines:
            lines.append(
                BilledLine(
                    customer_id=customer.id,
                    invoice_id=plan.invoice_id,
                    subscription_id=line.subscription_id,
                    kind=line.kind,
                    quantity=line.quantity,
                    amount=line.amount,
                    period_start=line.period_start,
                    period_end=line.period_end,
                    unit_cost=line.cost.scaled(Decimal(1) / line.quantity) if line.cost else None,
                )
            )
    return lines


def ms(n: int, customer: str, sub: str, charge: str, qty: int, start: date, end: date, unit: str = "10.00", effective: str | None = None) -> MicrosoftLine:  # fmt: skip
    effective = effective or unit
    return MicrosoftLine(
        line_no=n,
        invoice_number="G000000001",
        tenant_id=f"tenant-{customer}",
        customer_id=customer,
        subscription_id=sub,
        charge_type=charge,
        quantity=qty,
        unit_price=Decimal(unit),
        effective_unit_price=Decimal(effective),
        subtotal=usd(effective) * qty,
        charge_start=start,
        charge_end=end,
    )


# What Microsoft billed the partner for March (its charge end dates are inclusive).
MARCH = [
    ms(0, "contoso", "sub-a1", "cycleCharge", 12, date(2027, 3, 10), date(2027, 4, 9)),
    ms(1, "contoso", "sub-a2", "renew", 8, date(2027, 3, 20), date(2028, 3, 19)),
    ms(2, "fabrikam", "sub-b1", "renew", 7, date(2027, 3, 5), date(2027, 4, 4)),
    ms(3, "fabrikam", "sub-b2", "cycleCharge", 3, date(2027, 3, 25), date(2028, 3, 24)),
    ms(4, "northwind", "sub-c1", "cycleCharge", 25, date(2027, 3, 1), date(2027, 3, 31)),
]
SELL = {"sub-a1": month.eur("5.40"), "sub-c1": month.eur("5.00")}


def test_the_hand_worked_month_matches_microsofts_invoice_line_for_line():
    lines = reconcile(PERIOD, MARCH, billed_lines(), SELL)
    assert [line.classification for line in lines] == ["matched"] * 5
    assert [line.invoice_id for line in lines] == [
        "contoso-2027-03",
        "contoso-2027-03",
        "fabrikam-2027-03",
        "fabrikam-2027-03",
        "northwind-2027-03",
    ]
    assert lines[1].billed_amount == month.eur("1900.80") and lines[1].billed_quantity == 8
    assert accuracy(lines) == Decimal(1)


def test_a_seat_added_behind_cspflows_back_is_leakage_at_the_sell_price_prorated():
    # 2 seats added in Partner Center on 20 March, for the rest of sub-a1's cycle
    # (10 March..9 April, 31 days): Microsoft charges 21 of 31 days (unit 31.00, effective
    # 21.00). At Contoso's price of 5.40 EUR: 2 x 5.40 = 10.80 x 21/31 = 7.3161.. = 7.32 EUR.
    added = ms(5, "contoso", "sub-a1", "addQuantity", 2, date(2027, 3, 20), date(2027, 4, 9), "31.00", "21.00")  # fmt: skip
    lines = reconcile(PERIOD, [*MARCH, added], billed_lines(), SELL)
    leak = lines[5]
    assert (leak.classification, leak.leakage) == ("missed_billing", month.eur("7.32"))
    assert leak.reason == "Microsoft charged the partner; the customer was not billed"
    assert accuracy(lines) == Decimal("0.8333")  # 5 of 6
    assert [(c.customer_id, c.leakage) for c in leakage_by_customer(lines)] == [
        ("contoso", month.eur("7.32"))
    ]
    assert leakage_totals(lines) == [month.eur("7.32")]


def test_fewer_seats_billed_than_microsoft_charged_leak_the_difference():
    more = [*MARCH[:4], ms(4, "northwind", "sub-c1", "cycleCharge", 27, date(2027, 3, 1), date(2027, 3, 31))]  # fmt: skip
    line = reconcile(PERIOD, more, billed_lines(), SELL)[4]
    # 27 charged, 25 billed: 2 x 5.00
    assert (line.classification, line.leakage) == ("missed_billing", month.eur("10.00"))


def test_more_seats_billed_than_microsoft_charged_is_over_billing():
    fewer = [*MARCH[:4], ms(4, "northwind", "sub-c1", "cycleCharge", 20, date(2027, 3, 1), date(2027, 3, 31))]  # fmt: skip
    line = reconcile(PERIOD, fewer, billed_lines(), SELL)[4]
    assert (line.classification, line.over_billed) == ("over_billing", month.eur("25.00"))


@pytest.mark.parametrize(
    ("cost", "reason"),
    [("5.10", "below Microsoft's cost"), ("5.00", "no markup")],
)
def test_a_price_below_or_at_cost_is_flagged(cost: str, reason: str):
    billed = [
        b.model_copy(update={"unit_cost": month.eur(cost)}) if b.subscription_id == "sub-c1" else b
        for b in billed_lines()
    ]
    line = reconcile(PERIOD, MARCH, billed, SELL)[4]
    assert line.classification == "price_anomaly" and reason in line.reason


def test_a_credit_not_passed_on_is_over_billing_and_unknown_customers_are_unmatched():
    credit = ms(5, "fabrikam", "sub-b1", "removeQuantity", -1, date(2027, 3, 6), date(2027, 4, 4))  # fmt: skip
    stranger = ms(6, "x", "sub-x", "new", 1, date(2027, 3, 2), date(2027, 4, 1)).model_copy(
        update={"customer_id": None}
    )
    odd = ms(7, "contoso", "sub-a1", "usageCharge", 1, date(2027, 3, 2), date(2027, 4, 1))
    lines = reconcile(PERIOD, [*MARCH, credit, stranger, odd], billed_lines(), SELL)
    assert [line.classification for line in lines[5:]] == [
        "over_billing",
        "unmatched_microsoft",
        "unmatched_microsoft",
    ]
    assert "not in the book" in lines[6].reason and "usageCharge" in lines[7].reason


def test_a_line_billed_that_microsoft_did_not_charge_is_unmatched_on_cspflows_side():
    tax = billed_lines()[0].model_copy(update={"kind": "tax", "subscription_id": "tax"})
    lines = reconcile(PERIOD, MARCH[:4], [*billed_lines(), tax], SELL)  # tax is not a charge
    extra = lines[-1]
    assert (extra.classification, extra.subscription_id, extra.line_no) == (
        "unmatched_cspflow",
        "sub-c1",
        4,
    )
    assert extra.service_end == date(2027, 3, 31)
    assert counts(lines)["unmatched_cspflow"] == 1 and counts(lines)["matched"] == 4


def test_a_missed_line_without_a_sell_price_is_still_missed_and_says_why():
    line = reconcile(PERIOD, MARCH[:1], [], {})[0]
    assert line.classification == "missed_billing" and line.leakage is None
    assert "no sell price" in line.reason


# Microsoft's charge types in the new commerce reconciliation file:
# https://learn.microsoft.com/en-us/partner-center/billing/recon-file-charge-types and
# https://learn.microsoft.com/en-us/partner-center/billing/recon-file-fields-new-commerce
@pytest.mark.parametrize(
    ("charge", "kind"),
    [
        ("new", "new"),  # an order's first period: the order's charge
        ("Renew", "renew"),  # the billing run
        ("cycleCharge", "cycle"),  # the billing run
        ("addQuantity", "add_quantity"),  # a licence change's charge
        ("removeQuantity", "remove_quantity"),  # a licence change's credit
        ("cancelImmediate", "cancel"),  # a cancellation's credit
        ("cancel", "cancel"),
        ("refund", "cancel"),
        ("convert", "upgrade"),  # an upgrade's price difference
        ("changeBillingPlan", "upgrade"),
        ("usageCharge", None),
    ],
)
def test_microsofts_charge_types_as_cspflow_bills_them(charge: str, kind: str | None):
    assert charge_kind(charge) == kind


def test_no_lines_is_full_accuracy_and_the_alert_threshold_is_per_currency():
    assert accuracy([]) == Decimal(1)
    totals = [month.eur("7.32"), month.jpy(500), usd("0")]
    thresholds = {"EUR": month.eur("10.00"), "JPY": month.jpy(500)}
    assert over_threshold(totals, thresholds) == [month.jpy(500)]
    assert over_threshold([usd("0.01")], {}) == [usd("0.01")]


def test_a_zero_price_microsoft_line_counts_as_a_whole_period():
    line = ms(0, "contoso", "sub-a1", "cycleCharge", 1, date(2027, 3, 10), date(2027, 4, 9), "0", "0")  # fmt: skip
    (out,) = reconcile(PERIOD, [line], [], SELL)
    assert out.leakage == month.eur("5.40")
    assert out.service_end - out.service_start == timedelta(days=30)  # type: ignore[operator]


# -- what cspflow charged outside the billing run (the book's Charges) ---------------------
# Fabrikam's sub-b1 (7.00 EUR a seat a month, 5 seats, monthly cycle 5 March..4 April, 31
# days), its cost 6.00 EUR. On 20 March (16 of 31 days left):
#   2 seats added: 2 x 7.00 x 16/31 = 7.2258.. = 7.23 EUR charged;
#   1 seat removed inside the window: 1 x 7.00 x 16/31 = 3.61 EUR credited;
# Northwind's sub-c3 bought on 3 March (a new order, 4 seats at 5.00 EUR): 20.00 EUR;
# Contoso's sub-a1 upgraded on 12 March (12 seats), the difference charged: 40.00 EUR; a
# partial upgrade of Contoso's sub-a2 (3 of 8 seats) into the new sub-a9: 9.00 EUR.
def charged(sub: str, kind: str, qty: int, amount: str, day: int, customer: str = "fabrikam", **more: object) -> BilledLine:  # fmt: skip
    return BilledLine.model_validate(
        {
            "customer_id": customer,
            "invoice_id": f"in_{sub}_{kind}",
            "subscription_id": sub,
            "kind": kind,
            "quantity": qty,
            "amount": month.eur(amount).model_dump(),
            "period_start": date(2027, 3, day),
            "period_end": date(2027, 4, 5),
            "unit_cost": month.eur("6.00").model_dump(),
        }
        | more
    )


CHARGED = [
    charged("sub-c3", "new", 4, "20.00", 3, "northwind", unit_cost=month.eur("4.00").model_dump()),
    charged("sub-b1", "add_quantity", 2, "7.23", 20),
    charged("sub-b1", "remove_quantity", 1, "-3.61", 20),
    charged("sub-b1", "cancel", 5, "-18.06", 21),
    charged("sub-a1", "upgrade", 12, "40.00", 12, "contoso"),
    charged("sub-a2", "upgrade", 3, "9.00", 12, "contoso", to_subscription_id="sub-a9"),
]
END = date(2027, 4, 4)
MICROSOFT = [
    ms(0, "northwind", "sub-c3", "new", 4, date(2027, 3, 3), date(2027, 4, 2), "4.00"),
    ms(1, "fabrikam", "sub-b1", "addQuantity", 2, date(2027, 3, 20), END, "6.00", "3.09"),
    ms(2, "fabrikam", "sub-b1", "removeQuantity", 1, date(2027, 3, 20), END, "6.00", "-3.09"),
    ms(3, "fabrikam", "sub-b1", "cancelImmediate", 5, date(2027, 3, 21), END, "6.00", "-2.90"),
    ms(4, "contoso", "sub-a1", "removeQuantity", 12, date(2027, 3, 12), END, "4.00", "-3.09"),
    ms(5, "contoso", "sub-a1", "convert", 12, date(2027, 3, 12), END, "8.00", "6.19"),
    ms(6, "contoso", "sub-a2", "removeQuantity", 3, date(2027, 3, 12), END, "4.00", "-3.09"),
    ms(7, "contoso", "sub-a9", "convert", 3, date(2027, 3, 12), END, "8.00", "6.19"),
]
SELL_ALL = {**SELL, "sub-b1": month.eur("7.00"), "sub-c3": month.eur("5.00")}


def test_every_charge_type_cspflow_makes_outside_the_run_is_matched():
    lines = reconcile(PERIOD, MICROSOFT, CHARGED, SELL_ALL)
    assert [(line.line_no, line.classification) for line in lines] == [
        (n, "matched") for n in range(8)
    ]
    assert [line.invoice_id for line in lines] == [
        "in_sub-c3_new",
        "in_sub-b1_add_quantity",
        "in_sub-b1_remove_quantity",
        "in_sub-b1_cancel",
        "in_sub-a1_upgrade",  # the old offer's credit: the upgrade's other half
        "in_sub-a1_upgrade",
        "in_sub-a2_upgrade",
        "in_sub-a2_upgrade",  # the partial upgrade's convert, on the new subscription
    ]
    assert lines[2].billed_amount == month.eur("-3.61")
    assert "upgrade" in lines[4].reason
    assert accuracy(lines) == Decimal(1)


def test_a_seat_change_priced_below_cost_is_flagged_on_the_whole_periods_price():
    # 7.23 EUR for 2 seats over 16 of 31 days looks cheap next to a 6.00 cost per month;
    # it is the 7.00 a month that is compared. At 5.50 a month it is below cost.
    fine = reconcile(PERIOD, MICROSOFT[1:2], CHARGED[1:2], SELL_ALL)[0]
    assert fine.classification == "matched"
    cheap = reconcile(PERIOD, MICROSOFT[1:2], CHARGED[1:2], {"sub-b1": month.eur("5.50")})[0]
    assert cheap.classification == "price_anomaly" and "below Microsoft's cost" in cheap.reason


def test_a_seat_change_whose_subscription_has_no_sell_price_is_matched_without_a_price_check():
    # A part of a period is priced on the subscription's whole-period price; without one in
    # the book there is nothing to compare with the cost: matched, and not called cheap.
    line = reconcile(PERIOD, MICROSOFT[1:2], CHARGED[1:2], {})[0]
    assert line.classification == "matched"


def test_a_credit_given_for_fewer_seats_than_microsoft_credited_is_over_billing():
    # Microsoft credited 2 seats, the customer 1 (3.61 EUR): 3.61 EUR over-billed.
    two = MICROSOFT[2].model_copy(update={"quantity": 2})
    line = reconcile(PERIOD, [two], CHARGED[2:3], SELL_ALL)[0]
    assert (line.classification, line.over_billed) == ("over_billing", month.eur("3.61"))
    assert "credited 1 seat(s) more" in line.reason


def test_a_credit_given_for_more_seats_than_microsoft_credited_is_leakage():
    # The customer was refunded 5 seats (18.06 EUR), Microsoft credited 4: one seat's
    # 18.06 / 5 = 3.612 = 3.61 EUR leaked.
    four = MICROSOFT[3].model_copy(update={"quantity": 4})
    line = reconcile(PERIOD, [four], CHARGED[3:4], SELL_ALL)[0]
    assert (line.classification, line.leakage) == ("missed_billing", month.eur("3.61"))


def test_seats_added_and_billed_short_leak_the_billed_prorated_price():
    # 3 seats added by Microsoft, 2 charged at 7.23 EUR: one more at 3.615 = 3.62 EUR.
    three = MICROSOFT[1].model_copy(update={"quantity": 3})
    line = reconcile(PERIOD, [three], CHARGED[1:2], SELL_ALL)[0]
    assert (line.classification, line.leakage) == ("missed_billing", month.eur("3.62"))


def test_an_upgrades_credit_is_not_matched_twice_nor_to_another_quantity():
    extra = MICROSOFT[4].model_copy(update={"line_no": 8})
    other = MICROSOFT[6].model_copy(update={"line_no": 9, "quantity": 2})
    lines = reconcile(PERIOD, [*MICROSOFT, extra, other], CHARGED, SELL_ALL)
    assert [line.classification for line in lines[8:]] == ["over_billing", "over_billing"]


def test_the_cost_is_that_of_the_offer_microsoft_charged_on_the_line():
    # Northwind's sub-c3 was bought as one offer (cost 4.00, sold at 5.00) and upgraded
    # since: the catalogue's cost of its offer now (6.00) is not what the "new" line charged.
    line = MICROSOFT[0].model_copy(update={"unit_cost": month.eur("4.00")})
    upgraded = CHARGED[0].model_copy(update={"unit_cost": month.eur("6.00")})
    assert reconcile(PERIOD, [line], [upgraded], SELL_ALL)[0].classification == "matched"
    assert reconcile(PERIOD, [MICROSOFT[0]], [upgraded], SELL_ALL)[0].classification == (
        "price_anomaly"
    )
