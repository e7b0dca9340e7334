"""Orchestrator `catalog_sync`: import the catalogue and Microsoft's prices of some markets
into the book.

One `import_catalog` activity per market, all at once, each retried by the "standard"
policy; a market that fails (Partner Center refused it, or retries were spent) is reported
with its reason and the others still import. Started by `POST /api/ops/catalog-syncs`
(triggers/ops.py). The output is a `CatalogSyncReport`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import azure.durable_functions as df

from activities.catalog import import_catalog
from shared.models import DomainModel
from shared.models.catalog_sync import (
    CatalogImport,
    CatalogImportFailure,
    CatalogImportRequest,
    CatalogSyncReport,
    CatalogSyncRequest,
)
from workflows.durable import Outcome, call, orchestration, set_status, settle_all

bp = df.Blueprint()


class Importing(DomainModel):
    state: Literal["importing"] = "importing"
    countries: list[str]


class Imported(DomainModel):
    state: Literal["done"] = "done"
    ok: bool
    failed: list[str]


@orchestration(bp)
def catalog_sync(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    request = CatalogSyncRequest.model_validate(context.get_input())
    set_status(context, Importing(countries=request.countries))
    outcomes = yield from settle_all(
        *(
            call(context, import_catalog, CatalogImportRequest(country=country))
            for country in request.countries
        )
    )
    report = as_report(request.countries, outcomes)
    set_status(context, Imported(ok=report.ok, failed=[f.country for f in report.failed]))
    return report.model_dump(mode="json")


ORCHESTRATOR = catalog_sync.__name__


def as_report(countries: list[str], outcomes: list[Outcome[CatalogImport]]) -> CatalogSyncReport:
    imports: list[CatalogImport] = []
    failed: list[CatalogImportFailure] = []
    for country, outcome in zip(countries, outcomes, strict=True):
        if outcome.value is not None:
            imports.append(outcome.value)
            continue
        assert outcome.failure is not None
        failed.append(
            CatalogImportFailure(
                country=country,
                kind=outcome.failure.kind,
                code=outcome.failure.code,
                message=outcome.failure.describe(),
            )
        )
    return CatalogSyncReport(ok=not failed, imports=imports, failed=failed)
