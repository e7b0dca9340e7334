"""The sandbox's HTTP surface: Entra endpoints, the Partner Center REST API, the Graph
reconciliation exports and a small admin API under `/_sandbox/` for tests and demos.

Cross-cutting behaviour lives in one middleware, in Partner Center's order: authenticate,
throttle (429 + Retry-After), inject faults, replay a remembered `MS-RequestId`, process,
remember the answer. Transient answers (429, 5xx, 409 while renewing) are not remembered,
so a retry with the same id is processed once the condition has passed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sandbox.partner_center import (
    agreements,
    audit,
    catalog,
    customers,
    graph,
    lifecycle,
    orders,
    pricesheet,
    rules,
    subscriptions,
    transitions,
)
from sandbox.partner_center.auth import (
    GRAPH_AUDIENCE,
    PARTNER_API_AUDIENCE,
    PC_AUDIENCE,
    TokenError,
)
from sandbox.partner_center.context import Caller
from sandbox.partner_center.delivery import CERT_PATH
from sandbox.partner_center.errors import NOT_READY, ORDER_PROCESSING, PcError, invalid
from sandbox.partner_center.faults import retry_after_headers
from sandbox.partner_center.notifications import WEBHOOK_EVENTS
from sandbox.partner_center.web_base import (
    BACKGROUND,
    CONTEXT,
    MAX_BODY,
    PRINCIPAL,
    Context,
    ctx,
    json_response,
    read_body,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# middleware --------------------------------------------------------------------------
def _is_api(path: str) -> bool:
    return path.startswith(("/v1/", "/webhooks/", "/v1.0/"))


def _audience(path: str) -> str:
    """Whose token a path takes: the Partner API's (pricing), Graph's (reconciliation
    exports, the rest of /v1.0/) or Partner Center's."""
    if path.startswith("/v1.0/sales/"):
        return PARTNER_API_AUDIENCE
    return GRAPH_AUDIENCE if path.startswith("/v1.0/") else PC_AUDIENCE


def _customer_key(path: str) -> str:
    parts = path.split("/")
    return parts[3] if len(parts) > 3 and parts[2] == "customers" else ""


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    c = ctx(request)
    if not _is_api(request.path):
        return await handler(request)
    request_id = request.headers.get("MS-RequestId")
    correlation_id = request.headers.get("MS-CorrelationId") or str(uuid.uuid4())
    echo = {
        "MS-RequestId": request_id or str(uuid.uuid4()),
        "MS-CorrelationId": correlation_id,
        "MS-CV": base64.b64encode(uuid.uuid4().bytes[:9]).decode(),
        "MS-ServerId": "sandbox-pc",
    }
    try:
        audience = _audience(request.path)
        principal = c.authority.verify(request.headers.get("Authorization"), audience)
    except PermissionError as exc:
        return json_response({"code": 401, "description": str(exc)}, 401, echo)
    request[PRINCIPAL] = principal
    delay = c.throttle.take_delay_ms()
    if delay:
        await asyncio.sleep(delay / 1000)
    wait_ms = c.throttle.check(
        f"{c.pc.options.partner_tenant_id}/{_customer_key(request.path)}", request_id
    )
    if wait_ms is not None:
        seconds = math.ceil(wait_ms / 1000)
        return json_response(
            {
                "statusCode": 429,
                "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
            },
            429,
            {**echo, **retry_after_headers(wait_ms)},
        )
    failure = c.throttle.should_fail()
    if failure is not None:
        return json_response(
            {"code": failure, "description": "Service unavailable."}, failure, echo
        )
    write = request.method in ("POST", "PUT", "PATCH")
    if write and c.throttle.should_conflict():
        # Answered before processing and not remembered, like a 5xx: a resubmission with
        # the same MS-RequestId is processed once the order is done.
        busy = PcError(409, ORDER_PROCESSING, "The order is being processed; retry shortly.")
        return json_response(busy.body(), 409, echo)
    if write and c.throttle.should_be_renewing():
        # The renewal being processed, as Partner Center answers it at any time it has one
        # queued: unprocessed and not remembered, so a later resubmission is processed.
        renewing = PcError(409, NOT_READY, "The subscription is being renewed; retry later.")
        return json_response(renewing.body(), 409, echo)
    # Replays are keyed by the id and the operation, so an id reused by mistake for a
    # different write is processed rather than answered with another call's response.
    key = (
        f"{principal.app_id}:{request_id}:{request.method}:{request.path}"
        if write and request_id
        else None
    )
    if key is not None:
        remembered = c.pc.store.remembered(key)
        if remembered is not None:
            c.throttle.stats.replays += 1
            status, headers, body = remembered
            return web.Response(status=status, body=body, headers={**headers, **echo})
    lifecycle.advance(c.pc, c.now())
    try:
        response = await handler(request)
    except PcError as exc:
        response = json_response(exc.body(), exc.status)
    if write:
        c.throttle.stats.writes += 1
    if not isinstance(response, web.Response):
        return response
    for name, value in echo.items():
        response.headers[name] = value
    if key is not None and _final(response):
        body = response.body if isinstance(response.body, bytes) else b""
        kept = {k: v for k, v in response.headers.items() if k in ("Content-Type", "Location")}
        c.pc.store.remember(key, response.status, kept, body)
    if write and c.throttle.should_lose():
        return json_response({"code": 500, "description": "Internal server error."}, 500, echo)
    return response


