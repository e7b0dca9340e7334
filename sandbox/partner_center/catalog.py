"""The sandbox's NCE catalog: a handful of real license-based offers, two trials.

Product and SKU ids are Microsoft's public NCE ids; the Business Basic, Office 365 E3 and E5
availability ids appear in Microsoft Learn examples, the others are the sandbox's own, as
are the trial SKUs (`0TRL`, availability `SBXTRIAL...`). Prices are per licence per month on
an annual term in USD (illustrative list prices); a monthly term costs 20% more (the NCE
monthly premium; a community figure, not on a Microsoft price page). Upgrade paths follow
Microsoft's published ladder (Basic -> Standard -> Premium, E3 -> E5); downgrades are not
offered, as in NCE. A trial is free for one month and converts to its paid offer (at term
end, or earlier through a transition:
https://learn.microsoft.com/en-us/partner-center/developer/transition-a-new-commerce-subscription).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
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
    trial_of: str | None = None  # a trial: the catalog item id of the paid offer it becomes

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"

    @property
    def is_trial(self) -> bool:
        return self.trial_of is not None

    @property
    def terms(self) -> tuple[str, ...]:
        return ("P1M",) if self.is_trial else TERMS

    def billing_cycles(self, term: str) -> tuple[str, ...]:
        return ("monthly",) if self.is_trial else BILLING_CYCLES.get(term, ())


BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"

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
    # Trials: 25 licences at most, free, one month.
    Offer(
        "CFQ7TTC0LCHC",
        "0TRL",
        "SBXTRIAL0001",
        "Microsoft 365 Business Premium Trial",
        Decimal("0"),
        max_quantity=25,
        trial_of=PREMIUM,
    ),
    Offer(
        "CFQ7TTC0LF8R",
        "0TRL",
        "SBXTRIAL0002",
        "Office 365 E5 Trial",
        Decimal("0"),
        max_quantity=25,
        trial_of=E5,
    ),
)

BY_ID = {o.catalog_item_id: o for o in OFFERS}
PRODUCTS: dict[str, tuple[Offer, ...]] = {}
for _offer in OFFERS:
    PRODUCTS[_offer.product_id] = (*PRODUCTS.get(_offer.product_id, ()), _offer)
# The paid offer of each product: what upgrades lead to.
PAID = {p: next(o for o in offers if not o.is_trial) for p, offers in PRODUCTS.items()}

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


@dataclass(frozen=True)
class Promotion:
    """A new commerce promotion: a percentage off one product/SKU on one term and billing
    cycle, for purchases between `start` and `end`; a subscription bought with it keeps the
    price for its term
    (https://learn.microsoft.com/en-us/partner-center/developer/get-promotions)."""

    id: str
    name: str
    start: datetime
    end: datetime
    product_id: str
    sku_id: str
    term: str
    billing_cycle: str
    percent_off: Decimal

    def active(self, now: datetime) -> bool:
        return self.start <= now <= self.end

    def applies_to(self, offer: Offer, term: str, billing_cycle: str) -> bool:
        return (offer.product_id, offer.sku_id, term, billing_cycle.lower()) == (
            self.product_id,
            self.sku_id,
            self.term,
            self.billing_cycle,
        )

    def json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.name,
            "startDate": self.start.isoformat(),
            "endDate": self.end.isoformat(),
            "properties": {"isAutoApplicable": False},
            "requiredProducts": [
                {
                    "productId": self.product_id,
                    "skuId": self.sku_id,
                    "term": {"duration": self.term, "billingCycle": self.billing_cycle.title()},
                    "pricingPolicies": [
                        {"policyType": "PercentDiscount", "value": str(self.percent_off)}
                    ],
                }
            ],
            "attributes": {"objectType": "Promotion"},
        }


# The sandbox's own promotions (ids shaped like Microsoft's); the last one has ended.
PROMOTIONS: tuple[Promotion, ...] = (
    Promotion(
        "SBXPROMO0001:0001:SBXPROMO0001",
        "Microsoft 365 Business Basic, annual billing: 10% off",
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC),
        "CFQ7TTC0LH18",
        "0001",
        "P1Y",
        "annual",
        Decimal("0.10"),
    ),
    Promotion(
        "SBXPROMO0002:0001:SBXPROMO0002",
        "Microsoft 365 Business Standard, monthly billing: 15% off",
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC),
        "CFQ7TTC0LDPB",
        "0001",
        "P1Y",
        "monthly",
        Decimal("0.15"),
    ),
    Promotion(
        "SBXPROMO0003:0001:SBXPROMO0003",
        "Microsoft 365 Business Premium, 2024: 5% off",
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
        "CFQ7TTC0LCHC",
        "0002",
        "P1Y",
        "monthly",
        Decimal("0.05"),
    ),
)
PROMOTIONS_BY_ID = {p.id: p for p in PROMOTIONS}


def promoted(price: Decimal, promotion_id: str | None) -> Decimal:
    """A price after the subscription's promotion, if any."""
    promotion = PROMOTIONS_BY_ID.get(promotion_id or "")
    if promotion is None:
        return price
    return (price * (1 - promotion.percent_off)).quantize(Decimal("0.0001"))


def find(product_id: str, sku_id: str | None = None) -> Offer | None:
    """The offer of a product's SKU (its paid one when `sku_id` is None)."""
    if sku_id is None:
        return PAID.get(product_id)
    return next((o for o in PRODUCTS.get(product_id, ()) if o.sku_id == sku_id), None)


def upgrade_targets(catalog_item_id: str) -> list[Offer]:
    """Where a subscription of this offer can transition to: a trial to its paid offer,
    a paid offer up its ladder."""
    offer = BY_ID.get(catalog_item_id)
    if offer is None:
        return []
    if offer.trial_of is not None:
        return [BY_ID[offer.trial_of]]
    return [PAID[p] for p in UPGRADES.get(offer.product_id, ())]


def price_per_cycle(offer: Offer, term: str, billing_cycle: str) -> Decimal:
    """The unit price charged once per billing cycle (a trial's is 0)."""
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
        "isTrial": offer.is_trial,
        "supportedBillingCycles": sorted({c for t in offer.terms for c in offer.billing_cycles(t)}),
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
        "isTrial": offer.is_trial,
        "terms": [
            {
                "duration": term,
                "description": TERM_DESCRIPTIONS[term],
                "billingCycles": list(offer.billing_cycles(term)),
                "cancellationPolicies": [{"refunds": [{"type": "Full"}], "duration": "P7D"}],
            }
            for term in offer.terms
        ],
        "attributes": {"objectType": "Availability"},
    }
