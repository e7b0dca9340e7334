"""The Microsoft Customer Agreement: its template and the customer's attestations."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sandbox.partner_center import audit, rules
from sandbox.partner_center.bodies import date_time, obj, text
from sandbox.partner_center.context import Caller, Ctx
from sandbox.partner_center.customers import get_customer
from sandbox.partner_center.errors import AGREEMENT_EXISTS, PcError, invalid
from sandbox.partner_center.store import Doc

# The example templateId of https://learn.microsoft.com/en-us/partner-center/developer/get-customer-agreement-metadata
MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"


def templates() -> list[Doc]:
    return [
        {
            "templateId": MCA_TEMPLATE_ID,
            "agreementType": "MicrosoftCustomerAgreement",
            "agreementLink": "https://aka.ms/customeragreement",
            "versionRank": 0,
        }
    ]


def attest(ctx: Ctx, customer_id: str, body: Doc, now: datetime, caller: Caller) -> Doc:
    get_customer(ctx, customer_id)
    contact = obj(body, "primaryContact")
    for field in ("firstName", "lastName", "email"):
        text(contact, field, f"primaryContact.{field}")
    if body.get("templateId") != MCA_TEMPLATE_ID:
        raise invalid("templateId", "is not the current Microsoft Customer Agreement")
    if body.get("type") != "MicrosoftCustomerAgreement":
        raise invalid("type", "must be MicrosoftCustomerAgreement")
    agreed = date_time(body, "dateAgreed")
    if agreed > now + timedelta(days=1):
        raise invalid("dateAgreed", "is in the future")
    key = ("firstName", "lastName", "email", "phoneNumber")
    for existing in ctx.store.all("agreement", customer_id):
        if all(existing["primaryContact"].get(k) == contact.get(k) for k in key):
            raise PcError(400, AGREEMENT_EXISTS, "PartnerConfirmedAgreementAlreadyExists")
    agreement: Doc = {
        "primaryContact": {k: contact.get(k) for k in key if contact.get(k) is not None},
        "templateId": MCA_TEMPLATE_ID,
        "dateAgreed": rules.iso(agreed),
        "type": "MicrosoftCustomerAgreement",
        "agreementLink": "https://aka.ms/customeragreement",
        "userId": caller.user,
    }
    ctx.store.put("agreement", str(uuid.uuid4()), agreement, parent=customer_id)
    audit.record(ctx, now, caller, "add_customer_agreement", "Agreement", customer_id, agreement)
    return agreement


def list_agreements(ctx: Ctx, customer_id: str) -> list[Doc]:
    get_customer(ctx, customer_id)
    return ctx.store.all("agreement", customer_id)
