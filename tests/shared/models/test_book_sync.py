"""The book sync's models: id lists that count exactly and list at most MAX_IDS, totals that
add up over batches and pages, a fan-out that stays within its cap."""

import pytest

from shared.models.book_sync import (
    MAX_FAILED,
    MAX_IDS,
    BookSyncRun,
    CustomerSynced,
    Ids,
    SyncFailure,
    SyncTotals,
    SyncTuning,
)


def synced(n: int, outcome: str, **fields) -> CustomerSynced:
    return CustomerSynced.model_validate(
        {"customer_id": f"c-{n}", "tenant_id": f"t-{n}", "outcome": outcome, **fields}
    )


def test_ids_count_exactly_and_list_at_most_max_ids():
    many = Ids.of(f"c-{n}" for n in range(MAX_IDS + 7))
    assert (many.count, len(many.ids), many.ids[-1]) == (MAX_IDS + 7, MAX_IDS, f"c-{MAX_IDS - 1}")
    total = Ids.of(["a"]) + many
    assert (total.count, total.ids[:2]) == (MAX_IDS + 8, ("a", "c-0"))
    assert Ids() + Ids() == Ids()


def test_totals_of_a_batch_and_their_sum_over_batches():
    first = SyncTotals.of(
        [
            synced(1, "adopted", subscriptions=2, subscriptions_added=("s-1", "s-2")),
            synced(2, "updated", subscriptions=1, subscriptions_corrected=("s-3",)),
            synced(3, "unchanged", subscriptions=4, subscriptions_gone=("s-9",)),
        ],
        [SyncFailure(tenant_id="t-4", reason="PermanentError: no")],
    )
    assert (first.customers, first.subscriptions, first.failed_count) == (4, 7, 1)
    assert first.adopted == Ids.of(["c-1"]) and first.unchanged == Ids.of(["c-3"])
    assert first.subscriptions_added == Ids.of(["s-1", "s-2"])
    second = SyncTotals.of([synced(5, "adopted")], [])
    total = first + second
    assert total.adopted == Ids.of(["c-1", "c-5"])
    assert (total.customers, total.failed_count, total.subscriptions_gone.count) == (5, 1, 1)
    assert SyncTotals() + SyncTotals() == SyncTotals()


def test_failures_are_counted_exactly_and_listed_up_to_a_cap():
    lost = [SyncFailure(tenant_id=f"t-{n}", reason="down") for n in range(MAX_FAILED + 3)]
    totals = SyncTotals.of([], lost) + SyncTotals.of([], lost[:2])
    assert (totals.failed_count, len(totals.failed)) == (MAX_FAILED + 5, MAX_FAILED)


@pytest.mark.parametrize(
    ("page", "batch", "cap", "batches", "per_batch"),
    [(100, 25, 16, 4, 4), (100, 30, 16, 4, 4), (200, 25, 16, 8, 2), (100, 10, 4, 10, 1),
     (10, 25, 16, 1, 16)],
)  # fmt: skip
def test_a_pages_batches_together_stay_within_the_cap(page, batch, cap, batches, per_batch):
    tuning = SyncTuning(page_size=page, batch_size=batch, max_in_flight=cap)
    assert (tuning.batches_per_page, tuning.per_batch) == (batches, per_batch)
    assert tuning.batches_per_page * tuning.per_batch <= max(cap, tuning.batches_per_page)


def test_a_run_id_is_letters_digits_and_hyphens():
    assert BookSyncRun(run_id="20261102T020000Z-3fa9").page == 0
    with pytest.raises(ValueError, match="run_id"):
        BookSyncRun(run_id="a/b")
