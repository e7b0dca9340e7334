"""The sandbox's NCE catalog: a handful of real license-based offers.

Product and SKU ids are Microsoft's public NCE ids; the Business Basic, Office 365 E3 and E5
availability ids appear in Microsoft Learn examples, the others are the sandbox's own.
Prices are per licence per month on an annual term in USD (illustrative list prices); a
monthly term costs 20% more (the NCE monthly premium; partner-center.md 3.1 marks the exact
figure unconfirmed). Upgrade paths follow Microsoft's published ladder (Basic -> Standard ->
Premium, E3 -> E5); downgrades are not offered, as in NCE.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Offer:
    product_id: str
    sku_id: str
    availability_id: str
    title: str
    monthly_price_annual_term: Decimal
    min_quantity: int = 1
    max_quantity: int = 300

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"


OFFERS: tuple[Offer, ...] = (
    Offer("CFQ7TTC0LH18", "0001", "CFQ7TTC0K971", "Microsoft 365 Business Basic", Decimal("6.00")),
    Offer(
        "CFQ7TTC0LDPB", "0001", "CFQ7TTC0KDDK", "Microsoft 365 Business Standard", Decimal("12.50")
    ),
    Offer(
        "CFQ7TTC0LCHC", "0002", "CFQ7TTC0KDLN", "Microsoft 365 Business Premium", Decimal("22.00")
    ),
    Offer("CFQ7TTC0LF8Q", "0001", "CFQ7TTC0K39X", "Office 365 E3", Decimal("23.00")),
    Offer("CFQ7TTC0LF8R", "0001", "CFQ7TTC0KCSV", "Office 365 E5", Decimal("38.00")),
)

BY_ID = {o.catalog_item_id: o for o in OFFERS}
BY_PRODUCT = {o.product_id: o for o in OFFERS}

UPGRADES: dict[str, tuple[str, ...]] = {
    "CFQ7TTC0LH18": ("CFQ7TTC0LDPB", "CFQ7TTC0LCHC"),
    "CFQ7TTC0LDPB": ("CFQ7TTC0LCHC",),
    "CFQ7TTC0LF8Q": ("CFQ7TTC0LF8R",),
}

TERMS = ("P1M", "P1Y", "P3Y")
BILLING_CYCLES: dict[str, tuple[str, ...]] = {
    "P1M": ("monthly",),
    "P1Y": ("monthly", "annual"),
    "P3Y": ("monthly", "annual", "triennial"),
}
TERM_DESCRIPTIONS = {
    "P1M": "One-Month commitment",
    "P1Y": "One-Year commitment",
    "P3Y": "Three-Year commitment",
}
MONTHLY_TERM_PREMIUM = Decimal("1.20")
CYCLE_MONTHS = {"monthly": 1, "annual": 12, "triennial": 36}
TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}


def upgrade_targets(catalog_item_id: str) -> list[Offer]:
    offer = BY_ID.get(catalog_item_id)
    if offer is None:
        return []
    return [BY_PRODUCT[p] for p in UPGRADES.get(offer.product_id, ())]


def price_per_cycle(offer: Offer, term: str, billing_cycle: str) -> Decimal:
    """The unit price charged once per billing cycle."""
    monthly = offer.monthly_price_annual_term
    if term == "P1M":
        monthly = monthly * MONTHLY_TERM_PREMIUM
    return (monthly * CYCLE_MONTHS[billing_cycle]).quantize(Decimal("0.01"))


def product_json(offer: Offer, country: str) -> dict[str, object]:
    return {
        "id": offer.product_id,
        "title": offer.title,
        "description": offer.title,
        "productType": {"id": "OnlineServices", "displayName": "OnlineServices"},
        "isMicrosoftProduct": True,
        "publisherName": "Microsoft Corporation",
        "links": {
            "skus": {
                "uri": f"/products/{offer.product_id}/skus?country={country}",
                "method": "GET",
                "headers": [],
            }
        },
        "attributes": {"objectType": "Product"},
    }


def sku_json(offer: Offer, country: str) -> dict[str, object]:
    return {
        "id": offer.sku_id,
        "productId": offer.product_id,
        "title": offer.title,
        "description": offer.title,
        "minimumQuantity": offer.min_quantity,
        "maximumQuantity": offer.max_quantity,
        "isTrial": False,
        "supportedBillingCycles": ["annual", "monthly", "triennial"],
        "purchasePrerequisites": ["MicrosoftCustomerAgreement"],
        "links": {
            "availabilities": {
                "uri": f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities?country={country}",
                "method": "GET",
                "headers": [],
            }
        },
        "attributes": {"objectType": "Sku"},
    }


def availability_json(offer: Offer, country: str) -> dict[str, object]:
    return {
        "id": offer.availability_id,
        "productId": offer.product_id,
        "skuId": offer.sku_id,
        "catalogItemId": offer.catalog_item_id,
        "defaultCurrency": {"code": "USD", "symbol": "$"},
        "segment": "commercial",
        "country": country,
        "isPurchasable": True,
        "isRenewable": True,
        "terms": [
            {
                "duration": term,
                "description": TERM_DESCRIPTIONS[term],
                "billingCycles": list(BILLING_CYCLES[term]),
                "cancellationPolicies": [{"refunds": [{"type": "Full"}], "duration": "P7D"}],
            }
            for term in TERMS
        ],
        "attributes": {"objectType": "Availability"},
    }
