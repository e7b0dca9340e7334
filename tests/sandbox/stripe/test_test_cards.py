"""Stripe's test payment methods behave as https://docs.stripe.com/testing documents them,
and the sandbox's own scripted cards do what their names say."""

from datetime import UTC, datetime

import pytest
import requests
import stripe

# (token, error code, decline_code, the card number the page lists) from
# https://docs.stripe.com/testing#declined-payments (None where it gives the decline code as
# "n/a"); the PaymentMethod carries that card's last 4 digits.
DOCS = "https://docs.stripe.com/testing#declined-payments"
DECLINE_CARDS = [
    pytest.param(
        "pm_card_chargeDeclined",
        "card_declined",
        "generic_decline",
        "4000000000000002",
        id=f"{DOCS}: generic decline",
    ),
    pytest.param(
        "pm_card_chargeDeclinedInsufficientFunds",
        "card_declined",
        "insufficient_funds",
        "4000000000009995",
        id=f"{DOCS}: insufficient funds",
    ),
    pytest.param(
        "pm_card_chargeDeclinedLostCard",
        "card_declined",
        "lost_card",
        "4000000000009987",
        id=f"{DOCS}: lost card",
    ),
    pytest.param(
        "pm_card_chargeDeclinedStolenCard",
        "card_declined",
        "stolen_card",
        "4000000000009979",
        id=f"{DOCS}: stolen card",
    ),
    pytest.param(
        "pm_card_chargeDeclinedExpiredCard",
        "expired_card",
        None,
        "4000000000000069",
        id=f"{DOCS}: expired card",
    ),
    pytest.param(
        "pm_card_chargeDeclinedIncorrectCvc",
        "incorrect_cvc",
        None,
        "4000000000000127",
        id=f"{DOCS}: incorrect CVC",
    ),
    pytest.param(
        "pm_card_chargeDeclinedProcessingError",
        "processing_error",
        None,
        "4000000000000119",
        id=f"{DOCS}: processing error",
    ),
    pytest.param(
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "card_declined",
        "insufficient_funds",
        "4000000000009995",
        id=f"{DOCS}: insufficient funds (pm_card_visa_ name)",
    ),
    pytest.param(
        "pm_card_visa_chargeDeclinedVelocityLimitExceeded",
        "card_declined",
        "card_velocity_exceeded",
        "4000000000006975",
        id=f"{DOCS}: exceeding velocity limit",
    ),
]


def _error(info):
    """The Stripe error object of a raised StripeError (untyped: the SDK's is Optional)."""
    error = info.value.error
    assert error is not None
    return error


def _raw_error(info):
    """The `error` object as the sandbox sent it (the SDK fills in the omitted nulls)."""
    body = info.value.json_body
    assert isinstance(body, dict)
    return body["error"]


def _customer(sdk):
    return sdk.v1.customers.create({"name": "Contoso"})


def _charge(sdk, customer_id, payment_method, off_session=True):
    return sdk.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "eur",
            "customer": customer_id,
            "payment_method": payment_method,
            "confirm": True,
            "off_session": off_session,
        }
    )


def test_pm_card_visa_is_charged(sdk):
    cus = _customer(sdk)
    pi = _charge(sdk, cus.id, "pm_card_visa")
    assert pi.status == "succeeded" and pi.amount_received == 1000
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert charge.paid and charge.status == "succeeded"
    assert charge.payment_method_details.card.last4 == "4242"


def test_each_use_of_a_token_creates_a_new_payment_method(sdk):
    cus = _customer(sdk)
    a = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    b = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    assert a.id != b.id and a.id.startswith("pm_")


@pytest.mark.parametrize(("token", "code", "decline_code", "number"), DECLINE_CARDS)
def test_a_decline_card_fails_the_charge_with_its_documented_codes(
    sdk, token, code, decline_code, number
):
    cus = _customer(sdk)
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, token)
    error = _error(info)
    assert info.value.http_status == 402
    assert (error.code, error.decline_code) == (code, decline_code)
    pi = sdk.v1.payment_intents.retrieve(error.payment_intent.id)
    assert pi.status == "requires_payment_method"
    assert (pi.last_payment_error.code, pi.last_payment_error.decline_code) == (code, decline_code)
    charge = sdk.v1.charges.retrieve(error.charge)
    assert charge.status == "failed"
    assert charge.payment_method_details.card.last4 == number[-4:]


