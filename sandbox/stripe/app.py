"""The HTTP face of the sandbox: Stripe's request conventions around the resource handlers.

Every `/v1` request is authenticated (`Authorization: Bearer sk_test_...`), may pin a
`Stripe-Version`, is parsed from its form body or query string, runs in one SQLite
transaction, and has `expand[]` applied to its answer. POSTs honour `Idempotency-Key` as
Stripe does (https://docs.stripe.com/api/idempotent_requests): the first result that came out
of executing the endpoint (2xx, a 402 card error or a 5xx) is saved and replayed with
`Idempotent-Replayed: true`; the same key with other parameters or another endpoint is a 400
`idempotency_error`; requests that failed validation or never reached the endpoint (a body
cut off by a client that died mid-send) are not saved.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from aiohttp import web

from sandbox.common.clock import Clock

from . import checkout, credit_notes, customers, forms, invoicing, payments, resources, tax_rates
from .context import Ctx
from .errors import StripeError, invalid
from .listing import LIST_PARAMS, expand, load, paginate
from .schedule import BillingSchedule
from .store import Store

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Handler = Callable[..., JSON]
DEFAULT_API_VERSION = "2026-10-28.endive"
# Stripe may prune a key once it is at least 24 hours old; then the key makes a new request.
# Measured on the shared clock, so a simulated retry days later behaves as it would live.
KEY_LIFETIME_S = 24 * 3600
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_ID = r"(?P<{}>[A-Za-z0-9_]+)"


def _r(method: str, path: str, handler: Handler) -> tuple[str, re.Pattern[str], Handler]:
    pattern = re.sub(r"\{(\w+)\}", lambda m: _ID.format(m.group(1)), path)
    return method, re.compile(f"^{pattern}$"), handler


def _retrieve_event(ctx: Ctx, p: forms.Params, event: str) -> JSON:
    forms.only(p, {"expand"})
    return load(ctx, "event", event)


def _list_events(ctx: Ctx, p: forms.Params) -> JSON:
    """Newest first; `type` may end in `.*`; `delivery_success` filters on webhook outcome."""
    forms.only(p, LIST_PARAMS | {"type", "types", "delivery_success"})
    kind = forms.string(p, "type")
    types = set(forms.array(p, "types"))
    success = forms.boolean(p, "delivery_success")
    if success is None and not types and not (kind and kind.endswith("*")):
        return paginate(ctx, p, "event", "/v1/events", {"type": kind} if kind else None)

    def keep(evt: JSON) -> bool:  # the rarer filters, applied in Python
        if kind and not fnmatchcase(evt["type"], kind):
            return False
        if types and evt["type"] not in types:
            return False
        if success is not None:
            state = ctx.store.delivery_state(evt["id"])
            return state is not None and (state == "delivered") == success
        return True

    rows = [e for e in ctx.store.query("event") if keep(e)]
    limit = forms.integer(p, "limit") or 10
    if not 1 <= limit <= 100:
        raise invalid("This value must be between 1 and 100.", param="limit")
    if after := forms.string(p, "starting_after"):
        ids = [e["id"] for e in rows]
        if after not in ids:
            raise invalid(f"No such event: '{after}'", param="starting_after")
        rows = rows[ids.index(after) + 1 :]
    return resources.list_object("/v1/events", rows[:limit], len(rows) > limit)


ROUTES = [
    _r("POST", "/v1/customers", customers.create_customer),
    _r("GET", "/v1/customers", customers.list_customers),
    _r("GET", "/v1/customers/{customer}", customers.retrieve_customer),
    _r("POST", "/v1/customers/{customer}", customers.update_customer),
    _r("GET", "/v1/customers/{customer}/payment_methods", customers.list_customer_payment_methods),
    _r(
        "POST",
        "/v1/customers/{customer}/balance_transactions",
        customers.create_balance_transaction,
    ),
    _r("GET", "/v1/customers/{customer}/balance_transactions", customers.list_balance_transactions),
    _r(
        "GET",
        "/v1/customers/{customer}/balance_transactions/{transaction}",
        customers.retrieve_balance_transaction,
    ),
    _r("GET", "/v1/payment_methods", customers.list_payment_methods),
    _r("GET", "/v1/payment_methods/{payment_method}", customers.retrieve_payment_method),
    _r("POST", "/v1/payment_methods/{payment_method}/attach", customers.attach_payment_method),
    _r("POST", "/v1/payment_methods/{payment_method}/detach", customers.detach_payment_method),
    _r("POST", "/v1/setup_intents", customers.create_setup_intent),
    _r("GET", "/v1/setup_intents/{setup_intent}", customers.retrieve_setup_intent),
    _r("POST", "/v1/setup_intents/{setup_intent}/confirm", customers.confirm_setup_intent),
    _r("POST", "/v1/tax_rates", tax_rates.create_tax_rate),
    _r("GET", "/v1/tax_rates", tax_rates.list_tax_rates),
    _r("GET", "/v1/tax_rates/{tax_rate}", tax_rates.retrieve_tax_rate),
    _r("POST", "/v1/invoiceitems", invoicing.create_invoice_item),
    _r("GET", "/v1/invoiceitems", invoicing.list_invoice_items),
    _r("GET", "/v1/invoiceitems/{invoiceitem}", invoicing.retrieve_invoice_item),
    _r("POST", "/v1/invoices", invoicing.create_invoice),
    _r("GET", "/v1/invoices", invoicing.list_invoices),
    _r("GET", "/v1/invoices/{invoice}", invoicing.retrieve_invoice),
    _r("POST", "/v1/invoices/{invoice}", invoicing.update_invoice),
    _r("GET", "/v1/invoices/{invoice}/lines", invoicing.list_lines),
    _r("POST", "/v1/invoices/{invoice}/finalize", invoicing.finalize_invoice),
    _r("POST", "/v1/invoices/{invoice}/pay", invoicing.pay_invoice),
    _r("POST", "/v1/invoices/{invoice}/void", invoicing.void_invoice),
    _r("POST", "/v1/invoices/{invoice}/mark_uncollectible", invoicing.mark_uncollectible),
    _r("POST", "/v1/invoices/{invoice}/send", invoicing.send_invoice),
    _r("GET", "/v1/invoice_payments", invoicing.list_invoice_payments),
    _r("GET", "/v1/invoice_payments/{invoice_payment}", invoicing.retrieve_invoice_payment),
    _r("POST", "/v1/credit_notes", credit_notes.create_credit_note),
    _r("GET", "/v1/credit_notes", credit_notes.list_credit_notes),
    _r("GET", "/v1/credit_notes/{credit_note}", credit_notes.retrieve_credit_note),
    _r("POST", "/v1/payment_intents", payments.create_payment_intent),
    _r("GET", "/v1/payment_intents", payments.list_payment_intents),
    _r("GET", "/v1/payment_intents/{payment_intent}", payments.retrieve_payment_intent),
    _r("POST", "/v1/payment_intents/{payment_intent}/confirm", payments.confirm_payment_intent),
    _r("GET", "/v1/charges", payments.list_charges),
    _r("GET", "/v1/charges/{charge}", payments.retrieve_charge),
    _r("POST", "/v1/refunds", payments.create_refund),
    _r("GET", "/v1/refunds", payments.list_refunds),
    _r("GET", "/v1/refunds/{refund}", payments.retrieve_refund),
    _r("GET", "/v1/disputes/{dispute}", payments.retrieve_dispute),
    _r("POST", "/v1/checkout/sessions", checkout.create_session),
    _r("GET", "/v1/checkout/sessions/{session}", checkout.retrieve_session),
    _r("GET", "/v1/events", _list_events),
    _r("GET", "/v1/events/{event}", _retrieve_event),
    # Sandbox only: what Stripe's card networks do on their own.
    _r(
        "POST",
        "/_sandbox/payment_methods/{payment_method}/automatic_update",
        customers.automatic_update,
    ),
    # Sandbox only: declines scripted per payment method or customer (payments.py).
    _r("POST", "/_sandbox/declines", payments.create_decline_script),
    _r("POST", "/_sandbox/declines/{script}/cancel", payments.cancel_decline_script),
]


@dataclass
class Config:
    store: Store
    clock: Clock
    base_url: str = ""
    webhook_url: str | None = None
    webhook_events: frozenset[str] | None = None  # the endpoint's enabled_events; None: all
    rate_limit_per_s: int | None = None  # Stripe's test-mode limit is 25 read/write per second
    on_event: Callable[[], None] = lambda: None
    schedule: BillingSchedule = field(default_factory=BillingSchedule)


class Api:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._recent: deque[float] = deque()
        self._storm = 0  # the next requests to answer 429, whatever the rate
        self._latency_s = 0.0  # how long every API request is held before it is answered

    def make_ctx(self, now: datetime, **kw: Any) -> Ctx:
        c = self.config
        return Ctx(
            store=c.store,
            now=now,
            base_url=c.base_url,
            api_version=kw.pop("api_version", DEFAULT_API_VERSION),
            webhook_url=c.webhook_url,
            webhook_events=c.webhook_events,
            on_event=c.on_event,
            schedule=c.schedule,
            **kw,
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", self.handle)
        app.router.add_post("/_sandbox/rate_limit", self.set_rate_limit)
        app.router.add_post("/_sandbox/latency", self.set_latency)
        app.router.add_route("POST", "/_sandbox/{tail:.*}", self.handle)
        app.router.add_get("/_sandbox/deliveries", self.deliveries)
        app.router.add_get("/i/{invoice}", self.hosted_invoice)
        app.router.add_post("/i/{invoice}", self.hosted_invoice_pay)
        app.router.add_get("/c/{session}", self.hosted_checkout)
        app.router.add_post("/c/{session}", self.hosted_checkout_submit)
        return app

    async def set_rate_limit(self, request: web.Request) -> web.Response:
        """Sandbox only: `storm=N` answers the next N API requests 429 (a burst of throttling,
        whatever the rate); `per_second=N` limits the rate from now on (`0` lifts it)."""
        params = forms.parse(await request.text())
        try:
            storm = forms.integer(params, "storm", minimum=0)
            per_second = forms.integer(params, "per_second", minimum=0)
        except StripeError as exc:
            return web.json_response(exc.body(), status=exc.status)
        if storm is not None:
            self._storm = storm
        if per_second is not None:
            self.config.rate_limit_per_s = per_second or None
        return web.json_response({"storm": self._storm, "per_second": self.config.rate_limit_per_s})

    async def set_latency(self, request: web.Request) -> web.Response:
        """Sandbox only: `ms=N` holds every API request N milliseconds before it is answered
        (Stripe answers in a few hundred; the sandbox in a few), `0` lifts it."""
        params = forms.parse(await request.text())
        try:
            ms = forms.integer(params, "ms", minimum=0)
        except StripeError as exc:
            return web.json_response(exc.body(), status=exc.status)
        if ms is not None:
            self._latency_s = ms / 1000
        return web.json_response({"ms": round(self._latency_s * 1000)})

    async def deliveries(self, request: web.Request) -> web.Response:
        return web.json_response(self.config.store.deliveries())

    async def handle(self, request: web.Request) -> web.Response:
        request_id = resources.new_id("req", 14)
        headers = {"Request-Id": request_id}
        method, path = request.method, request.path
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        api_key = ""
        now: datetime | None = None
        canonical = ""
        # Stripe saves a key's result only once its endpoint began executing: a request that
        # never got that far (its body cut off by a client killed mid-send, a rate limit, a
        # bad key) leaves the key unused, so the client's retry runs it.
        executed = False
        if self._latency_s and path.startswith("/v1/"):
            await asyncio.sleep(self._latency_s)
        try:
            self._rate_limit()
            if not path.startswith("/_sandbox/"):
                api_key = _authenticate(request)
            version = request.headers.get("Stripe-Version", DEFAULT_API_VERSION)
            if not _VERSION.match(version):
                raise invalid(f"Invalid Stripe API version: {version}", param="Stripe-Version")
            headers["Stripe-Version"] = version
            raw = await request.text() if method == "POST" else request.query_string
            # Off the loop: a --clock-url clock is an HTTP round trip.
            now = await asyncio.to_thread(self.config.clock.now)
            params = forms.parse(raw)
            handler, args = _route(method, path)
            canonical = json.dumps(params, sort_keys=True)
            if key is not None:
                if len(key) > 255:
                    raise invalid("Idempotency-Key must be at most 255 characters long.")
                headers["Idempotency-Key"] = key
                # No await from here to `remember`: two requests with one key (a client that
                # timed out and retried) cannot both execute; the second replays the first.
                prior = self.config.store.idempotent_result(
                    api_key, key, not_before=now.timestamp() - KEY_LIFETIME_S
                )
                if prior is not None:
                    return _replay(prior, method, path, canonical, key, headers)
            ctx = self.make_ctx(
                now,
                api_version=version,
                request_id=request_id,
                idempotency_key=key,
            )
            executed = True
            status, body = 200, self._execute(ctx, handler, params, args)
        except StripeError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            log.exception("sandbox failure on %s %s", method, path)
            status = 500
            body = {"error": {"type": "api_error", "message": "An unknown error occurred."}}
        text = json.dumps(body, indent=2)
        if executed and key is not None and (200 <= status < 300 or status == 402 or status >= 500):
            at = (now if now is not None else self.config.clock.now()).timestamp()
            self.config.store.remember(api_key, key, (method, path, canonical), (status, text), at)
        return web.Response(
            status=status, text=text, content_type="application/json", headers=headers
        )

    def _execute(
        self, ctx: Ctx, handler: Handler, params: forms.Params, args: dict[str, str]
    ) -> JSON:
        with ctx.store.transaction():
            result = handler(ctx, params, **args)
            # Inside the transaction: a bad `expand[]` undoes the write. Stripe refuses it
            # before executing; answered 400 after a commit, it would be unsaved under its
            # key and a retry would charge again. A card error never gets here.
            return expand(ctx, json.loads(json.dumps(result)), forms.array(params, "expand"))

    def _rate_limit(self) -> None:
        if self._storm > 0:
            self._storm -= 1
            raise StripeError(
                429,
                "invalid_request_error",
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
        limit = self.config.rate_limit_per_s
        if limit is None:
            return
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        if len(self._recent) >= limit:
            raise StripeError(
                429,
                "invalid_request_error",
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
        self._recent.append(now)

    # The hosted invoice page: the pay link a customer opens after a failed payment.
    async def hosted_invoice(self, request: web.Request) -> web.Response:
        inv = self.config.store.get(request.match_info["invoice"])
        if inv is None or inv.get("object") != "invoice" or inv["status"] == "draft":
            raise web.HTTPNotFound(text="No such invoice")
        amount = display_amount(inv["amount_remaining"], inv["currency"])
        body = (
            f"<h1>Invoice {html.escape(inv['number'] or '')}</h1>"
            f"<p>Status: <b id='status'>{html.escape(inv['status'])}</b></p>"
            f"<p>Amount due: {html.escape(amount)}</p>"
            "<form method='post'><input name='payment_method' value='pm_card_visa'>"
            "<button>Pay</button></form>"
        )
        return web.Response(text=body, content_type="text/html")

    async def hosted_invoice_pay(self, request: web.Request) -> web.Response:
        form = await request.post()
        pm = str(form.get("payment_method", ""))
        ctx = self.make_ctx(await asyncio.to_thread(self.config.clock.now))
        try:
            params = {"payment_method": pm, "off_session": "false"}
            with ctx.store.transaction():
                inv = invoicing.pay_invoice(ctx, params, request.match_info["invoice"])
            message, status = f"Paid: {html.escape(inv['status'])}", 200
        except StripeError as exc:
            message, status = html.escape(exc.message), exc.status
        return web.Response(
            status=status, text=f"<p id='result'>{message}</p>", content_type="text/html"
        )

    # The hosted Checkout page (setup mode): where the customer saves a new card.
    async def hosted_checkout(self, request: web.Request) -> web.Response:
        ctx = self.make_ctx(await asyncio.to_thread(self.config.clock.now))
        try:
            with ctx.store.transaction():
                session = checkout.expire_if_due(ctx, request.match_info["session"])
        except StripeError:
            raise web.HTTPNotFound(text="No such checkout session") from None
        body = (
            f"<h1>Save a card</h1><p>Status: <b id='status'>{html.escape(session['status'])}</b></p>"
            "<form method='post'><input name='payment_method' value='pm_card_visa'>"
            "<button>Save</button></form>"
        )
        return web.Response(text=body, content_type="text/html")

    async def hosted_checkout_submit(self, request: web.Request) -> web.Response:
        form = await request.post()
        ctx = self.make_ctx(await asyncio.to_thread(self.config.clock.now))
        session_id = request.match_info["session"]
        try:
            with ctx.store.transaction():
                checkout.expire_if_due(ctx, session_id)
            with ctx.store.transaction():
                session = checkout.complete(ctx, session_id, str(form.get("payment_method", "")))
            link = html.escape(session["success_url"], quote=True)
            message, status = f"Saved. <a id='next' href='{link}'>Continue</a>", 200
        except StripeError as exc:
            message, status = html.escape(exc.message), exc.status
        return web.Response(
            status=status, text=f"<p id='result'>{message}</p>", content_type="text/html"
        )


# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
_ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx"}
_ZERO_DECIMAL |= {"vnd", "vuv", "xaf", "xof", "xpf"}
_THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}


def display_amount(minor: int, currency: str) -> str:
    """`12.34 EUR` from 1234 minor units, exactly (Decimal, never float)."""
    places = 0 if currency in _ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2
    return f"{Decimal(minor).scaleb(-places):f} {currency.upper()}"


def _authenticate(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    scheme, _, key = header.partition(" ")
    if scheme != "Bearer" or not re.fullmatch(r"(sk|rk)_test_[A-Za-z0-9_]{4,}", key):
        shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "****"
        raise StripeError(
            401,
            "invalid_request_error",
            f"Invalid API Key provided: {shown}. The sandbox accepts test keys (sk_test_...).",
            code="api_key_invalid" if key else None,
        )
    return key


def _route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    for verb, pattern, handler in ROUTES:
        if verb == method and (m := pattern.match(path)):
            return handler, m.groupdict()
    raise StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
        "we can help at https://support.stripe.com/.",
    )


def _replay(
    prior: tuple[str, str, str, int, str],
    method: str,
    path: str,
    canonical: str,
    key: str,
    headers: dict[str, str],
) -> web.Response:
    first_method, first_path, first_params, status, text = prior
    if (first_method, first_path) != (method, path):
        error = StripeError(
            400,
            "idempotency_error",
            f"Keys for idempotent requests can only be used for the same endpoint they were "
            f"first used for ('{first_method} {first_path}' vs '{method} {path}'). Try using a "
            f"key other than '{key}' if you meant to execute a different request.",
        )
        return web.json_response(error.body(), status=400, headers=headers)
    if first_params != canonical:
        error = StripeError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
        )
        return web.json_response(error.body(), status=400, headers=headers)
    headers["Idempotent-Replayed"] = "true"
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)
