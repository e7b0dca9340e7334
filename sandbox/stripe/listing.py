"""Retrieval, list pagination and `expand[]`, shared by every resource."""

from __future__ import annotations

from typing import Any

from . import forms
from .context import Ctx
from .errors import invalid, missing

JSON = dict[str, Any]

# id prefix -> (object type, the name Stripe uses in "No such ..." messages)
PREFIXES = {
    "cus": ("customer", "customer"),
    "pm": ("payment_method", "PaymentMethod"),
    "seti": ("setup_intent", "setupintent"),
    "ii": ("invoiceitem", "invoiceitem"),
    "in": ("invoice", "invoice"),
    "pi": ("payment_intent", "payment_intent"),
    "ch": ("charge", "charge"),
    "re": ("refund", "refund"),
    "cn": ("credit_note", "credit note"),
    "inpay": ("invoice_payment", "invoice payment"),
    "dp": ("dispute", "dispute"),
    "evt": ("event", "event"),
    "cs": ("checkout.session", "checkout session"),
    "cbtxn": ("customer_balance_transaction", "customer balance transaction"),
    "txr": ("tax_rate", "tax rate"),
}
LIST_PARAMS = {"limit", "starting_after", "ending_before", "expand"}


def load(ctx: Ctx, type_: str, object_id: str, param: str = "id") -> JSON:
    obj = ctx.store.get(object_id)
    if obj is None or obj.get("object") != type_:
        label = next((v[1] for v in PREFIXES.values() if v[0] == type_), type_)
        raise missing(label, object_id, param)
    return obj


def paginate(ctx: Ctx, p: forms.Params, type_: str, url: str, where: JSON | None = None) -> JSON:
    """Stripe's list object: newest first, `limit` 1..100, `starting_after`/`ending_before`."""
    limit = forms.integer(p, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid("This value must be between 1 and 100.", param="limit")
    after = forms.string(p, "starting_after")
    before = forms.string(p, "ending_before")
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    if after or before:
        cursor = after or before
        assert cursor is not None
        seq = ctx.store.seq(cursor)
        if seq is None:
            name = "starting_after" if after else "ending_before"
            raise missing(PREFIXES.get(cursor.split("_")[0], (type_, type_))[1], cursor, name)
    rows: list[JSON]
    if before:
        rows = ctx.store.query(type_, where, after_seq=seq, limit=limit + 1, newest_first=False)
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        rows = ctx.store.query(type_, where, before_seq=seq if after else None, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "data": rows, "has_more": has_more, "url": url}


def expand(ctx: Ctx, obj: JSON, paths: list[Any]) -> JSON:
    """Replace id strings at each dotted path with the objects they name (up to 4 levels)."""
    for i, path in enumerate(paths):
        if not isinstance(path, str) or not path:
            raise invalid("Invalid expand path.", param=f"expand[{i}]")
        parts = path.split(".")
        if len(parts) > 4:
            raise invalid(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param=f"expand[{i}]",
            )
        _expand(ctx, obj, parts, path, i)
    return obj


def _expand(ctx: Ctx, node: Any, parts: list[str], path: str, index: int) -> None:
    if node is None:
        return
    if isinstance(node, dict) and node.get("object") == "list" and parts[0] == "data":
        for item in node["data"]:
            _expand(ctx, item, parts[1:], path, index)
        return
    if not isinstance(node, dict) or parts[0] not in node:
        raise invalid(f"This property cannot be expanded ({path}).", param=f"expand[{index}]")
    key, rest = parts[0], parts[1:]
    value = node[key]
    if not rest:
        if isinstance(value, str):
            prefix = value.split("_")[0]
            known = PREFIXES.get(prefix)
            target = ctx.store.get(value) if known else None
            if target is None:
                raise invalid(
                    f"This property cannot be expanded ({path}).", param=f"expand[{index}]"
                )
            node[key] = target
        elif value is not None and not isinstance(value, dict):
            raise invalid(f"This property cannot be expanded ({path}).", param=f"expand[{index}]")
        return
    if isinstance(value, str):  # expand the intermediate id first, as Stripe does
        _expand(ctx, node, [key], path, index)
        value = node[key]
    _expand(ctx, value, rest, path, index)