@pytest.mark.parametrize(("token", "code", "decline_code", "number"), DECLINE_CARDS)
def test_a_decline_card_cannot_be_attached_to_a_customer(sdk, token, code, decline_code, number):
    cus = _customer(sdk)
    with pytest.raises(stripe.CardError) as info:
        sdk.v1.payment_methods.attach(token, {"customer": cus.id})
    assert (info.value.code, _error(info).decline_code) == (code, decline_code)
    assert sdk.v1.customers.payment_methods.list(cus.id).data == []


def test_charge_customer_fail_attaches_then_every_charge_declines(sdk):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": cus.id})
    assert pm.card.last4 == "0341"  # https://docs.stripe.com/testing#declined-payments
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, pm.id)
    assert _error(info).decline_code == "generic_decline"


def test_fail_after_n_succeeds_n_times_then_declines_with_the_chosen_code(sdk):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach(
        "pm_card_sandbox_fail_after_2_insufficient_funds", {"customer": cus.id}
    )
    assert _charge(sdk, cus.id, pm.id).status == "succeeded"
    assert _charge(sdk, cus.id, pm.id).status == "succeeded"
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, pm.id)
    assert _error(info).decline_code == "insufficient_funds"


@pytest.mark.parametrize(
    ("token", "code", "advice"),
    [
        ("pm_card_sandbox_decline_first_2_insufficient_funds", "insufficient_funds", None),
        ("pm_card_sandbox_decline_first_2_lost_card", "lost_card", None),
        (
            "pm_card_sandbox_decline_first_2_generic_decline_advice_try_again_later",
            "generic_decline",
            "try_again_later",
        ),
    ],
)
def test_decline_first_k_declines_k_times_with_the_chosen_code_then_succeeds(
    sdk, token, code, advice
):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach(token, {"customer": cus.id})
    for _ in range(2):
        with pytest.raises(stripe.CardError) as info:
            _charge(sdk, cus.id, pm.id)
        assert _error(info).decline_code == code
        assert getattr(_error(info), "advice_code", None) == advice
    assert _charge(sdk, cus.id, pm.id).status == "succeeded"
    assert _charge(sdk, cus.id, pm.id).status == "succeeded"


def test_fail_after_with_an_unknown_decline_code_is_refused(sdk):
    cus = _customer(sdk)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.payment_methods.attach("pm_card_sandbox_fail_after_1_bogus", {"customer": cus.id})
    assert info.value.param == "payment_method"


def test_a_card_expiring_this_month_works_until_the_month_ends(sdk, clock):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach("pm_card_sandbox_expires_2026_01", {"customer": cus.id})
    assert (pm.card.exp_month, pm.card.exp_year) == (1, 2026)
    assert _charge(sdk, cus.id, pm.id).status == "succeeded"
    clock.set(datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC))
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, pm.id)
    assert _error(info).code == "expired_card"


def test_no_expiring_event_is_sent_for_a_payment_method_as_in_stripe(sdk, clock):
    cus = _customer(sdk)
    sdk.v1.payment_methods.attach("pm_card_sandbox_expires_2026_03", {"customer": cus.id})
    clock.set(datetime(2026, 3, 1, 0, 0, 5, tzinfo=UTC))
    listed = sdk.v1.customers.payment_methods.list(cus.id).data
    assert [(pm.card.exp_month, pm.card.exp_year) for pm in listed] == [(3, 2026)]
    assert sdk.v1.events.list({"type": "customer.source.expiring"}).data == []


