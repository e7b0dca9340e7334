"""schemathesis against a live devhost serving function_app.py: every operation of
/api/openapi.json, with generated valid and invalid requests, answers no 5xx and nothing its
document does not describe (status, content type, headers, body schema); an undeclared method
is a 405 with `Allow`, a missing function key a 401.

Bounded on purpose (a few examples per operation): it checks that the document and the routes
agree, the kit's unit tests check the edge cases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from devhost.azurite import Azurite
from tests.devhost.host_process import ROOT, HostProcess, running_host
from triggers.api import API
from triggers.api.routes import ALL_METHODS

pytestmark = pytest.mark.slow

KEY = "function-key-for-schemathesis"
# No sandbox behind it: a started connectivity check fails its probes in the background,
# which is not what this test looks at.


@pytest.fixture(scope="module")
def live_host(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[HostProcess]:
    # A real (empty) book: the routes that read it answer 404s and empty pages, as in
    # production; a storage outage's 503 is tested in tests/triggers/api.
    env = {
        "TASKHUB_NAME": "apischema",
        "DEVHOST_FUNCTION_KEY": KEY,
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_TABLE_PREFIX": f"schema{uuid4().hex[:12]}",
        "CSPFLOW_STRIPE_API_BASE": "http://127.0.0.1:9",
        "CSPFLOW_PARTNER_CENTER_BASE_URL": "http://127.0.0.1:9",
    }
    state = tmp_path_factory.mktemp("devhost-state")
    with running_host(ROOT, "--enable-auth", "--state-dir", str(state), env=env) as host:
        yield host


# The cases are generated from the route table's document at collection (schemathesis's lazy
# fixture loader does not run on pytest 9); the first test checks the live host serves
# exactly this document at /api/openapi.json.
DOCUMENT = API.document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


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
    # A paged list's `next` is an opaque, signed cursor: any string fits its schema, and only
    # the ones the API issued are accepted (docs/api.md, "Lists"): a made-up one is a 400 by
    # design, not a schema-valid request wrongly refused.
    if case.query and "next" in case.query:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(
        base_url=live_host.url,
        headers={"x-functions-key": KEY},
        excluded_checks=excluded,
        timeout=30,
    )
