"""An example API on the kit, as the order routes will look: a command (`POST /api/orders`,
client-chosen `order_id`), its status resource, a paged and filtered list, a state conflict
and a business rule. Orders live in memory; "starting the work" counts starts.

`ExampleClient` calls the functions as the Functions host would: it routes a method and path
with devhost's router (the host's matching), builds the `func.HttpRequest`, and runs sync
functions directly and async ones on an event loop."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from devhost.http_server import build_router
from shared.models import DomainModel, Money, UtcDateTime
from triggers.api import (
    Api,
    Call,
    CommandId,
    Conflict,
    NotFound,
    Page,
    Paging,
    Refused,
    Reply,
)
from triggers.api.routes import LedgerFactory

OrderState = Literal["accepted", "provisioning", "completed", "cancelled"]


class OrderLine(DomainModel):
    offer_id: str = Field(min_length=1, max_length=100)
    quantity: int = Field(gt=0, le=10_000)
    unit_price: Money


class PlaceOrder(DomainModel):
    order_id: CommandId
    customer_id: str = Field(min_length=1, max_length=100)
    lines: list[OrderLine] = Field(min_length=1, max_length=100)


class OrderAccepted(DomainModel):
    order_id: str
    state: OrderState


class OrderStatus(DomainModel):
    order_id: str
    customer_id: str
    state: OrderState
    total: Money
    placed_at: UtcDateTime


class OrderSummary(DomainModel):
    order_id: str
    state: OrderState
    total: Money


class OrderFilter(DomainModel):
    customer_id: str | None = Field(default=None, max_length=100)
    state: OrderState | None = None


@dataclass
class ExampleApp:
    api: Api
    app: df.DFApp
    orders: dict[str, OrderStatus] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)


PLACED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def make_example_app(ledger: LedgerFactory | None = None) -> ExampleApp:
    api = Api(title="example", version="1.0", ledger=ledger)
    bp = df.Blueprint()
    example = ExampleApp(api=api, app=df.DFApp(http_auth_level=func.AuthLevel.FUNCTION))

    @api.route(
        bp,
        "POST",
        "orders",
        summary="Place an order",
        request=PlaceOrder,
        responses={202: OrderAccepted},
        command_id="order_id",
    )
    async def place_order(call: Call[PlaceOrder]) -> Reply:
        order = call.body
        currency = order.lines[0].unit_price.currency
        for i, line in enumerate(order.lines):
            if line.unit_price.currency != currency:
                raise Refused(
                    "mixed_currencies",
                    f"every line is in {currency}, the first line's currency",
                    field=f"lines[{i}].unit_price.currency",
                )
        total = sum((line.unit_price * line.quantity for line in order.lines), Money.zero(currency))
        example.starts[order.order_id] += 1  # "start the orchestration" (idempotent on the id)
        example.orders.setdefault(
            order.order_id,
            OrderStatus(
                order_id=order.order_id,
                customer_id=order.customer_id,
                state="accepted",
                total=total,
                placed_at=PLACED_AT,
            ),
        )
        return Reply.accepted(
            OrderAccepted(order_id=order.order_id, state="accepted"),
            location=call.url_for("orders", order.order_id),
        )

    @api.route(bp, "GET", "orders/{order_id}", summary="An order", responses={200: OrderStatus})
    def get_order(call: Call[None]) -> OrderStatus:
        order_id = call.route_values["order_id"]
        if order_id not in example.orders:
            raise NotFound(f"there is no order {order_id!r}", field="order_id")
        return example.orders[order_id]

    @api.route(
        bp,
        "GET",
        "orders",
        summary="Orders, newest first",
        query=OrderFilter,
        paged=Paging(default_limit=2, max_limit=3),
        responses={200: Page[OrderSummary]},
    )
    def list_orders(call: Call[None]) -> Page[Any]:
        wanted: OrderFilter = call.query
        ids = sorted(
            oid
            for oid, o in example.orders.items()
            if wanted.customer_id in (None, o.customer_id) and wanted.state in (None, o.state)
        )
        after = call.page.after
        ids = [i for i in ids if after is None or i > after]
        chunk = ids[: call.page.limit]
        items = [
            OrderSummary(order_id=i, state=example.orders[i].state, total=example.orders[i].total)
            for i in chunk
        ]
        more = len(ids) > len(chunk)
        return call.page.page(items, after=chunk[-1] if more else None)

    @api.route(
        bp,
        "POST",
        "orders/{order_id}/cancel",
        summary="Cancel an order",
        responses={202: OrderAccepted},
        problems=(409,),
    )
    async def cancel_order(call: Call[None]) -> Reply:
        order_id = call.route_values["order_id"]
        order = example.orders.get(order_id)
        if order is None:
            raise NotFound(f"there is no order {order_id!r}", field="order_id")
        if order.state == "completed":
            raise Conflict(
                "order_completed", f"order {order_id!r} is completed; it cannot be cancelled"
            )
        example.orders[order_id] = order.model_copy(update={"state": "cancelled"})
        return Reply.accepted(
            OrderAccepted(order_id=order_id, state="cancelled"),
            location=call.url_for("orders", order_id),
        )

    api.fallback(bp)
    example.app.register_functions(bp)
    return example


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class ExampleClient:
    """Calls an app's HTTP functions in process, routed as the host routes them."""

    def __init__(self, app: df.DFApp | func.FunctionApp, base: str = "http://127.0.0.1:7071"):
        http = [f for f in app.get_functions() if f.is_http_function()]
        self._router = build_router(http)
        self._base = base

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        data = body.encode() if isinstance(body, str) else (body or b"")
        assert path.startswith("/api/")
        match = self._router.resolve(method, path[len("/api") :])
        assert match is not None, f"no function for {method} {path}"
        fn, route_values = match
        url = self._base + path + ("?" + urlencode(params) if params else "")
        req = func.HttpRequest(
            method,
            url,
            headers=headers,
            params=params or {},
            route_params=route_values,
            body=data,
        )
        user = fn.get_user_function()
        result = user(req)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        assert isinstance(result, func.HttpResponse)
        return Answer(
            status=result.status_code,
            headers={k.lower(): v for k, v in result.headers.items()}
            | {"content-type": result.mimetype},
            text=result.get_body().decode(),
        )

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Answer:
        return self.request("POST", path, **kw)


def order_body(order_id: str = "o-1001", quantity: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "c-fabrikam",
        "lines": [
            {
                "offer_id": "CFQ7TTC0LH18:0001",
                "quantity": quantity,
                "unit_price": {"amount_minor": 1250, "currency": "EUR"},
            }
        ],
        **extra,
    }