def test_authentication_required_needs_the_customer_on_an_invoice(sdk):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach("pm_card_authenticationRequired", {"customer": cus.id})
    # https://docs.stripe.com/testing#authentication-and-setup: 4000002760003184, always
    assert pm.card.last4 == "3184"
    inv = sdk.v1.invoices.create(
        {"customer": cus.id, "currency": "eur", "default_payment_method": pm.id}
    )
    sdk.v1.invoice_items.create(
        {"customer": cus.id, "invoice": inv.id, "amount": 700, "currency": "eur"}
    )
    sdk.v1.invoices.finalize_invoice(inv.id)
    with pytest.raises(stripe.CardError) as info:
        sdk.v1.invoices.pay(inv.id)
    assert info.value.code == "invoice_payment_intent_requires_action"
    types = [e.type for e in sdk.v1.events.list({"limit": 100}).data]
    assert "invoice.payment_action_required" in types


def test_authentication_required_on_session_waits_for_3ds(sdk):
    cus = _customer(sdk)
    pi = _charge(sdk, cus.id, "pm_card_authenticationRequired", off_session=False)
    assert pi.status == "requires_action"
    assert pi.next_action.type == "use_stripe_sdk"


def test_create_dispute_succeeds_then_is_disputed(sdk):
    cus = _customer(sdk)
    pi = _charge(sdk, cus.id, "pm_card_createDispute")
    assert pi.status == "succeeded"
    # https://docs.stripe.com/testing#disputes: 4000000000000259, fraudulent
    assert sdk.v1.charges.retrieve(pi.latest_charge).payment_method_details.card.last4 == "0259"
    disputes = sdk.v1.events.list({"type": "charge.dispute.created"}).data
    assert len(disputes) == 1
    dispute = disputes[0].data.object
    assert dispute.charge == pi.latest_charge and dispute.reason == "fraudulent"
    assert sdk.v1.charges.retrieve(pi.latest_charge).disputed is True


def test_automatic_card_update_changes_the_card_and_emits_the_event(sdk, sandbox):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach("pm_card_sandbox_expires_2026_02", {"customer": cus.id})
    resp = requests.post(
        f"{sandbox.base_url}/_sandbox/payment_methods/{pm.id}/automatic_update",
        data={"exp_month": "2", "exp_year": "2030"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert sdk.v1.payment_methods.retrieve(pm.id).card.exp_year == 2030
    events = sdk.v1.events.list({"type": "payment_method.automatically_updated"}).data
    assert events[0].data.previous_attributes.card.exp_year == 2026


def test_a_customer_created_with_a_refused_card_is_not_created(sdk):
    with pytest.raises(stripe.CardError):
        sdk.v1.customers.create({"name": "Contoso", "payment_method": "pm_card_chargeDeclined"})
    assert sdk.v1.customers.list().data == []


# https://docs.stripe.com/declines/card#retrying-issuer-declines: the advice code is the
# issuer's; the testing page lists none for its cards. Stripe's error objects omit null fields
# (stripe-python's ErrorObject says so), so there is no advice_code at all.
@pytest.mark.parametrize(("token", "code", "decline_code", "number"), DECLINE_CARDS)
def test_a_documented_decline_card_is_an_issuer_decline_without_advice(
    sdk, token, code, decline_code, number
):
    cus = _customer(sdk)
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, token)
    assert "advice_code" not in _raw_error(info)
    outcome = sdk.v1.charges.retrieve(_error(info).charge).outcome
    assert (outcome.type, outcome.network_status, outcome.advice_code) == (
        "issuer_declined",
        "declined_by_network",
        None,
    )
    assert outcome.reason == (decline_code or code)


FRAUD = "https://docs.stripe.com/testing#fraud-prevention"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("pm_card_radarBlock", id=f"{FRAUD}: always blocked"),
        pytest.param(
            "pm_card_chargeDeclinedFraudulent",
            id="https://docs.stripe.com/radar/testing: always blocked",
        ),
    ],
)
def test_the_radar_block_card_is_blocked_by_radar_not_declined_by_the_issuer(sdk, token):
    """https://docs.stripe.com/error-handling: for pm_card_radarBlock,
    `charge.outcome.type == 'blocked'` ("Payment blocked for suspected fraud")."""
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach(token, {"customer": cus.id})
    assert pm.card.last4 == "0019"  # 4100000000000019
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, pm.id)
    assert (info.value.code, _error(info).decline_code) == ("card_declined", "fraudulent")
    outcome = sdk.v1.charges.retrieve(_error(info).charge).outcome
    assert (outcome.type, outcome.network_status) == ("blocked", "not_sent_to_network")
    assert (outcome.reason, outcome.risk_level) == ("highest_risk_level", "highest")