def _final(response: web.Response) -> bool:
    if response.status == 429 or response.status >= 500:
        return False
    if response.status == 409 and response.body:
        try:
            return bool(json.loads(bytes(response.body)).get("code") != NOT_READY)  # type: ignore[arg-type]
        except ValueError:
            return True
    return True


def _caller(request: web.Request) -> Caller:
    principal = request[PRINCIPAL]
    return Caller(app_id=principal.app_id, user=principal.user)


def _require_user(request: web.Request) -> Caller:
    caller = _caller(request)
    if caller.user is None:
        # App+user only APIs, as each Learn page's prerequisites say (the MCA attestation
        # and its confirmation, order provisioning status, invoice by id).
        raise PcError(403, 403, "This operation requires App+User authentication.")
    return caller


def _collection(items: list[Any], object_type: str = "Collection") -> dict[str, Any]:
    return {"totalCount": len(items), "items": items, "attributes": {"objectType": object_type}}


def _seek_page(request: web.Request, items: list[Any], path: str) -> dict[str, Any]:
    """Seek paging: size, then links.next with seekOperation=Next and MS-ContinuationToken."""
    try:
        size = int(request.query.get("size", "100"))
    except ValueError:
        raise invalid("size", "must be an integer") from None
    if not 1 <= size <= 2000:
        raise invalid("size", "must be 1..2000")
    offset = 0
    if request.query.get("seekOperation", "").lower() == "next":
        token = request.headers.get("MS-ContinuationToken", "")
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError:
            raise invalid("MS-ContinuationToken", "is not a token this API issued") from None
    page = items[offset : offset + size]
    result: dict[str, Any] = {
        "totalCount": len(page),
        "items": page,
        "links": {"self": {"uri": f"{path}?size={size}", "method": "GET", "headers": []}},
        "attributes": {"objectType": "Collection"},
    }
    if offset + size < len(items):
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        query = urlencode([(k, v) for k, v in request.query.items() if k != "seekOperation"])
        result["continuationToken"] = token
        result["links"]["next"] = {
            "uri": f"{path}?{query}&seekOperation=Next",
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": token}],
        }
    return result


# Entra endpoints ---------------------------------------------------------------------
def _tenant(request: web.Request) -> None:
    if request.match_info["tenant"] not in (ctx(request).authority.credentials.tenant_id,):
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "error": "invalid_tenant",
                    "error_description": "AADSTS90002: Tenant not found.",
                }
            ),
            content_type="application/json",
        )


async def openid_configuration(request: web.Request) -> web.Response:
    _tenant(request)
    c = ctx(request)
    return json_response(c.authority.discovery())


async def jwks(request: web.Request) -> web.Response:
    return json_response(ctx(request).authority.jwks())


