import copy
from datetime import UTC, date, datetime

import pytest

from shared.models.subscription import SeatBatch, Subscription

# An NCE subscription shaped as in Microsoft Learn's examples (get-a-subscription-by-id,
# change-the-quantity-of-a-subscription), with fields we do not model left in on purpose.
PARTNER_CENTER_JSON = {
    "id": "a4c1340d-6911-4758-bba3-0c4c6007d161",
    "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
    "offerName": "Microsoft 365 Business Basic",
    "friendlyName": "Microsoft 365 Business Basic",
    "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
    "quantity": 15,
    "unitType": "Licenses",
    "hasPurchasableAddons": False,
    "creationDate": "2026-01-14T16:57:15.0966728Z",
    "effectiveStartDate": "2026-01-14T16:57:14.498252Z",
    "commitmentEndDate": "2027-01-13T00:00:00Z",
    "commitmentEndDateTime": "2027-01-13T23:59:59Z",
    "cancellationAllowedUntilDate": "2026-01-21T16:57:14Z",
    "billingCycleEndDate": "2026-02-13T00:00:00Z",
    "status": "active",
    "autoRenewEnabled": True,
    "isTrial": False,
    "billingType": "license",
    "billingCycle": "monthly",
    "termDuration": "P1Y",
    "renewalTermDuration": "",
    "refundOptions": [{"type": "Full", "expiresAt": "2026-01-15T00:00:00Z"}],
    "refundableQuantity": {
        "totalQuantity": 10,
        "details": [{"quantity": 10, "allowedUntilDateTime": "2026-01-21T20:39:17.182697Z"}],
    },
    "scheduledNextTermInstructions": None,
    "orderId": "34b37d7340cc",
    "links": {"self": {"uri": "/customers/x/subscriptions/y", "method": "GET", "headers": []}},
    "attributes": {"etag": "<etag>", "objectType": "Subscription"},
}

SCHEDULED = {
    "product": {
        "productId": "CFQ7TTC0LH18",
        "skuId": "0001",
        "availabilityId": "CFQ7TTC0K971",
        "billingCycle": "Monthly",
        "termDuration": "P1Y",
        "promotionId": "39NFJQT1PFPJ:000H:39NFJQT1Q5DK",
    },
    "quantity": 8,
    "customTermEndDate": "2028-01-31T00:00:00",
}


def pc(**overrides):
    data = copy.deepcopy(PARTNER_CENTER_JSON)
    data.update(overrides)
    return data


def test_partner_center_json_validates_directly():
    sub = Subscription.model_validate(pc())
    assert sub.offer_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert sub.commitment_end_date == date(2027, 1, 13)
    assert sub.cancellation_allowed_until_date == datetime(2026, 1, 21, 16, 57, 14, tzinfo=UTC)
    assert sub.refundable_quantity is not None
    assert sub.refundable_quantity.details[0].quantity == 10
    assert sub.term_duration == "P1Y" and sub.billing_cycle == "monthly"


def test_snake_case_names_validate_too():
    sub = Subscription.model_validate(pc())
    by_name = Subscription(
        id=sub.id,
        offer_id=sub.offer_id,
        quantity=3,
        status="active",
        auto_renew_enabled=False,
        billing_cycle="annual",
        term_duration="P1Y",
        effective_start_date=sub.effective_start_date,
        commitment_end_date=sub.commitment_end_date,
    )
    assert by_name.quantity == 3 and by_name.auto_renew_enabled is False


def test_dump_uses_partner_center_names_and_round_trips():
    sub = Subscription.model_validate(pc(scheduledNextTermInstructions=SCHEDULED))
    dumped = sub.model_dump(mode="json")
    assert dumped["commitmentEndDate"] == "2027-01-13"
    assert dumped["scheduledNextTermInstructions"]["customTermEndDate"] == "2028-01-31"
    assert Subscription.model_validate(dumped) == sub