def test_a_scripted_card_can_carry_the_issuers_advice(sdk):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach(
        "pm_card_sandbox_fail_after_0_insufficient_funds_advice_try_again_later",
        {"customer": cus.id},
    )
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, pm.id)
    error = _error(info)
    assert (error.decline_code, error.advice_code) == ("insufficient_funds", "try_again_later")
    assert sdk.v1.charges.retrieve(error.charge).outcome.advice_code == "try_again_later"


def _script(sandbox, **data):
    resp = requests.post(f"{sandbox.base_url}/_sandbox/declines", data=data, timeout=10)
    return resp


def test_a_decline_scripted_for_a_customer_applies_to_its_next_charges(sdk, sandbox):
    cus = _customer(sdk)
    script = _script(
        sandbox,
        customer=cus.id,
        decline_code="do_not_honor",
        advice_code="do_not_try_again",
        network_decline_code="05",
        times="2",
    )
    assert script.status_code == 200, script.text
    for _ in range(2):
        with pytest.raises(stripe.CardError) as info:
            _charge(sdk, cus.id, "pm_card_visa")
        error = _error(info)
        assert (error.code, error.decline_code, error.advice_code) == (
            "card_declined",
            "do_not_honor",
            "do_not_try_again",
        )
        assert error.network_decline_code == "05"
    assert _charge(sdk, cus.id, "pm_card_visa").status == "succeeded"  # used up
    assert _charge(sdk, _customer(sdk).id, "pm_card_visa").status == "succeeded"  # others


@pytest.mark.parametrize(
    ("outcome_type", "network_status"),
    [("blocked", "not_sent_to_network"), ("invalid", "not_sent_to_network")],
)
def test_a_decline_scripted_for_a_payment_method_sets_the_outcome_type(
    sdk, sandbox, outcome_type, network_status
):
    cus = _customer(sdk)
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    script = _script(sandbox, payment_method=pm.id, outcome_type=outcome_type).json()
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, pm.id)
    assert "advice_code" not in _raw_error(info)
    outcome = sdk.v1.charges.retrieve(_error(info).charge).outcome
    assert (outcome.type, outcome.network_status) == (outcome_type, network_status)
    cancelled = _script_cancel(sandbox, script["id"])
    assert cancelled["active"] is False
    assert _charge(sdk, cus.id, pm.id).status == "succeeded"


def _script_cancel(sandbox, script_id):
    resp = requests.post(f"{sandbox.base_url}/_sandbox/declines/{script_id}/cancel", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_decline_script_with_a_known_reason_takes_stripes_code_for_it(sdk, sandbox):
    cus = _customer(sdk)
    _script(sandbox, customer=cus.id, decline_code="expired_card", times="1")
    with pytest.raises(stripe.CardError) as info:
        _charge(sdk, cus.id, "pm_card_visa")
    assert (info.value.code, _error(info).decline_code) == ("expired_card", None)


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({}, "customer"),
        ({"customer": "cus_x", "payment_method": "pm_x"}, "customer"),
        ({"customer": "cus_missing"}, "customer"),
        ({"advice_code": "maybe_later"}, "advice_code"),
        ({"outcome_type": "authorized"}, "outcome_type"),
        ({"times": "0"}, "times"),
    ],
)
def test_a_bad_decline_script_is_refused_naming_the_param(sdk, sandbox, data, param):
    if data and "customer" not in data and "payment_method" not in data:
        data = {"customer": _customer(sdk).id, **data}
    resp = _script(sandbox, **data)
    assert resp.status_code in (400, 404)
    assert resp.json()["error"]["param"] == param
