"""The catalog_sync orchestrator, driven as a generator (tests/orchestrator_driver.py)."""

from shared.errors import Failure
from shared.models.catalog_sync import CatalogImport, CatalogSyncReport
from tests.orchestrator_driver import drive, refused, retries_spent, succeeded
from workflows.catalog_sync import catalog_sync
from workflows.durable import RETRY_POLICIES


def imported(country: str) -> CatalogImport:
    return CatalogImport(
        country=country,
        currencies=["USD"],
        offers=32,
        written=32,
        unchanged=0,
        removed=0,
        unpriced=0,
    )


def test_every_market_imports_at_once_with_the_standard_retry_policy():
    run = drive(
        catalog_sync,
        {"import_catalog": lambda payload: succeeded(imported(payload["country"]))},
        input={"countries": ["US", "DE"]},
    )
    assert [c.input for c in run.calls] == [{"country": "US"}, {"country": "DE"}]
    assert all(c.retry is RETRY_POLICIES["standard"] for c in run.calls)
    report = CatalogSyncReport.model_validate(run.output)
    assert report.ok and [i.country for i in report.imports] == ["US", "DE"]
    assert run.custom_statuses == [
        {"state": "importing", "countries": ["US", "DE"]},
        {"state": "done", "ok": True, "failed": []},
    ]


def test_a_market_that_fails_is_reported_and_the_others_still_import():
    refusal = Failure(
        kind="permanent", error_type="BusinessError", code="800002", message="Market: ZZ"
    )
    spent = Failure(kind="transient", error_type="RetryableError", code="transient", message="")

    def outcome(payload):
        return {
            "US": succeeded(imported("US")),
            "ZZ": refused(refusal),
            "FR": retries_spent(spent),
        }[payload["country"]]

    run = drive(catalog_sync, {"import_catalog": outcome}, input={"countries": ["US", "ZZ", "FR"]})
    report = CatalogSyncReport.model_validate(run.output)
    assert not report.ok
    assert [i.country for i in report.imports] == ["US"]
    assert [(f.country, f.kind, f.code) for f in report.failed] == [
        ("ZZ", "permanent", "800002"),
        ("FR", "transient", "transient"),
    ]
    assert report.failed[0].message == "BusinessError: Market: ZZ"
    assert run.custom_statuses[-1] == {"state": "done", "ok": False, "failed": ["ZZ", "FR"]}
