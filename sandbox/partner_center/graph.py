"""Microsoft Graph's partner billing reconciliation exports (v2), served on the sandbox's
origin: POST an export, 202 + Location, poll the operation (Retry-After), read the manifest,
download gzip JSON Lines blobs with the SAS token
(https://learn.microsoft.com/en-us/partner-center/developer/billed-invoice-reconciliation,
https://learn.microsoft.com/en-us/graph/api/partners-billing-billedreconciliation-export,
https://learn.microsoft.com/en-us/graph/api/partners-billing-unbilledreconciliation-export,
https://learn.microsoft.com/en-us/graph/api/resources/partners-billing-manifest).
The blob URL is {rootDirectory}/{blobName}?{sasToken}, as Microsoft's reconciliation
samples build it; the column names follow the v1 OneTime line items (Learn does not list the
v2 ones) in Graph's PascalCase."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from typing import Any

from aiohttp import web

from sandbox.partner_center import rules
from sandbox.partner_center.faults import retry_after_headers
from sandbox.partner_center.web_base import Context, ctx, json_response, read_body


def _graph_error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


async def billed_export(request: web.Request) -> web.Response:
    c = ctx(request)
    body = await read_body(request)
    invoice_id = body.get("invoiceId")
    if not isinstance(invoice_id, str) or c.pc.store.get("invoice", invoice_id) is None:
        return _graph_error(400, "badRequest", "invoiceId: no invoice with this id")
    return _start_export(
        request, c.pc.ledger.line_items(invoice_id), body.get("attributeSet", "full")
    )


async def unbilled_export(request: web.Request) -> web.Response:
    c = ctx(request)
    body = await read_body(request)
    period = body.get("billingPeriod")
    if period not in ("current", "last"):
        return _graph_error(400, "badRequest", "billingPeriod: must be current or last")
    if body.get("currencyCode") != "USD":
        return _graph_error(400, "badRequest", "currencyCode: the sandbox bills in USD")
    lines = c.pc.ledger.period_lines(c.now(), period)
    return _start_export(request, lines, body.get("attributeSet", "full"))


BASIC_FIELDS = (
    "customerId", "subscriptionId", "productId", "skuId", "chargeType", "quantity",
    "unitPrice", "effectiveUnitPrice", "subtotal", "currency", "chargeStartDate", "chargeEndDate",
)  # fmt: skip


def _start_export(
    request: web.Request, lines: list[dict[str, Any]], attribute_set: Any
) -> web.Response:
    c = ctx(request)
    if attribute_set not in ("full", "basic"):
        return _graph_error(400, "badRequest", "attributeSet: must be full or basic")
    if attribute_set == "basic":
        lines = [{k: line.get(k) for k in BASIC_FIELDS} for line in lines]
    # The ledger keeps the v1 line-item API's camelCase; Graph's exports name their
    # attributes in PascalCase (Learn, partner billing "attributeSet enum type").
    lines = [{k[:1].upper() + k[1:]: v for k, v in line.items()} for line in lines]
    operation_id = str(uuid.uuid4())
    now = rules.iso(c.now())
    c.pc.store.put(
        "export",
        operation_id,
        {"id": operation_id, "created": now, "lines": lines, "polls": 0},
    )
    location = f"{c.origin}/v1.0/reports/partners/billing/operations/{operation_id}"
    return web.Response(
        status=202, headers={"Location": location, **retry_after_headers(c.export_retry_after_ms)}
    )


async def export_operation(request: web.Request) -> web.Response:
    c = ctx(request)
    operation_id = request.match_info["operation"]
    op = c.pc.store.get("export", operation_id)
    if op is None:
        return _graph_error(404, "itemNotFound", "No such operation.")
    base = {
        "id": operation_id,
        "createdDateTime": op["created"],
        "lastActionDateTime": rules.iso(c.now()),
    }
    if op["polls"] == 0:
        # The first poll always finds the export still running, so clients must honour
        # Retry-After and poll again (billed-invoice-reconciliation).
        op["polls"] = 1
        c.pc.store.put("export", operation_id, op)
        return json_response(
            {
                **base,
                "@odata.type": "#microsoft.graph.partners.billing.runningOperation",
                "status": "running",
            },
            200,
            retry_after_headers(c.export_retry_after_ms),
        )
    if not op["lines"]:
        return json_response(
            {
                **base,
                "@odata.type": "#microsoft.graph.partners.billing.failedOperation",
                "status": "failed",
                "error": {"code": "5000", "message": "No reconciliation data available currently."},
            }
        )
    sas = _sas(c, operation_id)
    manifest = {
        "id": operation_id,
        "schemaVersion": "2",
        "dataFormat": "compressedJSONLines",
        "createdDateTime": op["created"],
        "eTag": hashlib.sha256(json.dumps(op["lines"]).encode()).hexdigest()[:16],
        "partnerTenantId": c.pc.options.partner_tenant_id,
        "rootDirectory": f"{c.origin}/blobs/{operation_id}",
        "sasToken": sas,
        "partitionType": "default",
        "blobCount": 1,
        "blobs": [{"name": "part-00000.json.gz", "partitionValue": "default"}],
    }
    return json_response(
        {
            **base,
            "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation",
            "status": "succeeded",
            "resourceLocation": manifest,
        }
    )


def _sas(c: Context, operation_id: str) -> str:
    digest = hashlib.sha256(f"{c.authority.credentials.client_secret}:{operation_id}".encode())
    return f"sv=2023-11-03&sr=c&sp=r&sig={digest.hexdigest()[:32]}"


async def blob(request: web.Request) -> web.Response:
    c = ctx(request)
    operation_id = request.match_info["operation"]
    expected = dict(part.split("=", 1) for part in _sas(c, operation_id).split("&"))
    if request.query.get("sig") != expected["sig"]:
        return web.Response(
            status=403, text="AuthenticationFailed: the SAS signature does not match"
        )
    op = c.pc.store.get("export", operation_id)
    if op is None or request.match_info["name"] != "part-00000.json.gz":
        return web.Response(status=404, text="BlobNotFound")
    lines = "".join(json.dumps(line) + "\n" for line in op["lines"]).encode()
    return web.Response(body=gzip.compress(lines), content_type="application/octet-stream")


ROUTES = [
    web.post("/v1.0/reports/partners/billing/reconciliation/billed/export", billed_export),
    web.post("/v1.0/reports/partners/billing/reconciliation/unbilled/export", unbilled_export),
    web.get("/v1.0/reports/partners/billing/operations/{operation}", export_operation),
    web.get("/blobs/{operation}/{name}", blob),
]
