"""The Durable management API, driven by the real DurableOrchestrationClient and by plain HTTP.

Statuses and bodies follow the Durable extension's HttpApiHandler
(github.com/Azure/azure-functions-durable-extension, src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs;
Microsoft Learn,
https://learn.microsoft.com/en-us/azure/azure-functions/durable/durable-functions-http-api):
202 + Location while running, 200 when finished, 404 for an unknown instance, 410 for an
operation on a finished one, 400 for bad arguments.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
import requests
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from tests.devhost.host_process import FRONT_APPS, HostProcess, app_copy, running_host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = app_copy(FRONT_APPS / "web", tmp_path_factory.mktemp("mgmt") / "app", {"HUB": "MgmtHub"})
    with running_host(app) as running:
        yield running


@pytest.fixture(scope="module")
def binding_json(host: HostProcess) -> str:
    """The durable client binding as the host handed it to an HTTP function."""
    return requests.get(f"{host.url}/api/binding", timeout=10).text


# The SDK keeps one aiohttp session per process, bound to the loop of its first call: the
# client calls of these tests share one loop, as a worker's do.
_LOOP = asyncio.new_event_loop()


def client_call(binding: str, method: str, *args: Any, **kwargs: Any) -> Any:
    async def call() -> Any:
        client = df.DurableOrchestrationClient(binding)
        return await getattr(client, method)(*args, **kwargs)

    return _LOOP.run_until_complete(call())


def wait_status(
    host: HostProcess, instance_id: str, wanted: str, timeout_s: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = requests.get(
            f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}", timeout=10
        )
        if resp.status_code in (200, 202) and resp.json()["runtimeStatus"] == wanted:
            doc: dict[str, Any] = resp.json()
            return doc
        assert time.monotonic() < deadline, f"{instance_id} never became {wanted}: {resp.text}"
        time.sleep(0.05)


def test_the_binding_points_the_client_at_the_rpc_listener_and_the_webhooks(host, binding_json):
    doc = json.loads(binding_json)
    assert doc["taskHubName"] == "MgmtHub"
    assert doc["rpcBaseUrl"].startswith("http://127.0.0.1:") and doc["rpcBaseUrl"].endswith(
        "/durabletask/"
    )
    assert doc["managementUrls"]["statusQueryGetUri"] == (
        f"{host.url}/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=MgmtHub&connection=Storage"
    )


def test_the_client_starts_an_orchestration_and_reads_its_status(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "chain", None, "Ada")
    assert len(instance_id) == 32
    wait_status(host, instance_id, "Completed")
    status = client_call(binding_json, "get_status", instance_id, show_input=True)
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert status.output == "Hello Hello Ada!!"
    # The Python client double-encodes its input; the status shows the string it sent.
    assert status.input_ == '"Ada"'
    assert status.name == "chain"


def test_starting_an_unknown_orchestrator_raises_the_extensions_message(binding_json):
    with pytest.raises(
        Exception, match="The function 'nope' doesn't exist, is disabled, or is not an orchestrator"
    ):
        client_call(binding_json, "start_new", "nope")


def test_an_active_instance_id_cannot_be_started_twice(host, binding_json):
    instance_id = f"approval-{uuid.uuid4().hex}"
    assert client_call(binding_json, "start_new", "approval", instance_id) == instance_id
    wait_status(host, instance_id, "Running")
    with pytest.raises(Exception, match=r"already exists and is Running"):
        client_call(binding_json, "start_new", "approval", instance_id)
    client_call(binding_json, "terminate", instance_id, "cleanup")


def test_raise_event_from_the_client_delivers_the_json_text_as_the_extension_does(
    host, binding_json
):
    instance_id = client_call(binding_json, "start_new", "approval")
    status = wait_status(host, instance_id, "Running")
    assert status["customStatus"] == "waiting for approval"
    client_call(binding_json, "raise_event", instance_id, "Approval", {"ok": True})
    done = wait_status(host, instance_id, "Completed")
    # Known SDK quirk (azure-functions-durable-python#295): the event arrives as a string.
    assert done["output"] == {"decision": '{"ok": true}'}


def test_raise_event_over_the_webhook_delivers_the_raw_json(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "approval")
    wait_status(host, instance_id, "Running")
    resp = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/Approval",
        json={"ok": True},
        timeout=10,
    )
    assert resp.status_code == 202
    assert wait_status(host, instance_id, "Completed")["output"] == {"decision": {"ok": True}}
    gone = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/Approval",
        json=1,
        timeout=10,
    )
    assert gone.status_code == 410


def test_raise_event_needs_a_json_content_type(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "approval")
    resp = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/Approval",
        data="yes",
        headers={"content-type": "text/plain"},
        timeout=10,
    )
    assert resp.status_code == 400
    assert "application/json" in resp.json()["ExceptionMessage"]
    client_call(binding_json, "terminate", instance_id, "cleanup")


def test_terminate_records_the_reason_as_output(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "approval")
    wait_status(host, instance_id, "Running")
    client_call(binding_json, "terminate", instance_id, "customer cancelled")
    status = wait_status(host, instance_id, "Terminated")
    assert status["output"] == "customer cancelled"
    again = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/terminate?reason=x",
        timeout=10,
    )
    assert again.status_code == 410


def test_suspend_holds_events_until_resume(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "approval")
    control = client_call(binding_json, "start_new", "approval")
    wait_status(host, instance_id, "Running")
    wait_status(host, control, "Running")
    client_call(binding_json, "suspend", instance_id, "maintenance")
    wait_status(host, instance_id, "Suspended")
    events = f"{host.url}/runtime/webhooks/durabletask/instances/{{}}/raiseEvent/Approval"
    assert requests.post(events.format(instance_id), json="later", timeout=10).status_code == 202
    assert requests.post(events.format(control), json="now", timeout=10).status_code == 202
    # Once an event raised after the held one has been handled, the held one had its chance.
    assert wait_status(host, control, "Completed")["output"] == {"decision": "now"}
    assert wait_status(host, instance_id, "Suspended")["output"] is None
    client_call(binding_json, "resume", instance_id, "done")
    assert wait_status(host, instance_id, "Completed")["output"] == {"decision": "later"}


def test_a_failed_orchestration_reports_why_and_can_answer_500(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "fails")
    status = wait_status(host, instance_id, "Failed")
    assert "the activity exploded" in json.dumps(status["output"])
    url = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}"
    assert requests.get(url, timeout=10).status_code == 200
    assert (
        requests.get(
            url, params={"returnInternalServerErrorOnFailure": "true"}, timeout=10
        ).status_code
        == 500
    )


def test_status_flags_add_history_and_leave_out_input(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "chain", None, "Bo")
    wait_status(host, instance_id, "Completed")
    url = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}"
    plain = requests.get(url, params={"showInput": "False"}, timeout=10).json()
    assert "historyEvents" not in plain and plain["input"] is None
    full = requests.get(
        url, params={"showHistory": "True", "showHistoryOutput": "True"}, timeout=10
    ).json()
    kinds = [e["EventType"] for e in full["historyEvents"]]
    assert kinds == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    assert full["historyEvents"][1]["Result"] == '"Hello Bo!"'
    status = client_call(binding_json, "get_status", instance_id, True, True, True)
    assert len(status.historyEvents) == 4


def test_unknown_instances_are_404_and_an_empty_client_status(host, binding_json):
    url = f"{host.url}/runtime/webhooks/durabletask/instances/no-such-instance"
    resp = requests.get(url, timeout=10)
    assert (resp.status_code, resp.content) == (404, b"")
    assert not client_call(binding_json, "get_status", "no-such-instance")
    assert requests.post(f"{url}/terminate?reason=x", timeout=10).status_code == 404


def test_listing_filters_by_prefix_and_status_and_pages_with_continuation_tokens(
    host, binding_json
):
    prefix = f"list-{uuid.uuid4().hex[:8]}-"
    for n in range(3):
        client_call(binding_json, "start_new", "chain", f"{prefix}{n}", "x")
    for n in range(3):
        wait_status(host, f"{prefix}{n}", "Completed")
    url = f"{host.url}/runtime/webhooks/durabletask/instances/"
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers: dict[str, str] = {"x-ms-continuation-token": token} if token else {}
        resp = requests.get(
            url, params={"instanceIdPrefix": prefix, "top": "2"}, headers=headers, timeout=10
        )
        assert resp.status_code == 200
        seen += [s["instanceId"] for s in resp.json()]
        pages += 1
        token = resp.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert (sorted(seen), pages) == ([f"{prefix}{n}" for n in range(3)], 2)
    by_client = client_call(
        binding_json, "get_status_by", None, None, [OrchestrationRuntimeStatus.Completed], prefix
    )
    assert sorted(s.instance_id for s in by_client) == sorted(seen)
    running = requests.get(
        url, params={"instanceIdPrefix": prefix, "runtimeStatus": "Running"}, timeout=10
    )
    assert running.json() == []
    everything = client_call(binding_json, "get_status_all")
    assert set(seen) <= {s.instance_id for s in everything}
    bad = requests.get(url, params={"runtimeStatus": "Sleeping"}, timeout=10)
    assert bad.status_code == 400


def test_listing_filters_by_created_time_from_the_client_and_over_http(host, binding_json):
    prefix = f"created-{uuid.uuid4().hex[:8]}-"
    before = datetime.now(UTC) - timedelta(seconds=1)
    client_call(binding_json, "start_new", "chain", f"{prefix}0", "t")
    wait_status(host, f"{prefix}0", "Completed")
    after = datetime.now(UTC) + timedelta(seconds=1)

    def listed(created_from: datetime | None, created_to: datetime | None) -> list[str]:
        found = client_call(binding_json, "get_status_by", created_from, created_to, None, prefix)
        return [s.instance_id for s in found]

    assert listed(before, after) == [f"{prefix}0"]
    assert listed(after, None) == []
    assert listed(None, before) == []
    url = f"{host.url}/runtime/webhooks/durabletask/instances/"
    window = {"instanceIdPrefix": prefix, "createdTimeFrom": before.isoformat()}
    assert [s["instanceId"] for s in requests.get(url, params=window, timeout=10).json()] == [
        f"{prefix}0"
    ]
    bad = requests.get(url, params={"createdTimeFrom": "yesterday"}, timeout=10)
    assert bad.status_code == 400
    assert "createdTimeFrom" in bad.json()["ExceptionMessage"]


def test_purge_one_and_many(host, binding_json):
    first = client_call(binding_json, "start_new", "chain", None, "p")
    wait_status(host, first, "Completed")
    result = client_call(binding_json, "purge_instance_history", first)
    assert result.instances_deleted == 1
    assert (
        requests.get(
            f"{host.url}/runtime/webhooks/durabletask/instances/{first}", timeout=10
        ).status_code
        == 404
    )
    assert client_call(binding_json, "purge_instance_history", first).instances_deleted == 0

    since = datetime.now(UTC) - timedelta(seconds=1)
    ids = [client_call(binding_json, "start_new", "chain", None, "q") for _ in range(2)]
    for instance_id in ids:
        wait_status(host, instance_id, "Completed")
    many = client_call(
        binding_json,
        "purge_instance_history_by",
        since,
        None,
        [OrchestrationRuntimeStatus.Completed],
    )
    assert many.instances_deleted >= 2
    missing = requests.delete(f"{host.url}/runtime/webhooks/durabletask/instances/", timeout=10)
    assert missing.status_code == 400


def test_entities_take_signals_and_report_their_state(host, binding_json):
    entity = df.EntityId("counter", f"k-{uuid.uuid4().hex[:6]}")
    client_call(binding_json, "signal_entity", entity, "add", 5)
    client_call(binding_json, "signal_entity", entity, "add", 7)
    deadline = time.monotonic() + 20
    while True:
        state = client_call(binding_json, "read_entity_state", entity)
        if state.entity_exists and state.entity_state == 12:
            break
        assert time.monotonic() < deadline, state.entity_state
        time.sleep(0.05)
    url = f"{host.url}/runtime/webhooks/durabletask/entities/counter/{entity.key}"
    assert requests.get(url, timeout=10).json() == 12
    # DELETE signals the implicit "delete" operation; the entity then no longer exists.
    assert requests.delete(url, timeout=10).status_code == 202
    deadline = time.monotonic() + 20
    while requests.get(url, timeout=10).status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (
        requests.get(
            f"{host.url}/runtime/webhooks/durabletask/entities/counter/none-yet", timeout=10
        ).status_code
        == 404
    )


def test_wait_for_completion_returns_the_output(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "chain", None, "W")
    request = func.HttpRequest("GET", f"{host.url}/api/x", body=b"")
    resp = client_call(
        binding_json,
        "wait_for_completion_or_create_check_status_response",
        request,
        instance_id,
        10000,
        50,
    )
    assert resp.status_code == 200
    assert resp.get_body() == b"Hello Hello W!!"


def test_the_start_webhook_takes_the_body_as_input_and_can_wait(host):
    url = f"{host.url}/runtime/webhooks/durabletask/orchestrators/chain"
    wait = {"timeout": "10", "pollingInterval": "0.05"}
    # The body's JSON value is the context input; the Python SDK's get_input() decodes it
    # once more, so a string input arrives as JSON text, as the Python client sends it.
    resp = requests.post(url, params=wait, json=json.dumps("Cy"), timeout=20)
    assert resp.status_code == 200
    assert resp.json() == "Hello Hello Cy!!"
    # A bare string body is not JSON text to get_input(): the orchestration fails (500 +
    # its status), exactly as on the real extension (the webhook passes the parsed body on as
    # the orchestration's input: HttpApiHandler.HandleStartOrchestratorRequestAsync).
    bare = requests.post(url, params=wait, json="Cy", timeout=20)
    assert bare.status_code == 500
    assert bare.json()["runtimeStatus"] == "Failed"
    accepted = requests.post(url, json=json.dumps("Di"), timeout=10)
    assert accepted.status_code == 202
    assert accepted.headers["Location"] == accepted.json()["statusQueryGetUri"]
    assert accepted.headers["Retry-After"] == "10"
    unknown = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/orchestrators/nope", timeout=10
    )
    assert unknown.status_code == 400
    assert unknown.json()["Message"] == "One or more of the arguments submitted is incorrect"
    not_json = requests.post(url, data=b"{oops", timeout=10)
    assert not_json.status_code == 400


def test_restart_runs_the_orchestration_again_with_its_input(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "chain", None, "R")
    wait_status(host, instance_id, "Completed")
    links = client_call(binding_json, "restart", instance_id)
    assert links["id"] != instance_id
    assert wait_status(host, links["id"], "Completed")["output"] == "Hello Hello R!!"
    same = client_call(binding_json, "restart", instance_id, False)
    assert same["id"] == instance_id
    assert wait_status(host, instance_id, "Completed")["output"] == "Hello Hello R!!"


def test_rewind_is_refused_plainly(host, binding_json):
    instance_id = client_call(binding_json, "start_new", "fails")
    wait_status(host, instance_id, "Failed")
    resp = requests.post(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/rewind?reason=x",
        timeout=10,
    )
    assert resp.status_code == 501
    assert "not supported" in resp.json()["ExceptionMessage"]


def test_the_check_status_links_of_an_http_starter_all_work(host):
    """Every link create_check_status_response hands out, followed as a caller would, each
    shown to do what it names (not only to answer 202)."""
    resp = requests.post(f"{host.url}/api/start/approval", timeout=10)
    assert resp.status_code == 202
    links = resp.json()
    assert resp.headers["Location"] == links["statusQueryGetUri"]
    running = requests.get(links["statusQueryGetUri"], timeout=10)
    assert running.status_code == 202
    assert running.headers["Location"] == links["statusQueryGetUri"]
    assert running.json()["runtimeStatus"] in ("Pending", "Running")
    wait_status(host, links["id"], "Running")

    suspend = links["suspendPostUri"].replace("{text}", "pause")
    assert requests.post(suspend, timeout=10).status_code == 202
    wait_status(host, links["id"], "Suspended")
    resume = links["resumePostUri"].replace("{text}", "go")
    assert requests.post(resume, timeout=10).status_code == 202
    wait_status(host, links["id"], "Running")
    event = links["sendEventPostUri"].replace("{eventName}", "Approval")
    assert requests.post(event, json="yes", timeout=10).status_code == 202
    assert wait_status(host, links["id"], "Completed")["output"] == {"decision": "yes"}

    # Restart starts the orchestrator again (a new instance id) and answers with its links.
    restarted = requests.post(links["restartPostUri"], timeout=10)
    assert restarted.status_code == 202
    again = restarted.json()
    assert again["id"] != links["id"]
    wait_status(host, again["id"], "Running")
    terminate = again["terminatePostUri"].replace("{text}", "stop")
    assert requests.post(terminate, timeout=10).status_code == 202
    assert wait_status(host, again["id"], "Terminated")["output"] == "stop"

    # Rewind is the one link devhost refuses, plainly and as JSON.
    rewind = requests.post(links["rewindPostUri"].replace("{text}", "x"), timeout=10)
    assert rewind.status_code == 501
    assert "not supported" in rewind.json()["ExceptionMessage"]

    assert requests.delete(links["purgeHistoryDeleteUri"], timeout=10).json() == {
        "instancesDeleted": 1
    }
    assert requests.get(links["statusQueryGetUri"], timeout=10).status_code == 404
    gone = links["terminatePostUri"].replace("{text}", "x")
    assert requests.post(gone, timeout=10).status_code == 404
