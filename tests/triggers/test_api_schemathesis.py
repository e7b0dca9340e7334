"""schemathesis against a live devhost serving function_app.py: every operation of
/api/openapi.json, with generated valid and invalid requests, answers no 5xx and nothing its
document does not describe (status, content type, headers, body schema); an undeclared method
is a 405 with `Allow`, a missing function key a 401.

The book is a real (empty) one on Azurite, so the read routes answer from storage; Partner
Center and Stripe are at the discard port. A request the schema allows is accepted, except
where a route's documented business rule refuses it for what the book holds (`BUSINESS_422`:
a market never imported, a customer a price list names that does not exist): those may also
answer 422.

Bounded on purpose (a few examples per operation): it checks that the document and the routes
agree, the kit's unit tests check the edge cases."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import unsupported_method

from devhost.azurite import Azurite
from tests.devhost.azurite_fixture import azurite_service
from tests.devhost.host_process import ROOT, HostProcess, running_host
from triggers.api import API
from triggers.api.routes import ALL_METHODS

__all__ = ["azurite_service"]

pytestmark = pytest.mark.slow

KEY = "function-key-for-schemathesis"
# No sandbox behind it: a started connectivity check or catalogue import fails its calls in
# the background, which is not what this test looks at.
DEAD = "http://127.0.0.1:9"
# Operations whose documented 422s are business rules about what the book holds, which no
# schema can express (docs/api.md): a schema-valid request may meet them.
BUSINESS_422 = {
    "get_catalog": "a market never imported, a currency it is not sold in or no list has, "
    "an unknown customer_id",
    "put_price_list": "a customer the book does not have, a price under Microsoft's cost",
    "request_licence_change": "the fields a change takes depend on its kind (quantity or "
    "change_by, exactly one; target_catalog_item_id for an upgrade only; auto_renew for an "
    "auto-renew change only), and the NCE rules refuse some outright (docs/licence-changes.md)",
    "decide_renewal": "only a change names the next term's quantity, offer, term or billing "
    "cycle, and a change names one of them (docs/renewals.md)",
    "decide_by_link": "the same rule as decide_renewal, for the link page's form",
    "place_order": "a domain taken, an offer not sold in the market or currency, a term or "
    "billing cycle it does not have, an unknown customer, a custom term end date not allowed",
}
REQUEST_LINE_BYTES = 8000  # under aiohttp's 8190, with room for the method and the key
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


@pytest.fixture(scope="module")
def live_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    env = {
        "TASKHUB_NAME": "apischema",
        "DEVHOST_FUNCTION_KEY": KEY,
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_TABLE_PREFIX": f"s{uuid.uuid4().hex[:16]}",
        "CSPFLOW_STRIPE_API_BASE": DEAD,
        "CSPFLOW_PARTNER_CENTER_BASE_URL": DEAD,
        "CSPFLOW_PARTNER_CENTER_AUTHORITY": DEAD,
        "CSPFLOW_PARTNER_CENTER_PRICING_BASE_URL": DEAD,
    }
    state = tmp_path_factory.mktemp("devhost-state")
    with running_host(ROOT, "--enable-auth", "--state-dir", str(state), env=env) as host:
        yield host


# The cases are generated from the route table's document at collection (schemathesis's lazy
# fixture loader does not run on pytest 9); the first test checks the live host serves
# exactly this document at /api/openapi.json.
DOCUMENT = API.document()
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-operation-id": operation,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            }
            for operation in BUSINESS_422
        ]
    }
)
# A list's `next` is opaque (docs/api.md): the only cursor a client can make up is none, so
# valid cases start from the first page ("" is "no cursor"); invalid ones are made up and
# must be a 400 naming `next`. The served document stays as it is (see the first test).
CURSOR_FORMAT = "cspflow-opaque-cursor"
schemathesis.openapi.format(CURSOR_FORMAT, st.just(""))


def _with_opaque_cursors(document: dict[str, Any]) -> dict[str, Any]:
    marked = copy.deepcopy(document)
    for item in marked["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] == "next":
                    parameter["schema"]["format"] = CURSOR_FORMAT
    return marked


schema = schemathesis.openapi.from_dict(_with_opaque_cursors(DOCUMENT), config=CONFIG)


def test_the_live_host_serves_the_document_with_a_key_only(live_host: HostProcess) -> None:
    url = f"{live_host.url}/api/openapi.json"
    assert requests.get(url, timeout=10).status_code == 401
    answer = requests.get(url, headers={"x-functions-key": KEY}, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_documented_contract(case: Any, live_host: HostProcess) -> None:
    # TRACE (and QUERY, CONNECT...) never reach a function: the Functions programming model
    # binds only func.HttpMethod's seven, so the host answers the others 404 itself.
    excluded = [unsupported_method] if case.method.upper() not in ALL_METHODS else []
    # A request line longer than the HTTP server reads (devhost's aiohttp: 8190 bytes) is
    # refused by the server before any function runs, as the Functions host does with its own
    # URL limits: not the API's answer. Such cases come from strings made longer than the
    # document allows (a `next` of 2048 characters, each percent-encoded to up to 12 bytes).
    query = urlencode(case.query or {}, doseq=True)
    assume(len(case.formatted_path) + len(query) < REQUEST_LINE_BYTES)
    # A path id holding a control character (a newline, percent-encoded) is refused by the
    # HTTP server before any function runs, as the Functions host refuses it: not the API's
    # answer either.
    assume(not any(ord(ch) < 32 for ch in unquote(case.formatted_path)))
    case.call_and_validate(
        base_url=live_host.url,
        headers={"x-functions-key": KEY},
        excluded_checks=excluded,
        timeout=30,
    )
