"""The sandbox's new commerce license-based price sheet: what Microsoft charges the partner,
per market, as Partner Center's pricing API serves it.

`GET /v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value` on
api.partner.microsoft.com answers the market's price list as a CSV file (app+user
authentication only): one row per product, SKU, term and billing plan, with the fields of
Microsoft's new commerce price list (ProductTitle, ProductId, SkuId, SkuTitle, Publisher,
SkuDescription, UnitOfMeasure, TermDuration, BillingPlan, Market, Currency, UnitPrice,
PricingTierRangeMin, PricingTierRangeMax, EffectiveStartDate, EffectiveEndDate, Tags,
ERP Price, Segment). Sources on Microsoft Learn: "Get a price sheet"
(https://learn.microsoft.com/en-us/partner-center/developer/get-a-price-sheet) and "Pricing and
offers" (https://learn.microsoft.com/en-us/partner-center/pricing/pricing-and-offers): a price
sheet holds the currencies of its market (a European market's holds every currency of the
region), trials have the billing plan "None", and the effective dates say which rows are in
force (a newer row follows an older one for the same offer).

The sandbox's choices: `UnitPrice` is the charge per licence per billing period of the row's
billing plan, the same amount the sandbox's orders and invoices charge (catalog.py
`price_per_cycle`), converted for other currencies with fixed illustrative rates; the ERP
price is the unit price plus 25 %. One offer carries an older row that has ended, so a reader
must pick the row in force. Markets other than those below are refused (400).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sandbox.partner_center import catalog

VIEW = "updatedlicensebased"
COLUMNS = (
    "ProductTitle",
    "ProductId",
    "SkuId",
    "SkuTitle",
    "Publisher",
    "SkuDescription",
    "UnitOfMeasure",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "PricingTierRangeMin",
    "PricingTierRangeMax",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "Tags",
    "ERP Price",
    "Segment",
)
# Illustrative rates from the sandbox's USD list prices; a market lists each of its currencies.
RATES = {"USD": Decimal(1), "EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "JPY": Decimal(150)}
MARKETS: dict[str, tuple[str, ...]] = {
    "US": ("USD",),
    "GB": ("GBP", "EUR"),
    "DE": ("EUR", "GBP"),
    "FR": ("EUR", "GBP"),
    "JP": ("JPY",),
}
MINOR_DIGITS = {"JPY": 0}  # every other currency here has 2
CURRENT_FROM = datetime(2025, 4, 1, tzinfo=UTC)
NO_END = datetime(9999, 11, 30, 23, 59, 59, tzinfo=UTC)
# The offer whose earlier price row has ended: Business Premium was cheaper until March 2025.
REPRICED = catalog.PREMIUM
EARLIER = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC))
EARLIER_FACTOR = Decimal("0.90")
ERP_FACTOR = Decimal("1.25")
BILLING_PLANS = {"monthly": "Monthly", "annual": "Annual", "triennial": "Triennial"}


def _amount(usd: Decimal, currency: str) -> Decimal:
    step = Decimal(1).scaleb(-MINOR_DIGITS.get(currency, 2))
    return (usd * RATES[currency]).quantize(step, rounding=ROUND_HALF_UP)


def _stamp(when: datetime) -> str:
    # Learn's effective-date example: 2021-10-01T00:00:00.0000000Z
    return when.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def rows(market: str) -> list[dict[str, str]]:
    """The market's price sheet, one dict per row (COLUMNS as keys)."""
    out: list[dict[str, str]] = []
    for currency in MARKETS[market]:
        for offer in catalog.OFFERS:
            for term in offer.terms:
                plans = ("None",) if offer.is_trial else offer.billing_cycles(term)
                for plan in plans:
                    usd = (
                        Decimal(0) if offer.is_trial else catalog.price_per_cycle(offer, term, plan)
                    )
                    periods = [(CURRENT_FROM, NO_END, usd)]
                    if offer.catalog_item_id == REPRICED:
                        periods.insert(0, (*EARLIER, usd * EARLIER_FACTOR))
                    for start, end, price in periods:
                        unit = _amount(price, currency)
                        out.append(
                            {
                                "ProductTitle": offer.title,
                                "ProductId": offer.product_id,
                                "SkuId": offer.sku_id,
                                "SkuTitle": offer.title,
                                "Publisher": "Microsoft Corporation",
                                "SkuDescription": offer.title,
                                "UnitOfMeasure": "",
                                "TermDuration": term,
                                "BillingPlan": BILLING_PLANS.get(plan, plan),
                                "Market": market,
                                "Currency": currency,
                                "UnitPrice": str(unit),
                                "PricingTierRangeMin": "",
                                "PricingTierRangeMax": "",
                                "EffectiveStartDate": _stamp(start),
                                "EffectiveEndDate": _stamp(end),
                                "Tags": "License;Trial" if offer.is_trial else "License",
                                "ERP Price": str(_amount(price * ERP_FACTOR, currency)),
                                "Segment": "Commercial",
                            }
                        )
    return out


def csv_file(market: str) -> bytes:
    """The price sheet as Partner Center sends it: a CSV file, every field quoted."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows(market))
    return buffer.getvalue().encode("utf-8")
