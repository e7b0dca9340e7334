"""The catalogue import's activity: one market's offers, from Partner Center's catalogue and
price sheet into the book's Offers.

Partner Center says what a market sells (products, SKUs, availabilities: the catalog item ids
and their terms and billing cycles; Microsoft Learn, purchase-new-commerce-license-based) and
what Microsoft charges the partner there (the license-based price sheet, in each currency of
the market: get-a-price-sheet). An offer is a catalog item on a term and billing cycle in one
currency, with Microsoft's cost (docs/rules.md#catalogue-cost); one without a price row is
not imported (it cannot be priced). Partner Center wins: an offer the book has for the market
but Partner Center no longer sells there is removed. What only the partner knows about an
offer, its product family and rank (upgrade paths), is kept from the book; a new offer starts
in a family of its own product with rank 0, until the partner places it.

Reads only, and `save` writes nothing for an offer unchanged, so running it again is safe.
"""

from __future__ import annotations

from datetime import datetime

import azure.durable_functions as df

from activities.boundary import ActivityContext, activity
from shared.book import Book
from shared.clock import app_clock
from shared.models.catalog import TERM_MONTHS, BillingCycleName, Offer, billing_fits_term
from shared.models.catalog_sync import CatalogImport, CatalogImportRequest
from shared.partner_center import PartnerCenterClient
from shared.partner_center.models import Availability, PriceSheetRow, Sku
from shared.policy.pricing import ListedPrice, microsoft_cost

bp = df.Blueprint()

CYCLES: dict[str, BillingCycleName] = {c: c for c in ("monthly", "annual", "triennial")}
NAME_LENGTH = 200


def _listed(row: PriceSheetRow) -> ListedPrice:
    return ListedPrice(
        product_id=row.product_id,
        sku_id=row.sku_id,
        term=row.term_duration,
        billing_plan=row.billing_plan,
        currency=row.currency.upper(),
        unit_price=row.unit_price,
        start=row.effective_start_date,
        end=row.effective_end_date,
    )


def market_offers(
    country: str,
    plans: list[tuple[Sku, Availability]],
    prices: list[ListedPrice],
    at: datetime,
    known: dict[str, Offer],
) -> tuple[list[Offer], int]:
    """The market's offers with their cost at `at`, and how many plans had no price row.
    `known` is the book's offers of the market by `Offer.key` + currency (their family and
    rank are kept)."""
    currencies = sorted({p.currency for p in prices})
    offers: dict[str, Offer] = {}
    unpriced = 0
    for sku, availability in plans:
        for term in availability.terms:
            if term.duration not in TERM_MONTHS:
                continue
            for raw_cycle in term.billing_cycles:
                cycle = CYCLES.get(raw_cycle.strip().lower())
                if cycle is None or not billing_fits_term(term.duration, cycle):
                    continue
                for currency in currencies:
                    cost = microsoft_cost(
                        prices,
                        product_id=availability.product_id,
                        sku_id=availability.sku_id,
                        term=term.duration,
                        cycle=cycle,
                        currency=currency,
                        at=at,
                    )
                    if cost is None:
                        unpriced += 1
                        continue
                    offer = Offer.model_validate(
                        {
                            "catalog_item_id": availability.catalog_item_id,
                            "country": country,
                            "name": (sku.title or availability.catalog_item_id)[:NAME_LENGTH],
                            "term_duration": term.duration,
                            "billing_cycle": cycle,
                            "unit_cost": cost.model_dump(),
                            "family": availability.product_id,
                            "rank": 0,
                            "min_quantity": max(sku.minimum_quantity, 1),
                            "max_quantity": sku.maximum_quantity or None,
                        }
                    )
                    before = known.get(f"{offer.key}|{currency}")
                    if before is not None:
                        offer = offer.model_copy(
                            update={"family": before.family, "rank": before.rank}
                        )
                    offers[f"{offer.key}|{currency}"] = offer
    return list(offers.values()), unpriced


@activity(bp)
def import_catalog(request: CatalogImportRequest, ctx: ActivityContext) -> CatalogImport:
    """Read the market's catalogue and price sheet from Partner Center; make the book's
    offers for the market what they say."""
    country = request.country
    client = PartnerCenterClient.from_settings(ctx.settings)
    plans: list[tuple[Sku, Availability]] = []
    for product in client.list_products(country):
        for sku in client.list_skus(product.id, country):
            for availability in client.list_availabilities(product.id, sku.id, country):
                plans.append((sku, availability))
    prices = [_listed(row) for row in client.price_sheet(country)]
    clock = app_clock(ctx.settings)
    book = Book(ctx.settings, clock=clock)
    known = {f"{o.key}|{o.currency}": o for o in book.offers.of_country(country)}
    offers, unpriced = market_offers(country, plans, prices, clock.now(), known)
    written = 0
    for offer in offers:
        before = known.pop(f"{offer.key}|{offer.currency}", None)
        if before != offer:
            book.offers.save(offer)
            written += 1
    removed = sum(book.offers.remove(gone) for gone in known.values())
    return CatalogImport(
        country=country,
        currencies=sorted({o.currency for o in offers}),
        offers=len(offers),
        written=written,
        unchanged=len(offers) - written,
        removed=removed,
        unpriced=unpriced,
    )
