"""The records the book adds: price lists, licence changes, renewals, dunning cases,
notices, processed events, timeline entries, subscription records. Each refuses what cannot
be true and round-trips through its JSON dump."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel

from shared.models import (
    DunningCaseRecord,
    FieldChange,
    FixedPrice,
    LicenceChange,
    Markup,
    PriceList,
    Renewal,
    TimelineEntry,
    offer_key,
)
from tests.shared.book.records import (
    T0,
    dunning_case,
    licence_change,
    notice,
    processed_event,
    renewal,
    subscription_record,
)


def price_list(**overrides):
    data = {"id": "standard", "currency": "EUR", "default": {"kind": "markup", "rate": "0.2"}}
    return PriceList.model_validate(data | overrides)


@pytest.mark.parametrize(
    "record",
    [
        price_list(
            families={"m365": {"kind": "fixed", "price": {"amount_minor": 700, "currency": "EUR"}}},
            customers={"c-1": {"default": {"kind": "markup", "rate": "0.05"}}},
        ),
        licence_change(),
        renewal(decision="renew", decided_at=T0, decided_by="customer"),
        dunning_case(),
        notice(),
        processed_event(),
        subscription_record(),
        TimelineEntry(
            customer_id="c-1",
            id="e-1",
            at=T0,
            kind="subscription",
            summary="changed",
            changes=(FieldChange(field="quantity", before=5, after={"x": [1, None]}),),
        ),
    ],
    ids=lambda record: type(record).__name__,
)
def test_a_record_round_trips_through_its_json_dump(record: BaseModel):
    assert type(record).model_validate(record.model_dump(mode="json")) == record
    assert type(record).model_validate_json(record.model_dump_json()) == record


def test_a_markup_is_exact_and_never_below_minus_100_percent(rejects):
    assert Markup(rate=Decimal("0.15")).rate == Decimal("0.15")
    assert rejects(Markup, {"rate": 0.15}) == {"rate"}  # a float is never a rate
    assert rejects(Markup, {"rate": "-1.01"}) == {""}


def test_a_fixed_price_is_not_negative_and_in_the_list_currency(rejects):
    assert rejects(FixedPrice, {"price": {"amount_minor": -1, "currency": "EUR"}}) == {""}
    usd = {"kind": "fixed", "price": {"amount_minor": 700, "currency": "USD"}}
    for where in (
        {"default": usd},
        {"offers": {"x": usd}},
        {"customers": {"c": {"families": {"f": usd}}}},
    ):
        with pytest.raises(ValueError, match="not in the list currency EUR"):
            price_list(**where)


def test_an_offer_key_names_catalog_item_term_and_billing_cycle():
    assert offer_key("A:B:C", "P1Y", "monthly") == "A:B:C:P1Y:monthly"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"change_by": -1}, "gives quantity or change_by, not both"),
        ({"quantity": None}, "gives quantity or change_by, not both"),
        ({"quantity": None, "change_by": 0}, "adds or removes at least one seat"),
        ({"kind": "cancel", "quantity": None, "change_by": 1}, "change_by is for quantity"),
        ({"kind": "upgrade"}, "target_catalog_item_id is given exactly for an upgrade"),
        ({"target_catalog_item_id": "A:B:C"}, "target_catalog_item_id is given exactly"),
        ({"kind": "auto_renew", "quantity": None}, "auto_renew is given exactly"),
        ({"kind": "cancel"}, "a cancel change takes no quantity"),
        ({"status": "applied"}, "an? applied change says when it takes effect"),
    ],
)
def test_a_licence_change_is_consistent(overrides, message):
    with pytest.raises(ValueError, match=message):
        licence_change(**overrides)


def test_an_upgrade_names_its_target_and_an_open_change_knows_it_is_open():
    upgrade = licence_change(kind="upgrade", quantity=5, target_catalog_item_id="A:B:C")
    assert upgrade.is_open and not upgrade.is_final
    applied = LicenceChange.model_validate(
        upgrade.model_dump() | {"status": "applied", "effective_at": T0}
    )
    assert not applied.is_open and applied.is_final


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"decision": "renew"}, "decision, decided_at and decided_by are set together"),
        ({"outcome": "renewed"}, "outcome and closed_at are set together"),
        ({"closed_at": T0}, "outcome and closed_at are set together"),
    ],
)
def test_a_renewal_sets_related_fields_together(overrides, message):
    with pytest.raises(ValueError, match=message):
        renewal(**overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "recovered"}, "closed_at is set exactly when the case is no longer open"),
        ({"closed_at": T0}, "closed_at is set exactly when the case is no longer open"),
        ({"status": "recovered", "closed_at": T0}, "a recovered case carries the payment time"),
        ({"status": "written_off", "closed_at": T0}, "a written-off case has case.written_off"),
    ],
)
def test_a_dunning_case_record_is_closed_consistently(overrides, message):
    with pytest.raises(ValueError, match=message):
        dunning_case(**overrides)


def test_a_dunning_case_record_names_its_invoice():
    record = dunning_case("inv-7")
    assert isinstance(record, DunningCaseRecord) and record.invoice_id == "inv-7"


def test_a_subscription_record_is_named_and_ends_as_its_mirror_does():
    record = subscription_record(term_end=datetime(2027, 1, 14, tzinfo=UTC))
    assert (record.id, record.term_end) == ("sub-1", datetime(2027, 1, 14, tzinfo=UTC))
    assert record.term_end - timedelta(seconds=1) == record.subscription.commitment_end_date_time


def test_a_renewal_round_trips_with_its_reminders():
    r = Renewal.model_validate(renewal(reminders_sent=[T0, T0 + timedelta(days=30)]).model_dump())
    assert len(r.reminders_sent) == 2
