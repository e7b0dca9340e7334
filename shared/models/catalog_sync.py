"""The catalogue import: what crosses the Durable boundaries of `catalog_sync`
(workflows/catalog_sync.py) and its `import_catalog` activity."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.models._base import DomainModel
from shared.models.party import CountryCode


class CatalogSyncRequest(DomainModel):
    """The markets whose catalogue and Microsoft prices to import (ISO 3166 alpha-2, each
    once)."""

    countries: list[CountryCode] = Field(
        min_length=1, max_length=20, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("countries")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each country once")
        return value


class CatalogImportRequest(DomainModel):
    """One market to import."""

    country: CountryCode


class CatalogImport(DomainModel):
    """What an import of one market did to the book's offers."""

    country: CountryCode
    currencies: list[str]
    offers: int = Field(ge=0, description="offers Partner Center sells there with a price")
    written: int = Field(ge=0, description="added or changed in the book")
    unchanged: int = Field(ge=0)
    removed: int = Field(ge=0, description="in the book but no longer sold there")
    unpriced: int = Field(ge=0, description="sold there but without a price row: not imported")


class CatalogImportFailure(DomainModel):
    country: CountryCode
    kind: str
    code: str
    message: str


class CatalogSyncReport(DomainModel):
    """The orchestration's output: one import per market, or why it failed."""

    ok: bool
    imports: list[CatalogImport]
    failed: list[CatalogImportFailure]