def test_scheduled_next_term_instructions_are_read():
    sub = Subscription.model_validate(pc(scheduledNextTermInstructions=SCHEDULED))
    instructions = sub.scheduled_next_term_instructions
    assert instructions is not None
    assert instructions.quantity == 8
    assert instructions.product.billing_cycle == "monthly"
    assert instructions.product.catalog_item_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert instructions.custom_term_end_date == date(2028, 1, 31)


# Partner Center: the end date is inclusive; renewal starts 00:00 UTC the next day
# (docs/rules.md#term-end).
def test_term_ends_after_the_last_second_of_commitment_end_date_time():
    sub = Subscription.model_validate(pc())
    assert sub.term_end == datetime(2027, 1, 14, tzinfo=UTC)


def test_term_end_falls_back_to_the_day_after_commitment_end_date():
    data = pc()
    del data["commitmentEndDateTime"]
    assert Subscription.model_validate(data).term_end == datetime(2027, 1, 14, tzinfo=UTC)


@pytest.mark.parametrize("status", ["ACTIVE", "Suspended", "deleted"])
def test_status_is_read_case_insensitively(status):
    assert Subscription.model_validate(pc(status=status)).status == status.lower()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"quantity": -1}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"status": "paused"}, "status"),
        ({"termDuration": "P2Y"}, "termDuration"),
        ({"billingCycle": "weekly"}, "billingCycle"),
        ({"effectiveStartDate": "2026-01-14T16:57:14"}, "effectiveStartDate"),
        ({"cancellationAllowedUntilDate": "yesterday"}, "cancellationAllowedUntilDate"),
        ({"offerId": "not-a-catalog-item"}, "offerId"),
        ({"autoRenewEnabled": "maybe"}, "autoRenewEnabled"),
        (
            {"refundableQuantity": {"totalQuantity": 1, "details": [{"quantity": 1}]}},
            "refundableQuantity.details.0.allowedUntilDateTime",
        ),
    ],
)
def test_bad_partner_center_input_names_the_field(rejects, override, field):
    assert field in rejects(Subscription, pc(**override))


def test_naive_times_are_rejected_not_guessed(rejects):
    assert rejects(Subscription, pc(commitmentEndDateTime="2027-01-13T23:59:59")) == {
        "commitmentEndDateTime"
    }


def test_an_instant_out_of_range_in_utc_is_refused_naming_the_field(rejects):
    # 0001-01-01T00:00:00+01:00 is in year 0 in UTC, which datetime cannot hold.
    early = pc(effectiveStartDate="0001-01-01T00:00:00+01:00", commitmentEndDate="2027-01-13")
    assert rejects(Subscription, early) == {"effectiveStartDate"}


def test_commitment_end_before_start_is_refused():
    with pytest.raises(ValueError, match="before effectiveStartDate"):
        Subscription.model_validate(pc(commitmentEndDate="2025-01-01T00:00:00Z"))


def test_times_with_offsets_are_normalised_to_utc():
    sub = Subscription.model_validate(pc(effectiveStartDate="2026-01-14T18:57:14+02:00"))
    assert sub.effective_start_date == datetime(2026, 1, 14, 16, 57, 14, tzinfo=UTC)
    assert sub.effective_start_date.tzinfo is UTC


def test_seat_batch_needs_an_aware_time_and_a_positive_quantity(rejects):
    assert rejects(SeatBatch, {"quantity": 0, "added_at": "2026-01-01T00:00:00Z"}) == {"quantity"}
    assert rejects(SeatBatch, {"quantity": 1, "added_at": "2026-01-01T00:00:00"}) == {"added_at"}


def test_seat_batch_round_trips_through_json():
    batch = SeatBatch(quantity=3, added_at=datetime(2026, 2, 1, 12, tzinfo=UTC))
    assert SeatBatch.model_validate(batch.model_dump(mode="json")) == batch
