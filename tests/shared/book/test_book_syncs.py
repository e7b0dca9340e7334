"""The book syncs' reports: saved under the run id, found by it, saved again for nothing; a
report of a large book (every id list full) fits an entity."""

from datetime import timedelta

from shared.book import Book
from shared.models.book_sync import (
    MAX_AMBIGUOUS,
    MAX_FAILED,
    MAX_IDS,
    AmbiguousMatch,
    BookSyncReport,
    Ids,
    SyncFailure,
)
from tests.shared.book.records import T0


def report(run_id: str = "20260302T090000Z-ab12", **overrides) -> BookSyncReport:
    data = {
        "run_id": run_id,
        "started_at": T0,
        "finished_at": T0 + timedelta(minutes=3),
        "complete": True,
        "pages": 1,
        "partner_center_customers": 3,
        "adopted": Ids.of(["c-1", "c-2"]),
        "updated": Ids(),
        "unchanged": Ids.of(["c-3"]),
    }
    return BookSyncReport.model_validate(data | overrides)


def test_a_report_is_found_by_its_run_and_saving_it_again_writes_nothing(book: Book):
    first = book.book_syncs.save(report())
    assert book.book_syncs.find("20260302T090000Z-ab12") == first
    assert book.book_syncs.save(report()) == first  # same version, same ETag
    assert book.book_syncs.find("20260302T090001Z-ab12") is None


def test_the_report_of_a_large_book_fits_one_entity(book: Book):
    tenant = "0b6a51f1-7f0c-4c5e-9b41-3b0c2f6d{:04x}"
    many = Ids.of(tenant.format(n) for n in range(50_000))
    assert (many.count, len(many.ids)) == (50_000, MAX_IDS)
    big = report(
        adopted=many,
        unchanged=many,
        updated=many,
        gone=many,
        newly_gone=many,
        linked=many,
        unlinked=many,
        subscriptions_added=many,
        subscriptions_corrected=many,
        subscriptions_gone=many,
        failed=tuple(SyncFailure(tenant_id=tenant.format(n), reason="x" * 300)
                     for n in range(MAX_FAILED)),
        ambiguous=tuple(AmbiguousMatch(key="email_domain", value=f"d{n}.example",
                                       customer_ids=(tenant.format(n), tenant.format(n + 1)),
                                       stripe_customer_ids=("cus_1",))
                        for n in range(MAX_AMBIGUOUS)),
    )  # fmt: skip
    book.book_syncs.save(big)
    stored = book.book_syncs.find(big.run_id)
    assert stored is not None and stored.record == big
