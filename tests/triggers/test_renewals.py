"""The decision link's page as the worker's callable (triggers/renewals.py) on a real book in
Azurite: a good link shows its renewal; a tampered, expired, reused, mis-scoped or foreign
link gets a clear page and nothing of any renewal (docs/renewals.md, "Decision links"). And
the sweep's window: the largest reminder offset plus the 48 h to the term end and a day."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import jwt
import pytest

from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings
from shared.models import SubscriptionRecord
from shared.models.renewal import DecisionRequest, Renewal
from shared.renewals import id_of, record_decision, rules_of
from shared.signed_links import LinkClaims, sign
from tests.app_functions import user_function
from tests.devhost.azurite_fixture import azurite_service
from tests.shared.book.records import customer, subscription
from triggers.renewals import sweep, window_days

__all__ = ["azurite_service"]

NOW = datetime.now(UTC).replace(microsecond=0)
TERM_END = (NOW + timedelta(days=40)).replace(hour=0, minute=0, second=0)
KEY = "link-test-key-0123456789abcdef-0123456789"


@pytest.fixture
def settings(azurite: Azurite, configure: Callable[..., Settings]) -> Settings:
    return configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"r{uuid.uuid4().hex[:16]}",
        CSPFLOW_LINK_SIGNING_KEY=KEY,
    )


@pytest.fixture
def renewals(settings: Settings) -> dict[str, Renewal]:
    """Two customers' renewals, one each."""
    book = Book(settings)
    made = {}
    for cid, sid in (("c-1", "sub-1"), ("c-2", "sub-2")):
        book.customers.add(customer(cid))
        book.subscriptions.add(
            SubscriptionRecord(customer_id=cid, subscription=subscription(sid, term_end=TERM_END))
        )
        made[cid] = book.renewals.open(
            Renewal(customer_id=cid, subscription_id=sid, term_end=TERM_END)
        ).record
    return made


def link(settings: Settings, renewal: Renewal, **claims: Any) -> str:
    values: dict[str, Any] = {
        "action": "renewal-decision",
        "subject_id": id_of(renewal),
        "customer_id": renewal.customer_id,
        "link_id": "renewal-x/reminder-30d",
        "expires_at": TERM_END - timedelta(hours=24),
    } | claims
    return sign(settings, LinkClaims(**values), NOW)


def open_link(token: str, accept: str = "application/json") -> tuple[int, Any, str]:
    request = func.HttpRequest(
        "GET",
        f"http://127.0.0.1/api/r/{token}",
        body=b"",
        route_params={"token": token},
        headers={"accept": accept},
    )
    response = user_function("open_decision_link")(request)
    body = response.get_body().decode()
    return response.status_code, body, response.mimetype


def test_a_good_link_shows_its_renewal_and_the_choices(settings, renewals):
    status, body, _ = open_link(link(settings, renewals["c-1"]))
    page = json.loads(body)
    assert status == 200 and page["ok"] is True
    assert page["renewal"]["subscription_id"] == "sub-1"
    assert page["renewal"]["decision_deadline"].startswith(
        (TERM_END - timedelta(hours=48)).date().isoformat()
    )
    assert page["choices"] == ["renew", "change", "cancel"]


def test_a_browser_gets_the_page_as_html(settings, renewals):
    status, body, mimetype = open_link(link(settings, renewals["c-1"]), accept="text/html")
    assert status == 200 and mimetype == "text/html"
    assert "<form method='post'>" in body and "<h1>Microsoft 365 Business Basic</h1>" in body


def tampered(settings: Settings, renewals: dict[str, Renewal]) -> str:
    header, payload, signature = link(settings, renewals["c-1"]).split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = id_of(renewals["c-2"])
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


def other_key(settings: Settings, renewals: dict[str, Renewal]) -> str:
    return jwt.encode(
        {
            "aud": "renewal-decision",
            "sub": id_of(renewals["c-1"]),
            "cus": "c-1",
            "jti": "x",
            "exp": int((TERM_END).timestamp()),
        },
        "somebody-elses-key-0123456789abcdef-0123456789",
        algorithm="HS256",
    )


def unsigned(settings: Settings, renewals: dict[str, Renewal]) -> str:
    claims = {"aud": "renewal-decision", "sub": id_of(renewals["c-1"]), "cus": "c-1", "exp": 2**31}
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (tampered, "tampered"),
        (other_key, "tampered"),
        (unsigned, "tampered"),
        (lambda s, r: link(s, r["c-1"], expires_at=NOW - timedelta(seconds=1)), "expired"),
        # a link naming customer c-1 for c-2's renewal: never c-2's data
        (lambda s, r: link(s, r["c-2"], customer_id="c-1"), "not_yours"),
        (lambda s, r: link(s, r["c-1"], subject_id="sub-9~20300101"), "not_yours"),
        (lambda s, r: "not-a-token-at-all-but-long-enough", "malformed"),
    ],
)
def test_a_bad_link_gets_a_clear_page_and_nothing_of_any_renewal(settings, renewals, make, refusal):
    status, body, _ = open_link(make(settings, renewals))
    page = json.loads(body)
    assert status == 200 and page["ok"] is False and page["refusal"] == refusal
    assert page["renewal"] is None and "sub-" not in body


