"""Customers: domain check, creation, reads, and the events a customer causes outside the
API (accepting a reseller invitation, a GDAP relationship changing)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sandbox.partner_center import audit
from sandbox.partner_center.bodies import obj, text
from sandbox.partner_center.context import Caller, Ctx
from sandbox.partner_center.errors import (
    INVALID_INPUT,
    NO_RELATIONSHIP,
    PcError,
    invalid,
    not_found,
)
from sandbox.partner_center.notifications import EXTERNAL_EVENTS
from sandbox.partner_center.store import Doc

# Countries where organizationRegistrationNumber is mandatory
# (https://learn.microsoft.com/en-us/partner-center/developer/create-a-customer).
# fmt: off
REGISTRATION_REQUIRED = frozenset({
    "AM", "AZ", "BY", "HU", "KZ", "KG", "MD", "RU", "TJ", "UZ", "UA", "BR", "IN", "ZA", "PL",
    "AE", "SA", "TR", "TH", "VN", "MM", "IQ", "SS", "VE",
})
# fmt: on


def domain_taken(ctx: Ctx, domain: str) -> bool:
    return any(
        c["companyProfile"]["domain"].lower() == domain.lower() for c in ctx.store.all("customer")
    )


def create_customer(
    ctx: Ctx, body: Doc, now: datetime, caller: Caller, *, tenant_id: str | None = None
) -> Doc:
    """`tenant_id` fixes the new tenant's id (seed data that another sandbox refers to);
    Microsoft always generates it."""
    billing = obj(body, "billingProfile")
    company = obj(body, "companyProfile")
    for field in ("email", "culture", "language", "companyName"):
        text(billing, field, f"billingProfile.{field}")
    address = obj(billing, "defaultAddress", "billingProfile.defaultAddress")
    for field in ("firstName", "lastName", "addressLine1", "city", "postalCode", "country"):
        text(address, field, f"billingProfile.defaultAddress.{field}")
    country = address["country"].upper()
    if len(country) != 2:
        raise invalid("billingProfile.defaultAddress.country", "must be an ISO 3166 code")
    domain = text(company, "domain", "companyProfile.domain").lower()
    if not domain.endswith(".onmicrosoft.com") or domain.count(".") != 2:
        raise invalid("companyProfile.domain", "must be <name>.onmicrosoft.com")
    if country in REGISTRATION_REQUIRED and not company.get("organizationRegistrationNumber"):
        raise invalid("companyProfile.organizationRegistrationNumber", f"is required in {country}")
    if domain_taken(ctx, domain):
        raise PcError(409, INVALID_INPUT, f"The domain {domain} is not available.")
    tenant_id = tenant_id or str(uuid.uuid4())
    customer = customer_document(
        tenant_id,
        domain,
        {**billing, "defaultAddress": {**address, "country": country}},
        registration_number=company.get("organizationRegistrationNumber"),
        gdap=bool(body.get("enableGDAPByDefault", False)),
    )
    ctx.store.put("customer", tenant_id, customer)
    audit.record(ctx, now, caller, "add_customer", "Customer", tenant_id, customer)
    # The generated admin password appears only in this response (create-a-customer).
    return {
        **customer,
        "userCredentials": {"userName": "admin", "password": secrets.token_urlsafe(12)},
    }


def customer_document(
    tenant_id: str,
    domain: str,
    billing: Doc,
    *,
    registration_number: str | None = None,
    gdap: bool = False,
    commerce_id: str | None = None,
    billing_profile_id: str | None = None,
) -> Doc:
    """A customer as Partner Center keeps it: `billing` holds the billing profile's email,
    culture, language, companyName and defaultAddress (validated by the caller)."""
    return {
        "id": tenant_id,
        "commerceId": commerce_id or str(uuid.uuid4()),
        "companyProfile": {
            "tenantId": tenant_id,
            "domain": domain,
            "companyName": billing["companyName"],
            "organizationRegistrationNumber": registration_number,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "billingProfile": {
            "id": billing_profile_id or str(uuid.uuid4()),
            "email": billing["email"],
            "culture": billing["culture"],
            "language": billing["language"],
            "companyName": billing["companyName"],
            "defaultAddress": billing["defaultAddress"],
            "attributes": {"etag": "1", "objectType": "CustomerBillingProfile"},
        },
        "enableGDAPByDefault": gdap,
        "relationshipToPartner": "reseller",
        "attributes": {"objectType": "Customer"},
    }


def get_customer(ctx: Ctx, customer_id: str) -> Doc:
    found = ctx.store.get("customer", customer_id)
    if found is None:
        raise not_found("customer", NO_RELATIONSHIP)
    return found


def list_customers(ctx: Ctx) -> list[Doc]:
    return ctx.store.all("customer")


def billing_profile(ctx: Ctx, customer_id: str) -> Doc:
    """The customer's billing profile as its own resource
    (https://learn.microsoft.com/en-us/partner-center/developer/get-all-of-a-customer-s-billing-profiles):
    the contact's first and last name beside the email, culture, language, company name and
    default address."""
    profile = dict(get_customer(ctx, customer_id)["billingProfile"])
    address = profile.get("defaultAddress", {})
    return {
        "id": profile["id"],
        "firstName": address.get("firstName", ""),
        "lastName": address.get("lastName", ""),
        **{k: v for k, v in profile.items() if k != "id"},
        "links": {"self": {"uri": f"/customers/{customer_id}/profiles/billing", "method": "GET",
                           "headers": []}},
    }  # fmt: skip


def simulate_event(ctx: Ctx, event_name: str, customer_id: str, now: datetime) -> None:
    """Events born outside the API (a customer accepts an invitation, a GDAP
    relationship is approved) are triggered through the admin endpoint."""
    resource = EXTERNAL_EVENTS.get(event_name)
    if resource is None:
        raise invalid("eventName", f"must be one of {', '.join(EXTERNAL_EVENTS)}, not {event_name}")
    get_customer(ctx, customer_id)
    ctx.notifier.emit(
        event_name, resource, f"{ctx.notifier.base_url}/v1/customers/{customer_id}", now
    )
