"""The stack is really wired: a storefront's request reaches every system, one clock rules
devhost and both sandboxes, and what a test writes in a sandbox is what the app reads."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest
import requests

from sandbox.partner_center.inprocess import new_customer
from shared.models.connectivity import PartnerCenterProbe, StripeProbe
from tests.e2e.harness import LocalStack, Namespace
from triggers.ops import check_instance_id

pytestmark = pytest.mark.e2e

CHECKS = "/api/ops/connectivity-checks"


def follow(stack: LocalStack, status_url: str, timeout_s: float = 60) -> requests.Response:
    """GET the status link as a storefront does (it carries its own key) until it is no
    longer 202."""
    deadline = time.monotonic() + timeout_s
    while (resp := stack.api("GET", status_url, key=None)).status_code == 202:
        assert time.monotonic() < deadline, resp.text
        time.sleep(0.05)
    return resp


def fresh_check(stack: LocalStack) -> dict[str, Any]:
    """A new connectivity check, run to its end; its finished status.

    The trigger collapses every POST of one UTC minute onto one instance (read on the stack's
    clock), so an earlier test's check of this minute is purged first."""
    stack.purge(check_instance_id(stack.now()))
    started = stack.api("POST", CHECKS)
    assert started.status_code == 202, started.text
    return stack.wait_for_instance(started.json()["id"], "Completed")


def detail(status: dict[str, Any], check: str) -> str:
    line = next(c for c in status["output"]["checks"] if c["name"] == check)
    assert line["ok"], status
    text: str = line["detail"]
    return text


def test_a_connectivity_check_posted_over_http_completes_with_every_system_ok(
    stack: LocalStack, ns: Namespace
):
    # A customer of this test's own in Partner Center, made with the app's client.
    stack.partner_center.create_customer(
        new_customer(ns.domain_prefix()), request_id=ns.request_id("create-customer")
    )
    stack.purge(check_instance_id(stack.now()))
    assert stack.api("POST", CHECKS, key=None).status_code == 401  # keys are enforced

    started = stack.api("POST", CHECKS)

    assert started.status_code == 202, started.text
    links = started.json()
    assert started.headers["Location"] == links["statusQueryGetUri"]
    done = follow(stack, links["statusQueryGetUri"])
    assert done.status_code == 200, done.text
    status = done.json()
    assert status["runtimeStatus"] == "Completed", status
    report = status["output"]
    assert report["ok"], report
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("partner_center", True),
        ("stripe", True),
        ("storage", True),
    ]
    assert status["customStatus"] == {"state": "done", "ok": True, "failed": []}
    since = ns.started_at.replace(microsecond=0)
    assert links["id"] in {i["instanceId"] for i in stack.instances(created_from=since)}
    # The report is the orchestration's, in the stack's (virtual) time.
    assert datetime.fromisoformat(report["started_at"]) >= ns.started_at
    # The app read the sandbox this test wrote to: its first page holds that customer.
    page = PartnerCenterProbe().page_size
    seen = len(list(islice(stack.partner_center.list_customers(page_size=page), page)))
    assert seen >= 1
    assert detail(status, "partner_center").endswith(f"{seen} customer(s) on the first page")


def test_thirty_days_on_the_shared_clock_are_thirty_days_for_devhost_and_both_sandboxes(
    stack: LocalStack, ns: Namespace
):
    before = stack.now()

    moved = stack.advance(timedelta(days=30))

    a_minute = timedelta(minutes=1)  # nothing waits on the clock, so nothing jumps it
    assert timedelta(days=30) <= moved - before < timedelta(days=30) + a_minute
    assert moved <= stack.now() < moved + a_minute
    # Partner Center: its own clock, as its admin API reports it.
    pc_now = datetime.fromisoformat(stack.partner_center_state()["now"])
    assert moved <= pc_now < moved + a_minute
    # Stripe: the time it stamps on what it creates (whole seconds).
    customer = stack.stripe.v1.customers.create(
        {"name": ns.company("Clockwork"), "email": ns.email(), "metadata": ns.metadata}
    )
    created = datetime.fromtimestamp(customer.created, UTC)
    assert moved - timedelta(seconds=1) <= created < moved + a_minute
    # And the app's orchestrations run on it too.
    report = fresh_check(stack)["output"]
    assert moved <= datetime.fromisoformat(report["started_at"]) < moved + a_minute


def test_a_customer_created_in_the_stripe_sandbox_is_in_the_apps_own_read(
    stack: LocalStack, ns: Namespace
):
    page = StripeProbe().page_size
    before = len(stack.stripe.v1.customers.list({"limit": page}).data)
    first = fresh_check(stack)
    assert detail(first, "stripe").endswith(f"{before} customer(s) on the first page")

    stack.stripe.v1.customers.create(
        {"name": ns.company("Fresh Co"), "email": ns.email(), "metadata": ns.metadata}
    )

    after = len(stack.stripe.v1.customers.list({"limit": page}).data)
    # Other e2e tests on this stack add customers too; a full first page could not grow.
    assert after == min(before + 1, page)
    second = fresh_check(stack)
    assert detail(second, "stripe").endswith(f"{after} customer(s) on the first page")


def test_the_mail_sandbox_answers_once_it_is_in_the_checkout(stack: LocalStack):
    inbox = stack.mail  # skips this test while `python -m sandbox mail` does not exist
    assert requests.get(inbox, timeout=10).status_code < 500


def test_the_apps_triggers_read_the_stacks_virtual_clock(stack: LocalStack):
    """devhost tells the app where its virtual clock is (DEVHOST_CLOCK_URL): the check's id
    names the stack's minute, not the wall clock's."""
    stack.advance(timedelta(days=3))
    expected = check_instance_id(stack.now())
    stack.purge(expected)
    started = stack.api("POST", CHECKS)
    assert started.json()["id"] in {expected, check_instance_id(stack.now())}
    assert started.json()["id"] != check_instance_id(datetime.now(UTC))
