"""The charges cspflow makes outside the billing run, as the book records them for the
reconciliation (docs/billing.md, "Reconciliation")."""

from datetime import timedelta
from typing import Any

import pytest

from shared.models import Money
from shared.models.onboarding import PricedLine
from shared.models.order import OrderLine
from shared.policy.charges import change_charge, order_charges
from tests.shared.book.records import BASIC, T0, eur, licence_change, subscription

TERM_END = T0 + timedelta(days=200)


def priced(quantity: int, minor: int, **line: Any) -> PricedLine:
    return PricedLine(
        line=OrderLine.model_validate(
            {
                "catalog_item_id": BASIC,
                "quantity": quantity,
                "term_duration": "P1Y",
                "billing_cycle": "monthly",
                "unit_price": eur(690).model_dump(),
            }
            | line
        ),
        name="Microsoft 365 Business Basic",
        first_charge=eur(minor),
        period_start=T0.replace(hour=0),
        period_end=T0.replace(hour=0) + timedelta(days=31),
    )


def test_each_order_line_charges_new_for_the_subscription_it_became():
    lines = [priced(5, 3450), priced(2, 1380)]
    subs = [subscription("sub-b", quantity=2), subscription("sub-a", quantity=5)]
    charges = order_charges("ord-1", "c-1", lines, subs, stripe_invoice_id="in_1", charged_at=T0)
    assert [(c.id, c.subscription_id, c.kind, c.quantity, c.amount) for c, _ in charges] == [
        ("order-ord-1-sub-a", "sub-a", "new", 5, eur(3450)),
        ("order-ord-1-sub-b", "sub-b", "new", 2, eur(1380)),
    ]
    first = charges[0][0]
    assert (first.period_start, first.stripe_invoice_id, first.source) == (
        T0.replace(hour=0),
        "in_1",
        "order",
    )


def test_two_alike_lines_take_two_subscriptions_and_a_line_not_provisioned_charges_nothing():
    lines = [priced(5, 3450), priced(5, 3450), priced(3, 2070)]
    subs = [subscription("sub-2", quantity=5), subscription("sub-1", quantity=5)]
    charges = order_charges("ord-1", "c-1", lines, subs, stripe_invoice_id=None, charged_at=T0)
    assert [c.subscription_id for c, _ in charges] == ["sub-1", "sub-2"]


APPLIED: dict[str, Any] = {"status": "applied", "effective_at": T0, "completed_at": T0}


@pytest.mark.parametrize(
    ("change", "kind", "seats", "amount"),
    [
        # docs/rules.md#add-seats: charged, then PATCHed
        (
            {"quantity": 8, "quantity_before": 5, "quantity_after": 8, "charge": eur(1380),
             "invoice_id": "in_2"},
            "add_quantity", 3, eur(1380),
        ),
        # docs/rules.md#seat-decrease-refund: PATCHed inside the window, then credited
        (
            {"quantity": 4, "quantity_before": 5, "quantity_after": 4, "charge": eur(-690),
             "credit_note_id": "cn_1"},
            "remove_quantity", 1, eur(-690),
        ),
        # docs/rules.md#upgrade: the price difference, charged
        (
            {"kind": "upgrade", "quantity": None, "target_catalog_item_id": "CFQ7TTC0LDPB:0001:CFQ7TTC0LF8Q",
             "quantity_before": 5, "quantity_after": 5, "charge": eur(2500), "invoice_id": "in_3",
             "new_subscription_id": "sub-9"},
            "upgrade", 5, eur(2500),
        ),
    ],
)  # fmt: skip
def test_an_applied_change_records_the_money_it_moved(
    change: dict[str, Any], kind: str, seats: int, amount: Money
):
    charge = change_charge(licence_change(**APPLIED | change), TERM_END)
    assert charge is not None
    assert (charge.id, charge.kind, charge.quantity, charge.amount) == (
        "change-chg-1",
        kind,
        seats,
        amount,
    )
    assert (charge.period_start, charge.period_end) == (T0, TERM_END)


def test_a_cancellation_credits_every_seat_and_a_partial_upgrade_names_its_new_subscription():
    cancel = change_charge(
        licence_change(kind="cancel", quantity=None, quantity_before=5, quantity_after=0,
                       charge=eur(-3450), credit_note_id="cn_2", **APPLIED),
        TERM_END,
    )  # fmt: skip
    assert cancel is not None and (cancel.kind, cancel.quantity, cancel.stripe_credit_note_id) == (
        "cancel",
        5,
        "cn_2",
    )
    partial = change_charge(
        licence_change(kind="upgrade", quantity=2, target_catalog_item_id=BASIC,
                       quantity_before=5, quantity_after=5, charge=eur(1000),
                       invoice_id="in_4", new_subscription_id="sub-new", **APPLIED),
        TERM_END,
    )  # fmt: skip
    assert partial is not None and (partial.quantity, partial.to_subscription_id) == (2, "sub-new")


@pytest.mark.parametrize(
    "change",
    [
        {"status": "failed", "charge": eur(1380), "invoice_id": "in_2"},
        {**APPLIED, "charge": None},
        # a credit no paid invoice could carry: the customer was not credited
        {**APPLIED, "quantity": 4, "quantity_before": 5, "quantity_after": 4, "charge": eur(-690)},
        {**APPLIED, "quantity_before": 5, "quantity_after": 8, "charge": eur(1380)},  # no invoice
        # an upgrade's difference that no invoice carried: not charged
        {
            **APPLIED,
            "kind": "upgrade",
            "quantity": None,
            "target_catalog_item_id": BASIC,
            "quantity_before": 5,
            "quantity_after": 5,
            "charge": eur(2500),
        },
        # a seat change that moved no money either way
        {**APPLIED, "quantity_before": 5, "quantity_after": 5, "charge": eur(0)},
        # seats added, but how many is not known: nothing to reconcile a quantity against
        {
            **APPLIED,
            "quantity_before": None,
            "quantity_after": 8,
            "charge": eur(1380),
            "invoice_id": "in_2",
        },
    ],
)
def test_a_change_that_moved_no_money_records_no_charge(change: dict[str, Any]):
    assert change_charge(licence_change(**change), TERM_END) is None


def test_without_a_term_end_the_charge_is_for_a_day():
    charge = change_charge(
        licence_change(quantity_before=5, quantity_after=8, charge=eur(1380), invoice_id="in_2",
                       **APPLIED),
        None,
    )  # fmt: skip
    assert charge is not None and charge.period_end == T0 + timedelta(days=1)