async def token(request: web.Request) -> web.Response:
    _tenant(request)
    c = ctx(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    try:
        return json_response(c.authority.token(form))
    except TokenError as exc:
        return json_response(exc.body(), exc.status)


# customers and agreements -------------------------------------------------------------
async def validate_address(request: web.Request) -> web.Response:
    body = await read_body(request)
    lowered = {k.lower(): v for k, v in body.items()}
    missing = [f for f in ("addressline1", "city", "postalcode", "country") if not lowered.get(f)]
    status = "NotValidated" if missing else "Verified"
    return json_response({"originalAddress": body, "suggestedAddresses": [], "status": status})


async def domain_head(request: web.Request) -> web.Response:
    taken = customers.domain_taken(ctx(request).pc, request.match_info["domain"])
    return web.Response(status=200 if taken else 404)


async def create_customer(request: web.Request) -> web.Response:
    c = ctx(request)
    return json_response(
        customers.create_customer(c.pc, await read_body(request), c.now(), _caller(request)), 201
    )


async def list_customers(request: web.Request) -> web.Response:
    return json_response(
        _seek_page(request, customers.list_customers(ctx(request).pc), "/customers")
    )


async def get_customer(request: web.Request) -> web.Response:
    return json_response(customers.get_customer(ctx(request).pc, request.match_info["customer"]))


async def billing_profile(request: web.Request) -> web.Response:
    return json_response(customers.billing_profile(ctx(request).pc, request.match_info["customer"]))


async def agreement_metadata(request: web.Request) -> web.Response:
    _require_user(request)
    return json_response(_collection(agreements.templates()))


async def create_agreement(request: web.Request) -> web.Response:
    c = ctx(request)
    caller = _require_user(request)
    body = await read_body(request)
    return json_response(
        agreements.attest(c.pc, request.match_info["customer"], body, c.now(), caller), 201
    )


async def list_agreements(request: web.Request) -> web.Response:
    _require_user(request)
    return json_response(
        _collection(agreements.list_agreements(ctx(request).pc, request.match_info["customer"]))
    )


# catalog ---------------------------------------------------------------------------
def _country(request: web.Request) -> str:
    country = request.query.get("country", "")
    if len(country) != 2:
        raise invalid("country", "is required (ISO 3166 alpha-2)")
    return country.upper()


async def products(request: web.Request) -> web.Response:
    country = _country(request)
    view = request.query.get("targetView", "")
    if view.lower() != "onlineservices":
        raise invalid("targetView", "the sandbox catalog has OnlineServices only")
    return json_response(
        _collection([catalog.product_json(o, country) for o in catalog.PAID.values()])
    )


def _offers(request: web.Request) -> list[catalog.Offer]:
    """The SKUs of the product in the path, or the one SKU it names."""
    product = request.match_info["product"]
    sku = request.match_info.get("sku")
    offers = [o for o in catalog.PRODUCTS.get(product, ()) if sku is None or o.sku_id == sku]
    if not offers:
        raise PcError(404, 400019, "The product or SKU was not found.")
    return offers


async def skus(request: web.Request) -> web.Response:
    country = _country(request)
    return json_response(_collection([catalog.sku_json(o, country) for o in _offers(request)]))


async def availabilities(request: web.Request) -> web.Response:
    return json_response(
        _collection([catalog.availability_json(o, _country(request)) for o in _offers(request)])
    )


_PRICE_SHEET = re.compile(r"pricesheets\(Market='([A-Za-z]{2})',PricesheetView='(\w+)'\)")


async def price_sheet(request: web.Request) -> web.Response:
    """A market's license-based price sheet as a CSV file (Learn: get a price sheet; app+user
    only)."""
    _require_user(request)
    found = _PRICE_SHEET.fullmatch(request.match_info["sheet"])
    if found is None or request.match_info["value"] != "$value":
        raise invalid("pricesheets", "is pricesheets(Market='XX',PricesheetView='...')/$value")
    market, view = found.group(1).upper(), found.group(2)
    if view.lower() != pricesheet.VIEW:
        raise invalid("PricesheetView", f"the sandbox serves {pricesheet.VIEW} only")
    if market not in pricesheet.MARKETS:
        raise invalid("Market", f"the sandbox prices {', '.join(pricesheet.MARKETS)} only")
    return web.Response(
        body=pricesheet.csv_file(market),
        content_type="application/octet-stream",
        headers={"Content-Disposition": "attachment; filename=pricesheet"},
    )


async def promotions(request: web.Request) -> web.Response:
    """The promotions running now for a market and segment (Learn: get promotions)."""
    _country(request)
    if request.query.get("segment", "").lower() != "commercial":
        raise invalid("segment", "the sandbox has commercial promotions only")
    now = ctx(request).now()
    return json_response(_collection([p.json() for p in catalog.PROMOTIONS if p.active(now)]))


async def promotion(request: web.Request) -> web.Response:
    """One promotion by id, whatever its dates (Learn: get promotion by id)."""
    _country(request)
    found = catalog.PROMOTIONS_BY_ID.get(request.match_info["promotion"])
    if found is None:
        raise PcError(404, 800002, "The promotion was not found.")
    return json_response(found.json())


# carts, orders ---------------------------------------------------------------------
async def create_cart(request: web.Request) -> web.Response:
    c = ctx(request)
    body = await read_body(request)
    return json_response(
        orders.create_cart(c.pc, request.match_info["customer"], body, c.now(), _caller(request)),
        201,
    )


async def get_cart(request: web.Request) -> web.Response:
    m = request.match_info
    return json_response(orders.get_cart(ctx(request).pc, m["customer"], m["cart"]))


async def checkout(request: web.Request) -> web.Response:
    c = ctx(request)
    m = request.match_info
    return json_response(orders.checkout(c.pc, m["customer"], m["cart"], c.now(), _caller(request)))


async def list_orders(request: web.Request) -> web.Response:
    return json_response(
        _collection(orders.list_orders(ctx(request).pc, request.match_info["customer"]))
    )


async def get_order(request: web.Request) -> web.Response:
    m = request.match_info
    return json_response(orders.get_order(ctx(request).pc, m["customer"], m["order"]))


async def provisioning_status(request: web.Request) -> web.Response:
    _require_user(request)
    m = request.match_info
    return json_response(
        _collection(orders.provisioning_status(ctx(request).pc, m["customer"], m["order"]))
    )


# subscriptions ---------------------------------------------------------------------
async def list_subscriptions(request: web.Request) -> web.Response:
    c = ctx(request)
    order_id = request.query.get("order_id")
    return json_response(
        _collection(
            subscriptions.list_subscriptions(
                c.pc, request.match_info["customer"], c.now(), order_id
            )
        )
    )


async def get_subscription(request: web.Request) -> web.Response:
    c = ctx(request)
    m = request.match_info
    return json_response(
        subscriptions.get_subscription(c.pc, m["customer"], m["subscription"], c.now())
    )


async def patch_subscription(request: web.Request) -> web.Response:
    c = ctx(request)
    m = request.match_info
    body = await read_body(request)
    if_match = request.headers.get("If-Match")
    caller = _caller(request)
    slow_ms = c.throttle.faults.slow_patch_ms
    if slow_ms:
        # A slow PATCH: accepted now, applied later, polled through Location
        # (https://learn.microsoft.com/en-us/partner-center/developer/change-the-quantity-of-a-subscription).
        subscriptions.get_subscription(c.pc, m["customer"], m["subscription"], c.now())

        async def apply_later() -> None:
            await asyncio.sleep(slow_ms / 1000)
            try:
                subscriptions.patch_subscription(
                    c.pc, m["customer"], m["subscription"], body, if_match, c.now(), caller
                )
            except PcError as exc:
                request.app.logger.warning("slow PATCH failed: %s", exc)

        request.app[BACKGROUND].add(asyncio.ensure_future(apply_later()))
        location = f"/v1/customers/{m['customer']}/subscriptions/{m['subscription']}"
        return web.Response(
            status=202,
            headers={
                "Location": location,
                "Retry-After": "1",
                "retry-after-ms": str(min(slow_ms, 1000)),
            },
        )
    return json_response(
        subscriptions.patch_subscription(
            c.pc, m["customer"], m["subscription"], body, if_match, c.now(), caller
        )
    )


async def coterm_dates(request: web.Request) -> web.Response:
    c = ctx(request)
    term = request.query.get("term_duration", "")
    start_text = request.query.get("term_start_date")
    try:
        start = rules.parse_iso(start_text) if start_text else c.now()
    except ValueError:
        raise invalid("term_start_date", "must be an ISO 8601 date") from None
    target = request.query.get("target_coterm_subscription_id")
    return json_response(
        _collection(
            subscriptions.coterm_dates(c.pc, request.match_info["customer"], term, start, target)
        )
    )


async def eligibilities(request: web.Request) -> web.Response:
    c = ctx(request)
    m = request.match_info
    kind = request.query.get("eligibilityType", "immediate")
    return json_response(
        _collection(
            transitions.eligibilities(c.pc, m["customer"], m["subscription"], kind, c.now())
        )
    )


async def create_transition(request: web.Request) -> web.Response:
    c = ctx(request)
    m = request.match_info
    body = await read_body(request)
    return json_response(
        transitions.create_transition(
            c.pc, m["customer"], m["subscription"], body, c.now(), _caller(request)
        )
    )


async def list_transitions(request: web.Request) -> web.Response:
    m = request.match_info
    items = transitions.list_transitions(
        ctx(request).pc, m["customer"], m["subscription"], request.query.get("operationId")
    )
    return json_response(_collection(items))


# audit, invoices -------------------------------------------------------------------
async def audit_records(request: web.Request) -> web.Response:
    c = ctx(request)
    try:
        start = rules.parse_iso(request.query["startDate"])
        end_text = request.query.get("endDate")
        end = rules.parse_iso(end_text) if end_text else None
    except KeyError:
        raise invalid("startDate", "is required") from None
    except ValueError:
        raise invalid("startDate", "must be an ISO 8601 date") from None
    return json_response(_seek_page(request, audit.records(c.pc, start, end), "/auditrecords"))


async def audit_record(request: web.Request) -> web.Response:
    # What a webhook's AuditUri names; Microsoft's payload points at /v1/auditrecords/{id}.
    return json_response(audit.get_record(ctx(request).pc, request.match_info["record"]))


async def list_invoices(request: web.Request) -> web.Response:
    return json_response(_collection(ctx(request).pc.ledger.invoices()))


async def get_invoice(request: web.Request) -> web.Response:
    _require_user(request)
    return json_response(ctx(request).pc.ledger.invoice(request.match_info["invoice"]))


async def invoice_line_items(request: web.Request) -> web.Response:
    if request.query.get("provider", "").lower() != "onetime":
        raise invalid("provider", "the sandbox has NCE (onetime) line items only")
    if request.query.get("invoicelineitemtype", "").lower() != "billinglineitems":
        raise invalid("invoicelineitemtype", "must be billinglineitems")
    c = ctx(request)
    invoice_id = request.match_info.get("invoice")
    if invoice_id is None:
        # Unbilled: period=current (default) or previous, a calendar month each.
        period = request.query.get("period", "current").lower()
        if period not in ("current", "previous"):
            raise invalid("period", "must be current or previous")
        items = c.pc.ledger.period_lines(c.now(), "current" if period == "current" else "last")
    else:
        items = c.pc.ledger.line_items(invoice_id)
    path = f"/invoices/{invoice_id or 'unbilled'}/lineitems"
    return json_response(_seek_page(request, items, path))


# webhooks --------------------------------------------------------------------------
async def webhook_events(request: web.Request) -> web.Response:
    return json_response(list(WEBHOOK_EVENTS))


async def register_webhook(request: web.Request) -> web.Response:
    c = ctx(request)
    replace = request.method == "PUT"
    return json_response(
        c.pc.notifier.register(await read_body(request), c.now(), replace),
        200 if replace else 201,
    )


async def get_registration(request: web.Request) -> web.Response:
    registration = ctx(request).pc.notifier.registration()
    if registration is None:
        raise PcError(404, 800002, "No webhook registration for this tenant.")
    return json_response(registration)


async def validation_event(request: web.Request) -> web.Response:
    c = ctx(request)
    return json_response(c.pc.notifier.validation_event(c.now()))


async def validation_result(request: web.Request) -> web.Response:
    return json_response(
        ctx(request).pc.notifier.validation_result(request.match_info["correlation"])
    )


async def signing_certificate(request: web.Request) -> web.Response:
    return web.Response(body=ctx(request).signing_cert_der, content_type="application/pkix-cert")


# admin -----------------------------------------------------------------------------
async def admin_state(request: web.Request) -> web.Response:
    c = ctx(request)
    stats = c.throttle.stats
    return json_response(
        {
            "now": rules.iso(c.now()),
            "stats": stats.__dict__,
            "counts": {
                kind: c.pc.store.count(kind)
                for kind in ("customer", "cart", "order", "subscription", "invoice", "export")
            },
            "ledger": c.pc.store.ledger(),
            "outbox": c.pc.store.outbox(),
        }
    )


async def admin_faults(request: web.Request) -> web.Response:
    c = ctx(request)
    try:
        c.throttle.faults.update(await request.json())
    except (ValueError, TypeError) as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response(c.throttle.faults.__dict__)


async def admin_event(request: web.Request) -> web.Response:
    c = ctx(request)
    try:
        body = await read_body(request)
        customers.simulate_event(
            c.pc, str(body.get("eventName")), str(body.get("customerId")), c.now()
        )
    except PcError as exc:
        return json_response(exc.body(), exc.status)
    return web.Response(status=204)


# Charge types a test may bill the partner for behind cspflow's back (the ledger's own).
SILENT_CHARGES = ("addQuantity", "removeQuantity", "cycleCharge", "renew", "new")


async def admin_charge(request: web.Request) -> web.Response:
    """Sandbox only: bill the partner for `quantity` seats of a subscription (`chargeType`,
    default `addQuantity`, from now to the end of its billing cycle) without telling anyone:
    the subscription does not change, no webhook or audit record is written. It is how a
    test makes Microsoft's invoice hold a charge cspflow never heard of (leakage)."""
    c = ctx(request)
    try:
        body = await read_body(request)
        charge_type = str(body.get("chargeType") or "addQuantity")
        if charge_type not in SILENT_CHARGES:
            raise invalid("chargeType", f"one of {', '.join(SILENT_CHARGES)}")
        quantity = body.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise invalid("quantity", "a whole number of seats, at least 1")
        sub = subscriptions.load(c.pc, str(body.get("customerId")), str(body.get("subscriptionId")))
        customer = customers.get_customer(c.pc, sub["customerId"])
        now = c.now()
        c.pc.ledger.charge(sub, customer, charge_type, quantity, now, now.date())
    except PcError as exc:
        return json_response(exc.body(), exc.status)
    return web.Response(status=204)


def build_app(context: Context) -> web.Application:
    app = web.Application(middlewares=[api_middleware], client_max_size=MAX_BODY + 1)
    app[CONTEXT] = context
    app[BACKGROUND] = set()
    t = "/{tenant}"
    c = "/v1/customers/{customer}"
    s = c + "/subscriptions/{subscription}"
    app.add_routes(
        [
            web.get(t + "/v2.0/.well-known/openid-configuration", openid_configuration),
            web.get(t + "/discovery/v2.0/keys", jwks),
            web.post(t + "/oauth2/v2.0/token", token),
            web.post("/v1/validations/address", validate_address),
            web.head("/v1/domains/{domain}", domain_head),
            web.post("/v1/customers", create_customer),
            web.get("/v1/customers", list_customers),
            web.get(c, get_customer),
            web.get(c + "/profiles/billing", billing_profile),
            web.get("/v1/agreements", agreement_metadata),
            web.post(c + "/agreements", create_agreement),
            web.get(c + "/agreements", list_agreements),
            web.get("/v1/products", products),
            web.get("/v1/products/{product}/skus", skus),
            web.get("/v1/products/{product}/skus/{sku}/availabilities", availabilities),
            web.get("/v1.0/sales/{sheet}/{value}", price_sheet),
            web.get("/v1/productpromotions", promotions),
            web.get("/v1/productpromotions/{promotion}", promotion),
            web.post(c + "/carts", create_cart),
            web.get(c + "/carts/{cart}", get_cart),
            web.post(c + "/carts/{cart}/checkout", checkout),
            web.get(c + "/orders", list_orders),
            web.get(c + "/orders/{order}", get_order),
            web.get(c + "/orders/{order}/provisioningstatus", provisioning_status),
            web.get(c + "/subscriptions", list_subscriptions),
            web.get(c + "/subscriptions/customTermEndDates", coterm_dates),
            web.get(s, get_subscription),
            web.patch(s, patch_subscription),
            web.get(s + "/transitionEligibilities", eligibilities),
            web.post(s + "/transitions", create_transition),
            web.get(s + "/transitions", list_transitions),
            web.get("/v1/auditrecords", audit_records),
            web.get("/v1/auditrecords/{record}", audit_record),
            web.get("/v1/invoices", list_invoices),
            web.get("/v1/invoices/unbilled/lineitems", invoice_line_items),
            web.get("/v1/invoices/{invoice}", get_invoice),
            web.get("/v1/invoices/{invoice}/lineitems", invoice_line_items),
            web.get("/webhooks/v1/registration/events", webhook_events),
            web.post("/webhooks/v1/registration", register_webhook),
            web.put("/webhooks/v1/registration", register_webhook),
            web.get("/webhooks/v1/registration", get_registration),
            web.post("/webhooks/v1/registration/validationEvents", validation_event),
            web.get("/webhooks/v1/registration/validationEvents/{correlation}", validation_result),
            web.get(CERT_PATH, signing_certificate),
            *graph.ROUTES,
            web.get("/_sandbox/state", admin_state),
            web.post("/_sandbox/faults", admin_faults),
            web.post("/_sandbox/events", admin_event),
            web.post("/_sandbox/charges", admin_charge),
        ]
    )
    return app
