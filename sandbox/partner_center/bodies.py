"""Reading Partner Center request bodies and writing the links its resources carry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sandbox.partner_center import catalog, rules
from sandbox.partner_center.errors import QUANTITY_RANGE, PcError, invalid
from sandbox.partner_center.store import Doc


def obj(body: Any, field: str, name: str | None = None) -> Doc:
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise invalid(name or field, "is required and must be an object")
    return value


def text(body: Doc, field: str, name: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "is required")
    return value.strip()


def quantity(body: Doc, name: str, offer: catalog.Offer) -> int:
    value = body.get("quantity")
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, "must be an integer")
    if not offer.min_quantity <= value <= offer.max_quantity:
        raise PcError(
            400,
            QUANTITY_RANGE,
            f"{name} must be between {offer.min_quantity} and {offer.max_quantity}",
        )
    return value


def date_time(body: Doc, field: str) -> datetime:
    value = body.get(field)
    try:
        return rules.parse_iso(str(value))
    except ValueError:
        raise invalid(field, "must be an ISO 8601 date-time") from None


def promotion(
    body: Doc, name: str, offer: catalog.Offer, term: str, cycle: str, when: datetime
) -> str | None:
    """The body's promotionId, checked: a known promotion, running at `when`, for this
    product, SKU, term and billing cycle. None when the body names none."""
    promotion_id = body.get("promotionId")
    if promotion_id is None:
        return None
    found = catalog.PROMOTIONS_BY_ID.get(str(promotion_id))
    if found is None:
        raise invalid(name, f"{promotion_id} is not a promotion")
    if not found.active(when):
        raise invalid(name, f"{promotion_id} is not running on {rules.iso(when)[:10]}")
    if not found.applies_to(offer, term, cycle):
        raise invalid(name, f"{promotion_id} does not apply to this product, term and billing")
    return found.id


def canon(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def link(uri: str) -> Doc:
    return {"uri": uri, "method": "GET", "headers": []}


def catalog_links(offer: catalog.Offer) -> Doc:
    return {
        "product": link(f"/products/{offer.product_id}?country=US"),
        "sku": link(f"/products/{offer.product_id}/skus/{offer.sku_id}?country=US"),
        "availability": link(
            f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities/"
            f"{offer.availability_id}?country=US"
        ),
    }
