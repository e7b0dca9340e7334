from datetime import date
from uuid import uuid4

import pytest

from shared.models.party import BusinessCalendar, Customer, Partner, PaymentTerms


def customer_data(**overrides):
    data = {
        "id": "cust-1",
        "partner_id": "partner-1",
        "company_name": "Contoso Ltd",
        "domain": "contoso.onmicrosoft.com",
        "contacts": [
            {"name": "Ada", "email": "ada@contoso.com"},
            {"name": "Bob", "email": "bob@contoso.com", "role": "billing"},
        ],
        "billing_currency": "EUR",
    }
    return data | overrides


def test_customer_defaults_to_standard_sla_and_card_payment():
    customer = Customer.model_validate(customer_data())
    assert customer.sla_tier == "standard"
    assert customer.payment_terms == PaymentTerms()
    assert customer.primary_contact.name == "Ada"
    assert customer.billing_contact.name == "Bob"


def test_a_customer_may_have_its_own_renewal_reminder_offsets():
    # docs/rules.md#reminder-cadence: None is the partner's offsets
    assert Customer.model_validate(customer_data()).renewal_reminder_days is None
    own = Customer.model_validate(customer_data(renewal_reminder_days=[90, 14]))
    assert own.renewal_reminder_days == (90, 14)


def test_billing_contact_falls_back_to_the_primary():
    customer = Customer.model_validate(
        customer_data(contacts=[{"name": "Cy", "email": "cy@x.com", "role": "technical"}])
    )
    assert customer.primary_contact.name == "Cy"
    assert customer.billing_contact.name == "Cy"


def test_domain_is_read_case_insensitively():
    customer = Customer.model_validate(customer_data(domain=" Contoso.OnMicrosoft.com "))
    assert customer.domain == "contoso.onmicrosoft.com"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"domain": "not a domain"}, "domain"),
        ({"domain": "-bad.example.com"}, "domain"),
        ({"contacts": []}, "contacts"),
        ({"contacts": [{"name": "A", "email": "not-an-email"}]}, "contacts.0.email"),
        ({"billing_currency": "EUD"}, "billing_currency"),
        ({"billing_currency": 978}, "billing_currency"),
        ({"sla_tier": "gold"}, "sla_tier"),
        ({"tenant_id": "not-a-uuid"}, "tenant_id"),
        ({"calendar": {"time_zone": "Mars/Olympus"}}, "calendar.time_zone"),
        ({"calendar": {"country": "usa"}}, "calendar.country"),
        ({"calendar": {"country": "ZZ"}}, "calendar.country"),
        ({"calendar": {"country": "DE", "subdivision": "XX"}}, "calendar.subdivision"),
        (
            {"payment_terms": {"net_days": 120, "collection": "send_invoice"}},
            "payment_terms.net_days",
        ),
        ({"stripe_customer_id": "acct_123"}, "stripe_customer_id"),
        ({"id": "has space"}, "id"),
        ({"nickname": "extra"}, "nickname"),
        ({"renewal_reminder_days": [0]}, "renewal_reminder_days.0"),
        ({"renewal_reminder_days": [60, 400]}, "renewal_reminder_days.1"),
        ({"renewal_reminder_days": []}, "renewal_reminder_days"),
    ],
)
def test_bad_customer_input_names_the_field(rejects, override, field):
    assert field in rejects(Customer, customer_data(**override))


def test_net_days_apply_only_to_invoices(rejects):
    assert rejects(PaymentTerms, {"collection": "charge_automatically", "net_days": 30}) == {""}
    assert PaymentTerms(collection="send_invoice", net_days=30).net_days == 30


def test_business_calendar_carries_zone_country_and_extra_closed_days():
    calendar = BusinessCalendar(
        time_zone="Europe/Berlin",
        country="DE",
        subdivision="BY",
        extra_holidays=(date(2026, 12, 24),),
    )
    assert BusinessCalendar.model_validate(calendar.model_dump(mode="json")) == calendar


def test_partner_round_trips_through_json():
    partner = Partner(id="p1", name="Fabrikam CSP", tenant_id=uuid4(), default_currency="usd")
    assert Partner.model_validate(partner.model_dump(mode="json")) == partner


def test_partner_mpn_id_is_numeric(rejects):
    data = {"id": "p1", "name": "F", "tenant_id": str(uuid4()), "default_currency": "USD"}
    assert rejects(Partner, data | {"mpn_id": "abc"}) == {"mpn_id"}
