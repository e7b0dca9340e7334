"""The notice models: one per kind, each crossing a Durable boundary unchanged, and each
refusing what a notice must never carry."""

from __future__ import annotations

import typing

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.models import Money
from shared.notifications.kinds import (
    KINDS,
    CardRef,
    Notice,
    NoticeKind,
    PaymentFailed,
    RenewalOutcome,
    RenewalReminder,
    Welcome,
)
from tests.shared.notifications.samples import SAMPLES

NOTICE = TypeAdapter(Notice)


def test_every_kind_has_one_model_whose_kind_field_names_it():
    assert set(KINDS) == set(typing.get_args(NoticeKind))
    for kind, info in KINDS.items():
        assert info.model.model_fields["kind"].default == kind
        assert info.roles, kind


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_every_notice_round_trips_through_json_as_its_own_kind(kind):
    notice = SAMPLES[kind]
    data = notice.model_dump(mode="json")
    again = NOTICE.validate_python(data)
    assert type(again) is type(notice) and again == notice


def test_partner_side_kinds_go_to_the_partner_and_essential_kinds_are_marked():
    partner = {k for k, info in KINDS.items() if info.partner_side}
    assert partner == {
        "approval_requested",
        "sla_at_risk",
        "sla_breached",
        "sla_escalated",
        "ops_alert",
    }
    essential = {k for k, info in KINDS.items() if info.essential}
    for must in (
        "payment_failed",
        "suspension_warning",
        "suspended",
        "renewal_reminder",
        "card_expiring",
    ):
        assert must in essential
    for optional in ("welcome", "order_provisioned", "reactivated", "payment_retry_scheduled"):
        assert optional not in essential


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/pay/inv_1", "URL"),  # relative
        ("http://pay.contoso.example/inv_1", "https"),
        ("https://user:pw@pay.contoso.example/inv_1", "user name or password"),
        (
            "https://contoso.azurewebsites.net/api/renewals?code=functionkey==",
            "code would grant more",
        ),
        ("https://pay.contoso.example/inv_1?api_key=k", "api_key would grant more"),
    ],
)
def test_a_link_that_is_not_one_absolute_action_is_refused(url, message):
    data = SAMPLES["payment_failed"].model_dump(mode="json") | {"pay_url": url}
    with pytest.raises(ValidationError, match=message):
        PaymentFailed.model_validate(data)


def test_plain_http_is_allowed_only_to_this_machine():
    data = SAMPLES["payment_failed"].model_dump(mode="json")
    for local in ("http://127.0.0.1:7071/pay/1", "http://localhost:7071/pay/1", "http://[::1]/x"):
        assert PaymentFailed.model_validate(data | {"pay_url": local})


@pytest.mark.parametrize("last4", ["4242424242424242", "424", "42a2", ""])
def test_a_card_is_its_last_four_digits_and_nothing_more(last4):
    with pytest.raises(ValidationError, match="last4"):
        CardRef(brand="visa", last4=last4)


def test_a_card_expiry_is_whole():
    with pytest.raises(ValidationError, match="go together"):
        CardRef(brand="visa", last4="4242", exp_month=7)


def test_text_that_reaches_a_header_stays_on_one_line():
    with pytest.raises(ValidationError, match="customer_name"):
        Welcome(
            customer_name="Contoso\r\nBcc: everyone@example.com", domain="contoso.onmicrosoft.com"
        )


def test_amounts_in_one_notice_share_a_currency_and_are_never_floats():
    with pytest.raises(ValidationError, match="share a currency"):
        SAMPLES["order_provisioned"].model_validate(
            SAMPLES["order_provisioned"].model_dump(mode="json")
            | {"total": {"amount_minor": 1, "currency": "USD"}}
        )
    with pytest.raises(ValidationError, match="amount_minor"):
        Money.model_validate({"amount_minor": 12.5, "currency": "EUR"})


def test_renewal_rules_hold_in_the_models():
    data = SAMPLES["renewal_reminder"].model_dump(mode="json")
    with pytest.raises(ValidationError, match="decision_deadline is after term_end"):
        RenewalReminder.model_validate(data | {"decision_deadline": "2031-01-01T00:00:00Z"})
    outcome = SAMPLES["renewal_outcome"].model_dump(mode="json")
    with pytest.raises(ValidationError, match="new_term_end"):
        RenewalOutcome.model_validate(outcome | {"new_term_end": None})
