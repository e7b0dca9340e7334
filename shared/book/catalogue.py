"""The catalogue: the offers the partner sells (with Microsoft's cost) and its price lists.

Table `Offers`
    PartitionKey = catalog item id (`productId:skuId:availabilityId`),
    RowKey = `<term>:<billing cycle>:<currency>`; column Family.
    Serves: the offer an order line or a subscription names (point read); every term and
    billing plan of a catalog item (one partition); the offers of a product family, for
    upgrade paths (a scan filtered on Family: the catalogue is hundreds of rows).

Table `PriceLists`
    PartitionKey = price list id, RowKey = currency.
    Serves: the list a customer buys from, in its billing currency (point read); one list
    in every currency (one partition).

Both are copies of what the partner maintains elsewhere (Partner Center's price list, the
partner's own pricing), so writes are `save`: last writer wins, and saving what is already
there writes nothing.
"""

from __future__ import annotations

from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Keys, Page, Repository, Stored
from shared.book.errors import RecordNotFound
from shared.book.keys import key
from shared.models.catalog import BillingCycleName, Offer, TermDuration
from shared.models.party import Customer
from shared.models.pricing import PriceList

OFFERS_TABLE = "Offers"
PRICE_LISTS_TABLE = "PriceLists"
# The list a customer buys from when it has none of its own (Customer.price_list_id).
STANDARD_PRICE_LIST = "standard"


class Offers(Repository[Offer]):
    model = Offer
    table_name = OFFERS_TABLE
    noun = "offer"

    def keys(self, record: Offer) -> Keys:
        return key(record.catalog_item_id), self._plan(
            record.term_duration, record.billing_cycle, record.unit_cost.currency
        )

    @staticmethod
    def _plan(term: TermDuration, cycle: BillingCycleName, currency: str) -> str:
        return f"{term}:{cycle}:{currency.upper()}"

    def columns(self, record: Offer) -> dict[str, Any]:
        return {"Family": record.family}

    def get(
        self, catalog_item_id: str, term: TermDuration, cycle: BillingCycleName, currency: str
    ) -> Offer:
        return self._get((key(catalog_item_id), self._plan(term, cycle, currency))).record

    def of_catalog_item(self, catalog_item_id: str) -> list[Offer]:
        return self._page("PartitionKey eq @pk", {"pk": key(catalog_item_id)}, 1000, None).items

    def of_family(self, family: str) -> list[Offer]:
        """The family's offers, lowest rank first (the upgrade path runs upwards)."""
        offers = [
            self._stored(entity).record
            for entity in self.table.scan("Family eq @f", {"f": family}, "offers of a family")
        ]
        return sorted(offers, key=lambda offer: (offer.rank, offer.key))

    def page(self, *, limit: int = DEFAULT_LIMIT, next: str | None = None) -> Page[Offer]:
        return self._page("", {}, limit, next)


class PriceLists(Repository[PriceList]):
    model = PriceList
    table_name = PRICE_LISTS_TABLE
    noun = "price list"

    def keys(self, record: PriceList) -> Keys:
        return key(record.id), record.currency

    def find(self, price_list_id: str, currency: str) -> Stored[PriceList] | None:
        return self._find((key(price_list_id), currency.upper()))

    def get(self, price_list_id: str, currency: str) -> PriceList:
        return self._get((key(price_list_id), currency.upper())).record

    def for_customer(self, customer: Customer) -> PriceList:
        """The list the customer buys from (its own, else the standard one), in its billing
        currency. `RecordNotFound` names the list and currency missing."""
        list_id = customer.price_list_id or STANDARD_PRICE_LIST
        stored = self.find(list_id, customer.billing_currency)
        if stored is None:
            raise RecordNotFound(
                f"customer {customer.id} buys from price list {list_id} in "
                f"{customer.billing_currency}, which is not in the book"
            )
        return stored.record

    def in_every_currency(self, price_list_id: str) -> list[PriceList]:
        return self._page("PartitionKey eq @pk", {"pk": key(price_list_id)}, 1000, None).items
