"""The catalogue import: what crosses the Durable boundaries of `catalog_sync`
(workflows/catalog_sync.py) and its `import_catalog` activity."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.models._base import DomainModel
from shared.models.party import CountryCode


def _first_of_each(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


class CatalogSyncRequest(DomainModel):
    """The markets whose catalogue and Microsoft prices to import (ISO 3166 alpha-2)."""

    countries: list[CountryCode] = Field(min_length=1, max_length=20)

    @field_validator("countries", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        if isinstance(value, list):
            return [v.strip().upper() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("countries")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return _first_of_each(value)


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
