"""Activity logs: one audit record per write (`GET /v1/auditrecords`), the change feed
Microsoft suggests instead of polling
(https://learn.microsoft.com/en-us/partner-center/developer/api-throttling-guidance)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sandbox.partner_center import rules
from sandbox.partner_center.context import Caller, Ctx
from sandbox.partner_center.errors import not_found
from sandbox.partner_center.store import Doc


def record(
    ctx: Ctx,
    now: datetime,
    caller: Caller,
    operation: str,
    resource: str,
    customer_id: str,
    value: Doc,
) -> str:
    """Record a write; its id (webhook events name the record in AuditUri)."""
    record_id = str(uuid.uuid4())
    customer = ctx.store.get("customer", customer_id)
    ctx.store.put(
        "audit",
        record_id,
        {
            "id": record_id,
            "partnerId": ctx.options.partner_tenant_id,
            "customerId": customer_id,
            "customerName": customer["companyProfile"]["companyName"] if customer else "",
            "userPrincipalName": caller.user or "",
            "applicationId": caller.app_id,
            "resourceType": resource,
            "resourceNewValue": json.dumps(value),
            "operationType": operation,
            "operationStatus": "succeeded",
            "operationDate": rules.iso(now),
            "attributes": {"objectType": "AuditRecord"},
        },
    )
    return record_id


def get_record(ctx: Ctx, record_id: str) -> Doc:
    found = ctx.store.get("audit", record_id)
    if found is None:
        raise not_found("audit record")
    return found


def records(ctx: Ctx, start: datetime, end: datetime | None) -> list[Doc]:
    return [
        r
        for r in ctx.store.all("audit")
        if start <= rules.parse_iso(r["operationDate"])
        and (end is None or rules.parse_iso(r["operationDate"]) < end)
    ]