def test_a_link_used_for_a_decision_is_refused_the_second_time(settings, renewals):
    book = Book(settings)
    book.renewals.update(
        "sub-1",
        TERM_END,
        lambda r: Renewal.model_validate(
            r.model_dump()
            | {
                "decision": "turn_off_auto_renew",
                "decided_at": NOW,
                "decided_by": "customer",
                "used_links": ("renewal-x/reminder-30d",),
            }
        ),
    )
    _, body, _ = open_link(link(settings, renewals["c-1"]))
    assert json.loads(body)["refusal"] == "used"
    # a newer reminder's link still opens it (to see, or change, the decision)
    _, body, _ = open_link(link(settings, renewals["c-1"], link_id="renewal-x/reminder-7d"))
    assert json.loads(body)["renewal"]["decision"] == "turn_off_auto_renew"


def test_the_sweep_looks_as_far_as_the_earliest_reminder_and_a_day_more(settings):
    # 60 days before a deadline 2 days before the term end, and a day of slack
    assert window_days() == 63


class FakeDurable:
    """The Durable client as the sweep uses it: instances by id."""

    def __init__(self) -> None:
        self.started: dict[str, Any] = {}

    async def get_status(self, instance_id: str) -> Any:
        class Status:
            runtime_status = "Running" if instance_id in self.started else None

        return Status()

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        assert name == "renewal" and instance_id not in self.started
        self.started[instance_id] = data
        return instance_id


def test_a_sweep_starts_one_renewal_per_due_term_and_a_second_sweep_starts_nothing(settings):
    book = Book(settings)
    book.customers.add(customer("c-9"))
    ends = {
        "sub-soon": NOW + timedelta(days=10),
        "sub-window": NOW + timedelta(days=62),
        "sub-later": NOW + timedelta(days=90),  # not due yet: the next sweeps find it
    }
    for sid, end in ends.items():
        book.subscriptions.add(
            SubscriptionRecord(customer_id="c-9", subscription=subscription(sid, term_end=end))
        )
    client = FakeDurable()
    first = asyncio.run(sweep(client, book, NOW))
    mine = {iid for iid in client.started if "sub-soon" in iid or "sub-window" in iid}
    assert mine == {
        f"renewal-sub-soon-{ends['sub-soon']:%Y%m%d}",
        f"renewal-sub-window-{ends['sub-window']:%Y%m%d}",
    }
    assert not any("sub-later" in iid for iid in client.started)
    second = asyncio.run(sweep(client, book, NOW + timedelta(hours=3)))
    assert first.started >= 2 and second.started == 0 and second.already == first.due
    # a sweep after 30 days of downtime catches up: the later term is now in its window
    later = asyncio.run(sweep(client, book, NOW + timedelta(days=30)))
    assert later.started == 1 and any("sub-later" in iid for iid in client.started)


def test_a_customer_whose_own_reminders_reach_further_has_its_terms_swept_that_far_ahead(
    settings,
):
    # docs/rules.md#reminder-cadence: offsets per customer. A 90-day reminder when the
    # partner's earliest is 60 days: the sweep reaches that customer's terms 93 days ahead.
    book = Book(settings)
    book.customers.add(customer("c-far").model_copy(update={"renewal_reminder_days": (90, 14)}))
    book.customers.add(customer("c-near"))
    for cid, sid, days in (
        ("c-far", "sub-far-80", 80),
        ("c-far", "sub-far-120", 120),  # beyond even its own window: a later sweep
        ("c-near", "sub-near-80", 80),  # the partner's window: not yet
    ):
        book.subscriptions.add(
            SubscriptionRecord(
                customer_id=cid, subscription=subscription(sid, term_end=NOW + timedelta(days=days))
            )
        )
    client = FakeDurable()
    report = asyncio.run(sweep(client, book, NOW))
    swept = {iid.rsplit("-", 1)[0] for iid in client.started}
    assert "renewal-sub-far-80" in swept
    assert not swept & {"renewal-sub-far-120", "renewal-sub-near-80"}
    again = asyncio.run(sweep(client, book, NOW + timedelta(hours=1)))
    assert report.started >= 1 and again.started == 0


