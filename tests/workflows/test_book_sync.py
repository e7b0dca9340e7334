"""The book_sync orchestrator, driven as a generator (tests/orchestrator_driver.py): a page per
episode, batches as sub-orchestrations within the cap, every customer's outcome counted, a
broken listing reported without a sweep or links; and the same orchestrator on the real
activities, sandboxes and Azurite (tests/workflows/test_book_sync_on_devhost.py runs it on
devhost, concurrently, for a seeded book)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import Failure
from shared.models.book_sync import (
    BookSyncReport,
    CustomerOutcome,
    CustomerPage,
    CustomerSynced,
    GoneSwept,
    Ids,
    PageLink,
    PartnerCenterCustomer,
    StripeLinked,
    SyncTotals,
)
from tests.orchestrator_driver import (
    T0,
    SubOrchestrationFailed,
    drive,
    retries_spent,
    succeeded,
)
from workflows.book_sync import BATCH, book_sync, book_sync_batch
from workflows.durable import RETRY_POLICIES

RUN = "20261102T020000Z-3fa9"
DOWN = Failure(kind="transient", error_type="RetryableError", code="503", message="down")


def tenants(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


class FakePartnerCenter:
    """Outcomes for every step, from a list of tenants: pages by offset, a customer's sync
    adopted / updated / unchanged by its position, some failing."""

    def __init__(self, n: int, *, failing: frozenset[int] = frozenset(), page_fails_at: int | None = None):  # fmt: skip
        self.ids = tenants(n)
        self.failing = {self.ids[i] for i in failing}
        self.page_fails_at = page_fails_at
        self.synced: list[str] = []
        self.requests: list[dict[str, Any]] = []

    def page(self, request: dict[str, Any]) -> Any:
        offset = int(request["after"]["uri"].split("=")[1]) if request.get("after") else 0
        if offset == self.page_fails_at:
            return retries_spent(DOWN)
        size = request["page_size"]
        chunk = self.ids[offset : offset + size]
        following = offset + size
        next_link = (
            PageLink(uri=f"/customers?offset={following}", headers={"MS-ContinuationToken": "t"})
            if following < len(self.ids)
            else None
        )
        customers = tuple(
            PartnerCenterCustomer(tenant_id=t, domain=f"{t[-4:]}.example") for t in chunk
        )
        return succeeded(CustomerPage(customers=customers, next=next_link))  # fmt: skip

    def sync(self, request: dict[str, Any]) -> Any:
        tenant = request["customer"]["tenant_id"]
        self.synced.append(tenant)
        self.requests.append(request)
        if tenant in self.failing:
            return retries_spent(DOWN)
        position = self.ids.index(tenant) % 3
        outcome: CustomerOutcome = ("adopted", "updated", "unchanged")[position]
        return succeeded(
            CustomerSynced(
                customer_id=tenant,
                tenant_id=tenant,
                outcome=outcome,
                subscriptions=2,
                subscriptions_corrected=(f"s-{tenant[-4:]}",) if outcome == "updated" else (),
            )
        )

    def outcomes(self, **overrides: Any) -> dict[str, Any]:
        steps: dict[str, Any] = {
            "read_customer_page": self.page,
            "sync_customer": self.sync,
            "flag_gone_customers": succeeded(
                GoneSwept(partner_center_customers=len(self.ids), gone=Ids.of(["c-old"]),
                          newly_gone=Ids.of(["c-old"]))
            ),
            "link_stripe_customers": succeeded(
                StripeLinked(stripe_customers=9, linked=Ids.of(self.ids[:2]), by_metadata=2,
                             unlinked=Ids.of(["c-x"]))
            ),
            "record_book_sync": lambda request: succeeded(request["report"]),
        }  # fmt: skip
        steps["book_sync_batch"] = lambda batch: drive(book_sync_batch, steps, input=batch).output
        return steps | overrides


def sync(fake: FakePartnerCenter, **overrides: Any) -> Any:
    return drive(
        book_sync,
        fake.outcomes(**overrides),
        instance_id="book-sync",
        input={"run_id": RUN, "tuning": {"page_size": 100, "batch_size": 25, "max_in_flight": 16}},
    )


def test_each_page_is_one_episode_whose_history_stays_one_page_long():
    fake = FakePartnerCenter(250)
    result = sync(fake)
    assert [e.input.get("page", 0) for e in result.episodes] == [0, 1, 2]
    # first: read, read ahead, 4 batches; then: read ahead, 4 batches; last: 2 batches,
    # sweep, link, record. Never more than a page's worth, whatever the book's size.
    assert [[c.name for c in e.calls] for e in result.episodes] == [
        ["read_customer_page", "read_customer_page", *["book_sync_batch"] * 4],
        ["read_customer_page", *["book_sync_batch"] * 4],
        [*["book_sync_batch"] * 2, "flag_gone_customers", "link_stripe_customers",
         "record_book_sync"],
    ]  # fmt: skip
    assert fake.synced == fake.ids  # every customer once, in Partner Center's order
    second = result.episodes[1].input
    assert second["customers"][0]["tenant_id"] == fake.ids[100]  # read ahead by episode 1
    assert second["started_at"] == T0.isoformat().replace("+00:00", "Z")


def test_batches_are_sub_orchestrations_named_by_run_page_and_batch_within_the_cap():
    fake = FakePartnerCenter(130)
    result = sync(fake)
    batches = [c for c in result.calls if c.name == BATCH.name]
    assert [c.instance_id for c in batches] == [
        f"book-sync-{RUN}-p00000-b{n:03d}" for n in range(4)
    ] + [f"book-sync-{RUN}-p00001-b000", f"book-sync-{RUN}-p00001-b001"]
    assert [len(c.input["customers"]) for c in batches] == [25, 25, 25, 25, 25, 5]
    # 4 batches at once, 4 customers in flight in each: 16, the cap
    assert {c.input["in_flight"] for c in batches} == {4}
    first = drive(book_sync_batch, fake.outcomes(), input=batches[0].input, instance_id="b0")
    assert [c.name for c in first.calls] == ["sync_customer"] * 25
    assert all(c.retry is RETRY_POLICIES["standard"] for c in first.calls)
    assert first.calls[0].input["step_key"] == f"b0/sync-{tenants(1)[0]}"
    assert first.calls[0].input["run_id"] == RUN


def test_the_report_counts_every_customer_and_names_the_failed_with_their_reason():
    fake = FakePartnerCenter(10, failing=frozenset({4}))
    report = BookSyncReport.model_validate(sync(fake).output)
    assert report.complete and report.error is None
    assert (report.run_id, report.pages, report.partner_center_customers) == (RUN, 1, 10)
    assert report.adopted.ids == tuple(fake.ids[i] for i in (0, 3, 6, 9))
    assert report.updated.ids == tuple(fake.ids[i] for i in (1, 7))
    assert report.unchanged.ids == tuple(fake.ids[i] for i in (2, 5, 8))
    assert [(f.tenant_id, f.reason) for f in report.failed] == [
        (fake.ids[4], "RetryableError: down")
    ]
    assert report.subscriptions == 18 and report.subscriptions_corrected.count == 2
    assert (report.gone, report.newly_gone) == (Ids.of(["c-old"]), Ids.of(["c-old"]))
    assert (report.linked.count, report.unlinked.ids) == (2, ("c-x",))
    assert report.started_at == T0 and report.finished_at > T0


def test_the_report_is_recorded_and_the_status_follows_the_run():
    result = sync(FakePartnerCenter(150))
    recorded = next(c for c in result.calls if c.name == "record_book_sync")
    assert recorded.input["report"] == result.output
    assert recorded.input["step_key"] == f"book-sync/record-{RUN}"
    assert [(s["state"], s["pages"], s["customers"]) for s in result.custom_statuses] == [
        ("syncing", 0, 0),
        ("syncing", 1, 100),
        ("sweeping", 2, 150),
        ("linking", 2, 150),
        ("done", 2, 150),
    ]


def test_a_list_that_cannot_be_read_is_reported_with_no_sweep_and_no_links():
    result = sync(FakePartnerCenter(10, page_fails_at=0))
    report = BookSyncReport.model_validate(result.output)
    assert not report.complete
    assert report.error == "Partner Center's customer list: RetryableError: down"
    assert [c.name for c in result.calls] == ["read_customer_page", "record_book_sync"]
    assert report.gone == report.linked == Ids()


def test_a_list_that_breaks_off_keeps_what_was_synced_and_flags_nothing():
    result = sync(FakePartnerCenter(250, page_fails_at=200))
    report = BookSyncReport.model_validate(result.output)
    assert not report.complete and "after page 2" in (report.error or "")
    assert report.adopted.count + report.updated.count + report.unchanged.count == 200
    assert "flag_gone_customers" not in [c.name for c in result.calls]


def test_a_batch_that_failed_fails_each_of_its_customers_and_the_others_go_on():
    fake = FakePartnerCenter(30)
    failing_batch = SubOrchestrationFailed("StepFailed: worker lost")
    seen: list[int] = []

    def batch(request: dict[str, Any]) -> Any:
        seen.append(len(request["customers"]))
        if len(seen) == 1:
            return failing_batch
        return SyncTotals.of([], []).model_dump(mode="json")

    report = BookSyncReport.model_validate(sync(fake, book_sync_batch=batch).output)
    assert report.failed_count == 25
    assert report.failed[0].reason.startswith("batch: StepFailed: ")


def test_a_sweep_or_link_that_failed_is_reported_and_the_run_completes():
    fake = FakePartnerCenter(3)
    report = BookSyncReport.model_validate(
        sync(fake, flag_gone_customers=retries_spent(DOWN),
             link_stripe_customers=retries_spent(DOWN)).output
    )  # fmt: skip
    assert report.complete
    assert report.error == (
        "flagging customers gone: RetryableError: down; "
        "linking Stripe customers: RetryableError: down"
    )


def test_an_empty_partner_center_is_one_episode_with_nothing_to_sync():
    result = sync(FakePartnerCenter(0))
    report = BookSyncReport.model_validate(result.output)
    assert report.complete and report.adopted == Ids() and len(result.episodes) == 1


@pytest.mark.parametrize("bad", [{}, {"run_id": "has/slash"}])
def test_a_run_without_a_valid_id_fails_at_once(bad):
    with pytest.raises(ValueError, match="run_id"):
        drive(book_sync, {}, input=bad)
