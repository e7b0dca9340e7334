"""The catalogue: the offers the partner sells (with Microsoft's cost) and its price lists.

Table `Offers`
    PartitionKey = the market's country (`US`), RowKey =
    `<currency>|<catalog item id>|<term>|<billing cycle>`; column Family.
    Serves: a market's catalogue in one currency, in catalog item order, paged (the API's
    `GET /api/catalog?country=&currency=`: one partition, a RowKey range); the offer an
    order line or a subscription names in its customer's market and currency (point read);
    every term and billing plan of a catalog item there (a RowKey range); a family's offers
    there, for upgrade paths (the same partition and currency, filtered on Family); the
    currencies a market is sold in (one single-row query per currency, skipping the rest);
    every market's offers in one currency (a scan filtered on the RowKey range: checking a
    price list against the whole catalogue, which a price-list change does).

Table `PriceLists`
    PartitionKey = price list id, RowKey = currency.
    Serves: the list a customer buys from, in its billing currency (point read); one list
    in every currency (one partition).

Both are copies of what the partner maintains elsewhere (Partner Center's catalogue and price
sheet, the partner's own pricing), so writes are `save`: last writer wins, and saving what is
already there writes nothing. Offers hold Microsoft's cost only; sell prices are computed from
the price list in force when they are needed (docs/rules.md#price-list-changes).
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
_AFTER = "}"  # sorts right after "|": `<prefix>|` .. `<prefix>}` is every key under a prefix


def _plan(currency: str, catalog_item_id: str, term: TermDuration, cycle: BillingCycleName) -> str:
    return key(f"{currency.upper()}|{catalog_item_id}|{term}|{cycle}")


class Offers(Repository[Offer]):
    model = Offer
    table_name = OFFERS_TABLE
    noun = "offer"

    def keys(self, record: Offer) -> Keys:
        return key(record.country), _plan(
            record.currency, record.catalog_item_id, record.term_duration, record.billing_cycle
        )

    def columns(self, record: Offer) -> dict[str, Any]:
        return {"Family": record.family}

    def find(
        self,
        country: str,
        currency: str,
        catalog_item_id: str,
        term: TermDuration,
        cycle: BillingCycleName,
    ) -> Offer | None:
        stored = self._find((key(country.upper()), _plan(currency, catalog_item_id, term, cycle)))
        return None if stored is None else stored.record

    def get(
        self,
        country: str,
        currency: str,
        catalog_item_id: str,
        term: TermDuration,
        cycle: BillingCycleName,
    ) -> Offer:
        keys = (key(country.upper()), _plan(currency, catalog_item_id, term, cycle))
        return self._get(keys).record

    def of_market(
        self, country: str, currency: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[Offer]:
        """A market's offers in one currency, in catalog item, term and cycle order."""
        return self._page(*self._range(country, f"{currency.upper()}|"), limit, next)

    def of_catalog_item(self, country: str, currency: str, catalog_item_id: str) -> list[Offer]:
        """Every term and billing plan of a catalog item in a market and currency."""
        query, parameters = self._range(country, f"{currency.upper()}|{catalog_item_id}|")
        return [self._stored(e).record for e in self.table.scan(query, parameters, "plans")]

    def of_family(self, country: str, currency: str, family: str) -> list[Offer]:
        """The family's offers in a market and currency, lowest rank first (the upgrade path
        runs upwards)."""
        query, parameters = self._range(country, f"{currency.upper()}|")
        query += " and Family eq @f"
        offers = [
            self._stored(entity).record
            for entity in self.table.scan(query, {**parameters, "f": family}, "a family's offers")
        ]
        return sorted(offers, key=lambda offer: (offer.rank, offer.key))

    def in_currency(self, currency: str) -> list[Offer]:
        """Every market's offers in one currency: a scan of the table filtered on a RowKey
        range (for checking a price list against the whole catalogue, which is rare)."""
        start = key(f"{currency.upper()}|")
        entities = self.table.scan(
            "RowKey ge @start and RowKey lt @end",
            {"start": start, "end": start[:-1] + _AFTER},
            f"offers in {currency}",
        )
        return [self._stored(entity).record for entity in entities]

    def of_country(self, country: str) -> list[Offer]:
        """Every offer of a market, in every currency (what an import compares with)."""
        entities = self.table.scan("PartitionKey eq @pk", {"pk": key(country.upper())}, "market")
        return [self._stored(entity).record for entity in entities]

    def currencies(self, country: str) -> list[str]:
        """The currencies a market's offers are in: one single-row query per currency."""
        found: list[str] = []
        after = ""
        while True:
            rows, _ = self.table.query(
                "PartitionKey eq @pk and RowKey ge @after",
                {"pk": key(country.upper()), "after": after},
                limit=1,
                cursor=None,
                what=f"currencies of market {country}",
            )
            if not rows:
                return found
            currency = str(rows[0]["RowKey"]).split("|", 1)[0]
            found.append(currency)
            after = currency + _AFTER

    def remove(self, offer: Offer) -> bool:
        """Delete an offer the market no longer sells; False if it was not there."""
        keys = self.keys(offer)
        stored = self._find(keys)
        if stored is None:
            return False
        return self.table.delete(*keys, etag=stored.etag, what=self.describe(keys))

    def page(self, *, limit: int = DEFAULT_LIMIT, next: str | None = None) -> Page[Offer]:
        return self._page("", {}, limit, next)

    @staticmethod
    def _range(country: str, prefix: str) -> tuple[str, dict[str, Any]]:
        start = key(prefix)
        return (
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            {"pk": key(country.upper()), "start": start, "end": start[:-1] + _AFTER},
        )


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

    def in_every_currency(self, price_list_id: str) -> list[Stored[PriceList]]:
        """The list in each of its currencies, in currency order."""
        entities = self.table.scan("PartitionKey eq @pk", {"pk": key(price_list_id)}, "price list")
        return [self._stored(entity) for entity in entities]

    def remove(self, stored: Stored[PriceList]) -> bool:
        """Delete the list in one currency, if it is still the version read (False if it
        changed since)."""
        keys = self.keys(stored.record)
        return self.table.delete(*keys, etag=stored.etag, what=self.describe(keys))
