"""The billing run, driven as a generator (tests/orchestrator_driver.py): a page of the book
per episode, dealt into at most `in_flight` lanes that bill their customers one after
another (one `bill_customer` orchestration per customer and period), a customer who cannot
be billed reported with the reason, the report's totals and margin per currency; and
`bill_customer`'s decisions: plan, issue, record; nothing issued twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.errors import Failure
from shared.models.billing_run import (
    BillingRunReport,
    CustomerBilled,
    InvoicePlan,
    NotBilled,
    TaxTreatment,
)
from shared.models.money import Money
from shared.policy.billing import plan_invoice
from tests import billing_month as month
from tests.orchestrator_driver import T0, drive, retries_spent, succeeded
from workflows.billing_run import CUSTOMER, LANE, bill_customer, billing_lane, billing_run
from workflows.durable import RETRY_POLICIES

RUN = "2027-03-d01"
DOWN = Failure(kind="transient", error_type="PaymentsUnavailable", code="429", message="slow down")


def customer_ids(n: int) -> list[str]:
    return [f"cust-{i:04d}" for i in range(n)]


def eur(minor: int) -> Money:
    return Money(amount_minor=minor, currency="EUR")


class FakeBook:
    """A book of `n` customers, each billed 100.00 EUR (margin 10.00) unless it is one of
    `failing` (Stripe down past the retries) or `skipped` (no Stripe customer)."""

    def __init__(self, n: int, *, failing: set[int] | None = None, skipped: set[int] | None = None):  # fmt: skip
        self.ids = customer_ids(n)
        self.failing = {self.ids[i] for i in failing or set()}
        self.skipped = {self.ids[i] for i in skipped or set()}
        self.pages: list[dict[str, Any]] = []
        self.lanes: list[dict[str, Any]] = []

    def page(self, request: dict[str, Any]) -> Any:
        self.pages.append(request)
        offset = int(request["after"] or 0)
        size = request["page_size"]
        following = offset + size
        return succeeded(
            {
                "customer_ids": self.ids[offset:following],
                "next": str(following) if following < len(self.ids) else None,
            }
        )

    def bill(self, request: dict[str, Any]) -> Any:
        cid = request["customer_id"]
        if cid in self.failing:
            billed = CustomerBilled(
                run_id=RUN, customer_id=cid, outcome="failed", reason="issuing: 429"
            )
        elif cid in self.skipped:
            billed = CustomerBilled(
                run_id=RUN, customer_id=cid, outcome="skipped", reason="no Stripe customer"
            )
        else:
            billed = CustomerBilled(
                run_id=RUN,
                customer_id=cid,
                outcome="issued",
                total=eur(10000),
                margin=eur(1000),
                invoice_id=f"{cid}-2027-03",
            )
        return billed.model_dump(mode="json")

    def lane(self, request: dict[str, Any]) -> Any:
        """A lane as `billing_lane` runs it: each of its customers billed in turn."""
        self.lanes.append(request)
        billed = []
        for cid in request["customer_ids"]:
            one = self.bill({**request, "customer_id": cid})
            if isinstance(one, Exception):
                one = CustomerBilled(
                    run_id=RUN, customer_id=cid, outcome="failed", reason=f"lane: {one}"
                ).model_dump(mode="json")
            billed.append(one)
        return {"billed": billed}

    def outcomes(self, **overrides: Any) -> dict[str, Any]:
        steps: dict[str, Any] = {
            "list_due_customers": self.page,
            LANE.name: self.lane,
            "record_billing_run": lambda request: succeeded(request["report"]),
        }
        return steps | overrides


def bill(fake: FakeBook, **overrides: Any) -> Any:
    return drive(
        billing_run,
        fake.outcomes(**overrides),
        instance_id="billing-run-2027-03-d01",
        input={
            "period": "2027-03",
            "billing_day": 1,
            "partner_country": "NL",
            "page_size": 100,
            "in_flight": 10,
        },
    )


def test_each_page_of_the_book_is_one_episode_and_every_customer_is_billed_once():
    fake = FakeBook(250)
    result = bill(fake)
    assert [e.input.get("page", 0) for e in result.episodes] == [0, 1, 2]
    assert [len(e.calls) for e in result.episodes] == [11, 11, 12]  # page, lanes, (report)
    billed = sorted(c for lane in fake.lanes for c in lane["customer_ids"])
    assert billed == fake.ids


def test_a_page_is_dealt_round_robin_into_in_flight_lanes_run_at_once():
    fake = FakeBook(25)
    result = bill(fake)
    lanes = [c for c in result.calls if c.name == LANE.name]
    assert [c.instance_id for c in lanes][:2] == [
        "billing-run-2027-03-d01-p0-lane000",
        "billing-run-2027-03-d01-p0-lane001",
    ]
    assert len(lanes) == 10  # the cap: 10 customers in flight, one per lane
    assert lanes[0].input == {
        "run_id": RUN,
        "period": "2027-03",
        "partner_country": "NL",
        "customer_ids": ["cust-0000", "cust-0010", "cust-0020"],
    }
    assert result.context.yields.count("AllTask") == 1  # all lanes yielded together


def test_a_page_smaller_than_the_cap_has_a_lane_per_customer():
    fake = FakeBook(3)
    bill(fake)
    assert [lane["customer_ids"] for lane in fake.lanes] == [
        ["cust-0000"],
        ["cust-0001"],
        ["cust-0002"],
    ]


def lane_of(customer_ids: list[str]) -> dict[str, Any]:
    return {
        "run_id": RUN,
        "period": "2027-03",
        "partner_country": "NL",
        "customer_ids": customer_ids,
    }


def test_a_lane_bills_its_customers_one_after_another_one_orchestration_each():
    fake = FakeBook(3)
    result = drive(
        billing_lane,
        {CUSTOMER.name: fake.bill},
        instance_id="billing-run-2027-03-d01-p0-lane000",
        input=lane_of(fake.ids),
    )
    subs = [c for c in result.calls if c.name == CUSTOMER.name]
    assert [c.instance_id for c in subs] == [
        "billing-cust-0000-2027-03",
        "billing-cust-0001-2027-03",
        "billing-cust-0002-2027-03",
    ]
    assert subs[0].input == {
        "run_id": RUN,
        "period": "2027-03",
        "customer_id": "cust-0000",
        "partner_country": "NL",
    }
    assert "AllTask" not in result.context.yields  # one customer at a time
    assert [b["customer_id"] for b in result.output["billed"]] == fake.ids


def test_a_customer_orchestration_that_failed_is_reported_failed_and_its_lane_goes_on():
    from tests.orchestrator_driver import SubOrchestrationFailed

    fake = FakeBook(3)

    def flaky(request: dict[str, Any]) -> Any:
        if request["customer_id"] == "cust-0001":
            return SubOrchestrationFailed("Orchestrator function 'bill_customer' failed: boom")
        return fake.bill(request)

    result = drive(
        billing_lane,
        {CUSTOMER.name: flaky},
        instance_id="billing-run-2027-03-d01-p0-lane000",
        input=lane_of(fake.ids),
    )
    outcomes = [(b["customer_id"], b["outcome"]) for b in result.output["billed"]]
    assert outcomes == [
        ("cust-0000", "issued"),
        ("cust-0001", "failed"),
        ("cust-0002", "issued"),
    ]
    assert "billing orchestration" in result.output["billed"][1]["reason"]


def test_the_report_totals_per_currency_and_names_every_customer_not_billed():
    fake = FakeBook(12, failing={3}, skipped={7})
    report = BillingRunReport.model_validate(bill(fake).output)
    totals = report.totals
    assert report.complete and (report.run_id, report.pages) == (RUN, 1)
    assert (totals.customers, totals.issued, totals.failed_count, totals.skipped_count) == (
        12,
        10,
        1,
        1,
    )
    assert totals.totals == (eur(100000),) and totals.margins == (eur(10000),)
    assert [(s.customer_id, s.outcome, s.reason) for s in totals.skipped] == [
        ("cust-0003", "failed", "issuing: 429"),
        ("cust-0007", "skipped", "no Stripe customer"),
    ]
    assert report.started_at == T0 and report.finished_at > T0


def test_a_lane_that_failed_reports_its_customers_failed_and_the_other_lanes_count():
    from tests.orchestrator_driver import SubOrchestrationFailed

    fake = FakeBook(3)

    def broken(request: dict[str, Any]) -> Any:
        if request["customer_ids"] == ["cust-0001"]:
            return SubOrchestrationFailed("Orchestrator function 'billing_lane' failed: boom")
        return fake.lane(request)

    report = BillingRunReport.model_validate(bill(fake, **{LANE.name: broken}).output)
    assert report.totals.issued == 2
    (failed,) = report.totals.skipped
    assert failed.customer_id == "cust-0001" and "billing lane" in failed.reason


def test_a_book_that_cannot_be_read_ends_the_run_with_the_reason_on_its_report():
    result = bill(FakeBook(3), list_due_customers=retries_spent(DOWN))
    report = BillingRunReport.model_validate(result.output)
    assert not report.complete and "PaymentsUnavailable: slow down" in (report.error or "")
    assert [c.name for c in result.calls] == ["list_due_customers", "record_billing_run"]
    assert result.calls[-1].input["step_key"] == "billing-run-2027-03-d01/record-2027-03-d01"


# bill_customer ------------------------------------------------------------------------------
PLAN = plan_invoice(
    month.CONTOSO,
    month.SUBSCRIPTIONS["contoso"],
    month.list_prices("EUR"),
    month.CHANGES["contoso"],
    period="2027-03",
    partner_country="NL",
)
ASK = {"run_id": RUN, "period": "2027-03", "customer_id": "contoso", "partner_country": "NL"}
INSTANCE = "billing-contoso-2027-03"


def issued(request: dict[str, Any]) -> Any:
    plan = InvoicePlan.model_validate(request["plan"])
    return succeeded(
        CustomerBilled(
            run_id=request["run_id"],
            customer_id=plan.customer_id,
            outcome="issued",
            invoice_id=plan.invoice_id,
            stripe_invoice_id="in_123",
            status="paid",
            total=plan.total,
            margin=plan.margin,
        )
    )


def bill_one(planned: Any, **overrides: Any) -> Any:
    steps = {
        "plan_customer_invoice": planned,
        "issue_invoice": issued,
        "record_customer_billed": lambda request: succeeded(request["billed"]),
    } | overrides
    return drive(bill_customer, steps, instance_id=INSTANCE, input=ASK)


def test_a_customer_is_planned_issued_and_recorded_with_keys_from_customer_and_period():
    result = bill_one(
        succeeded({"plan": PLAN.model_dump(mode="json"), "stripe_customer_id": "cus_1"})
    )
    assert [c.name for c in result.calls] == [
        "plan_customer_invoice",
        "issue_invoice",
        "record_customer_billed",
    ]
    issue = result.calls[1]
    assert issue.input["step_key"] == f"{INSTANCE}/issue"
    assert issue.retry is RETRY_POLICIES["standard"]
    billed = CustomerBilled.model_validate(result.output)
    assert (billed.outcome, billed.total) == ("issued", Money(amount_minor=237838, currency="EUR"))
    assert result.calls[2].input["billed"] == result.output


def test_an_invoice_the_book_holds_already_is_not_issued_again():
    already = CustomerBilled(
        run_id="earlier", customer_id="contoso", outcome="already_issued", invoice_id="x"
    )
    result = bill_one(succeeded({"already": already.model_dump(mode="json")}))
    assert [c.name for c in result.calls] == ["plan_customer_invoice", "record_customer_billed"]
    assert result.output["outcome"] == "already_issued" and result.output["run_id"] == RUN


def test_nothing_to_bill_issues_nothing_and_lists_what_was_not_billed():
    empty = PLAN.model_copy(
        update={
            "lines": (),
            "subtotal": Money.zero("EUR"),
            "tax_total": Money.zero("EUR"),
            "total": Money.zero("EUR"),
            "not_billed": (NotBilled(subscription_id="s", reason="a trial is free"),),
            "tax": TaxTreatment(kind="untaxed", rate=Decimal(0)),
        }
    )
    result = bill_one(
        succeeded({"plan": empty.model_dump(mode="json"), "stripe_customer_id": "cus_1"})
    )
    assert "issue_invoice" not in [c.name for c in result.calls]
    assert result.output["outcome"] == "nothing_to_bill"
    assert result.output["not_billed"][0]["reason"] == "a trial is free"


def test_a_customer_that_cannot_be_billed_is_skipped_with_the_reason():
    result = bill_one(
        succeeded({"plan": PLAN.model_dump(mode="json"), "skip_reason": "no Stripe customer"})
    )
    assert result.output["outcome"] == "skipped" and result.output["reason"] == "no Stripe customer"
    assert "issue_invoice" not in [c.name for c in result.calls]


def test_stripe_down_past_the_retries_fails_the_customer_with_the_reason_and_records_it():
    result = bill_one(
        succeeded({"plan": PLAN.model_dump(mode="json"), "stripe_customer_id": "cus_1"}),
        issue_invoice=retries_spent(DOWN),
    )
    assert result.output["outcome"] == "failed"
    assert result.output["reason"] == (
        "issuing invoice contoso-2027-03: PaymentsUnavailable: slow down"
    )
    assert result.calls[-1].name == "record_customer_billed"


def test_a_plan_that_cannot_be_made_fails_the_customer_with_the_reason():
    result = bill_one(retries_spent(DOWN))
    assert result.output["outcome"] == "failed"
    assert result.output["reason"].startswith("planning the invoice:")


CONTACTS = [{"name": "Ada", "email": "ada@contoso.example", "role": "billing"}]


def issued_with_link(request: dict[str, Any]) -> Any:
    billed = issued(request)["value"]
    return succeeded({**billed, "hosted_invoice_url": "https://invoice.stripe.com/i/x"})


def test_the_invoice_notice_links_the_hosted_invoice_page_and_a_failed_one_is_reported():
    planned = succeeded(
        {
            "plan": PLAN.model_dump(mode="json"),
            "stripe_customer_id": "cus_1",
            "customer_name": "Contoso BV",
            "contacts": CONTACTS,
        }
    )
    result = bill_one(
        planned,
        issue_invoice=issued_with_link,
        send_notice=succeeded({"key": f"{INSTANCE}/notice", "kind": "invoice_issued"}),
    )
    assert [c.name for c in result.calls] == [
        "plan_customer_invoice",
        "issue_invoice",
        "send_notice",
        "record_customer_billed",
    ]
    notice = result.calls[2].input
    assert notice["step_key"] == f"{INSTANCE}/notice"
    assert notice["notice"]["kind"] == "invoice_issued"
    assert notice["notice"]["invoice_url"] == "https://invoice.stripe.com/i/x"
    assert (notice["notice"]["collection"], notice["notice"]["due_at"]) == ("charged", None)
    assert notice["notice"]["total"] == {"amount_minor": 237838, "currency": "EUR"}
    assert result.output["notified"] is True

    failed = bill_one(planned, issue_invoice=issued_with_link, send_notice=retries_spent(DOWN))
    assert (failed.output["outcome"], failed.output["notified"]) == ("issued", False)
