"""Who gets a notice: the kind's roles or the customer's routes, the primary contact when a
role is vacant, nobody when a non-essential kind is muted, the partner's own readers for
partner-side kinds; each person once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.notifications.recipients import (
    Addressee,
    NoticePreferences,
    PartnerAudience,
    resolve,
)

P = Addressee(name="Pat", email="pat@c.example", role="primary")
B = Addressee(name="Bo", email="bo@c.example", role="billing", locale="nl")
T = Addressee(name="Tess", email="tess@c.example", role="technical")
OPS = Addressee(name="Ops", email="ops@partner.example", role="ops")
APPROVER = Addressee(name="Al", email="al@partner.example", role="approver")
PARTNER = PartnerAudience(approvers=(APPROVER,), ops=(OPS,))


def emails(kind, contacts, preferences=None):
    return [a.email for a in resolve(kind, contacts, preferences, PARTNER).addressees]


@pytest.mark.parametrize(
    ("kind", "contacts", "expected"),
    [
        ("payment_failed", (P, B, T), ["bo@c.example"]),
        ("payment_failed", (P, T), ["pat@c.example"]),  # no billing contact: the primary
        ("welcome", (P, B, T), ["pat@c.example", "tess@c.example"]),
        ("welcome", (P, B), ["pat@c.example"]),  # technical vacant: primary, once
        ("suspended", (P, B, T), ["bo@c.example", "pat@c.example", "tess@c.example"]),
        ("renewal_reminder", (B, T), ["bo@c.example"]),  # no primary: the first contact
        ("ops_alert", (P, B), ["ops@partner.example"]),
        ("approval_requested", (P,), ["al@partner.example"]),
        ("payment_failed", (), []),
    ],
)
def test_default_audiences(kind, contacts, expected):
    assert emails(kind, contacts) == expected


def test_the_same_address_in_two_roles_gets_one_message():
    also_billing = Addressee(name="Pat", email="PAT@c.example", role="billing")
    # suspended goes to billing first: that entry is kept, the primary one is the same person
    assert emails("suspended", (P, also_billing)) == ["PAT@c.example"]


def test_an_approver_or_ops_given_with_the_notice_wins_over_the_settings():
    other = Addressee(name="Vic", email="vic@partner.example", role="approver")
    assert emails("approval_requested", (other,)) == ["vic@partner.example"]


def test_preferences_route_and_mute_customer_kinds():
    prefs = NoticePreferences(
        customer_id="c-1",
        routes={"payment_failed": ("technical", "billing")},
        muted=frozenset({"welcome", "reactivated"}),
    )
    assert emails("payment_failed", (P, B, T), prefs) == ["tess@c.example", "bo@c.example"]
    assert resolve("welcome", (P, B, T), prefs, PARTNER).muted
    assert emails("suspended", (P, B, T), prefs) == [
        "bo@c.example",
        "pat@c.example",
        "tess@c.example",
    ]


def test_an_essential_kind_cannot_be_muted():
    with pytest.raises(
        ValidationError, match="essential notices cannot be turned off: payment_failed"
    ):
        NoticePreferences(customer_id="c-1", muted=frozenset({"payment_failed"}))


def test_a_customer_cannot_route_partner_notices_or_route_to_nobody():
    with pytest.raises(ValidationError, match="goes to the partner"):
        NoticePreferences(customer_id="c-1", routes={"ops_alert": ("primary",)})
    with pytest.raises(ValidationError, match="at least one contact role"):
        NoticePreferences(customer_id="c-1", routes={"welcome": ()})


def test_preferences_round_trip_through_json():
    prefs = NoticePreferences(
        customer_id="c-1", routes={"card_expiring": ("primary",)}, muted=frozenset({"welcome"})
    )
    assert NoticePreferences.model_validate_json(prefs.model_dump_json()) == prefs


def test_an_addressee_reads_in_a_supported_language_and_a_real_zone():
    with pytest.raises(ValidationError, match="locale"):
        Addressee(name="X", email="x@c.example", role="primary", locale="de")
    with pytest.raises(ValidationError, match="time_zone"):
        Addressee(name="X", email="x@c.example", role="primary", time_zone="Mars/Olympus")