def test_a_decision_after_the_lock_is_refused_with_the_next_action_and_changes_nothing(
    settings, renewals
):
    book = Book(settings)
    record = book.subscriptions.get("c-1", "sub-1").record
    rules = rules_of(settings)
    late = TERM_END - timedelta(hours=12)  # inside the 24 h lock
    answer, kept = record_decision(
        book, renewals["c-1"], record, DecisionRequest(choice="cancel"),
        by="customer", now=late, rules=rules,
    )  # fmt: skip
    assert not answer.accepted and answer.rule == "renewal-lock"
    assert answer.next_action is not None and "7-day" in answer.next_action
    assert answer.next_action_until == TERM_END + timedelta(hours=24 + 168)
    assert book.renewals.get("sub-1", TERM_END).record.decision is None and kept.decision is None
    # in the last 24 h before the lock it is still taken, and recorded
    answer, taken = record_decision(
        book, renewals["c-1"], record, DecisionRequest(choice="change", quantity=2),
        by="partner", now=TERM_END - timedelta(hours=30), rules=rules,
    )  # fmt: skip
    assert answer.accepted and taken.decision == "renew_with_changes"
    assert taken.change is not None and taken.change.quantity == 2 and taken.decisions == 1


# -- the link page's form ---------------------------------------------------------------------


def form_call(body: str) -> Any:
    from triggers.api import API, Call

    req = func.HttpRequest(
        "POST",
        "http://localhost/api/r/t",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=body.encode(),
    )
    route = next(r for r in API.routes if r.name == "decide_by_link")
    return Call(req=req, route=route, body=None, raw=body.encode())


@pytest.mark.parametrize(
    ("form", "status", "field"),
    [
        ("choice=renew&billing_cycle=annual", 422, "choice"),  # only a change names one
        ("choice=change", 422, "choice"),  # a change names something
        ("choice=change&quantity=abc", 400, "quantity"),  # a form's number is digits
        ("choice=later", 400, "choice"),
    ],
)
def test_a_form_that_cannot_be_a_decision_is_refused_naming_the_field(form, status, field):
    from triggers.api import ApiProblem
    from triggers.renewals import _read_choice

    with pytest.raises(ApiProblem) as refused:
        _read_choice(form_call(form))
    assert refused.value.status == status
    assert refused.value.errors[0].field == field


def test_a_form_with_empty_fields_reads_as_the_decision_it_names():
    from triggers.renewals import _read_choice

    taken = _read_choice(form_call("choice=change&quantity=3&offer_id=&billing_cycle="))
    assert taken == DecisionRequest(choice="change", quantity=3)


# -- a customer's own reminder offsets ------------------------------------------------------


def put_reminders(customer_id: str, body: Any) -> tuple[int, Any]:
    request = func.HttpRequest(
        "PUT",
        f"http://127.0.0.1/api/customers/{customer_id}/renewal-reminders",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        route_params={"customer_id": customer_id},
    )
    response: func.HttpResponse = user_function("set_renewal_reminders")(request)
    return response.status_code, json.loads(response.get_body() or b"null")


def test_a_customers_own_reminder_offsets_are_set_through_the_api_and_cleared_with_null(
    settings, renewals
):
    # docs/rules.md#reminder-cadence: offsets configurable per partner and per customer
    status, body = put_reminders("c-1", {"days": [10, 90, 45]})
    assert status == 200, body
    assert (body["days"], body["in_force"]) == ([90, 45, 10], [90, 45, 10])
    book = Book(settings)
    assert book.customers.get("c-1").record.renewal_reminder_days == (90, 45, 10)
    assert book.customers.get("c-2").record.renewal_reminder_days is None  # only c-1's
    status, body = put_reminders("c-1", {"days": None})
    assert status == 200 and body["days"] is None and body["in_force"] == [60, 30, 7]
    assert book.customers.get("c-1").record.renewal_reminder_days is None


@pytest.mark.parametrize(
    "body",
    [
        {"days": [0]},  # before the deadline, at least a day
        {"days": [400]},  # within a year
        {"days": [30, 30]},  # each day once
        {"days": [90, 60, 45, 30, 14, 7, 1]},  # six at most
        {"days": []},
        {"days": ["soon"]},
        {},  # say null to restore the partner's
    ],
)
def test_bad_reminder_offsets_are_refused_naming_the_field_and_change_nothing(
    settings, renewals, body
):
    status, problem = put_reminders("c-1", body)
    assert status in (400, 422), problem
    assert problem["errors"][0]["field"].startswith("days"), problem
    assert Book(settings).customers.get("c-1").record.renewal_reminder_days is None


def test_reminder_offsets_for_an_unknown_customer_are_a_404(settings, renewals):
    status, problem = put_reminders("nobody", {"days": [30]})
    assert status == 404 and problem["errors"][0]["field"] == "customer_id"
