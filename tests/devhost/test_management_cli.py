"""`python -m devhost durable ...` against a running host, like `func durable`."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.devhost.host_process import FRONT_APPS, ROOT, HostProcess, app_copy, running_host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = app_copy(FRONT_APPS / "web", tmp_path_factory.mktemp("cli") / "app", {"HUB": "CliHub"})
    with running_host(app) as running:
        yield running


def durable(host: HostProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", "durable", "--url", host.url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def status_of(host: HostProcess, instance_id: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        result = durable(host, "get-runtime-status", "--id", instance_id, "--show-output")
        doc: dict[str, Any] = json.loads(result.stdout)
        if doc["runtimeStatus"] == wanted:
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.1)


def test_start_new_then_status_and_history(host):
    started = durable(
        host, "start-new", "--function-name", "chain", "--id", "cli-1", "--input", '"\\"Ada\\""'
    )
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["id"] == "cli-1"
    assert status_of(host, "cli-1", "Completed")["output"] == "Hello Hello Ada!!"
    history = json.loads(durable(host, "get-history", "--id", "cli-1").stdout)
    assert history[0]["EventType"] == "ExecutionStarted"
    listed = json.loads(durable(host, "get-instances", "--runtime-status", "Completed").stdout)
    assert "cli-1" in {s["instanceId"] for s in listed}


def test_raise_event_and_terminate(host):
    durable(host, "start-new", "--function-name", "approval", "--id", "cli-2")
    status_of(host, "cli-2", "Running")
    raised = durable(
        host,
        "raise-event",
        "--id",
        "cli-2",
        "--event-name",
        "Approval",
        "--event-data",
        '{"ok": true}',
    )
    assert raised.returncode == 0, raised.stderr
    assert status_of(host, "cli-2", "Completed")["output"] == {"decision": {"ok": True}}
    durable(host, "start-new", "--function-name", "approval", "--id", "cli-3")
    status_of(host, "cli-3", "Running")
    assert durable(host, "terminate", "--id", "cli-3", "--reason", "by hand").returncode == 0
    assert status_of(host, "cli-3", "Terminated")["output"] == "by hand"


def test_purge_history_and_errors_are_plain(host):
    durable(host, "start-new", "--function-name", "chain", "--id", "cli-4", "--input", '"\\"x\\""')
    status_of(host, "cli-4", "Completed")
    purged = durable(host, "purge-history", "--id", "cli-4")
    assert json.loads(purged.stdout) == {"instancesDeleted": 1}
    missing = durable(host, "get-runtime-status", "--id", "cli-4")
    assert (missing.returncode, missing.stderr.strip()) == (1, "not found")
    unknown = durable(host, "start-new", "--function-name", "nope")
    assert unknown.returncode == 1
    assert "doesn't exist" in unknown.stderr
    bad_json = durable(host, "start-new", "--function-name", "chain", "--input", "{oops")
    assert bad_json.returncode != 0
    assert "--input is not valid JSON" in bad_json.stderr


def test_no_host_says_how_to_start_one():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "durable",
            "--url",
            "http://127.0.0.1:9",
            "get-instances",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "python -m devhost start" in result.stderr


def test_get_instances_pages_with_top_and_the_continuation_token(host):
    for n in range(3):
        durable(host, "start-new", "--function-name", "chain", "--id", f"page-{n}")
    for n in range(3):
        status_of(host, f"page-{n}", "Completed")
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        args = ["get-instances", "--runtime-status", "Completed", "--top", "2"]
        if token:
            args += ["--continuation-token", token]
        page = durable(host, *args)
        assert page.returncode == 0, page.stderr
        listed = json.loads(page.stdout)
        assert len(listed) <= 2
        seen += [s["instanceId"] for s in listed]
        marker = "continuation token: "
        token = next(
            (ln[len(marker) :] for ln in page.stderr.splitlines() if ln.startswith(marker)), None
        )
        if token is None:
            break
    assert {f"page-{n}" for n in range(3)} <= set(seen)
    assert len(seen) == len(set(seen))  # no instance on two pages


def test_purge_history_by_filters_deletes_the_finished_instances(host):
    durable(host, "start-new", "--function-name", "chain", "--id", "cli-old")
    status_of(host, "cli-old", "Completed")
    durable(host, "start-new", "--function-name", "approval", "--id", "cli-waiting")
    status_of(host, "cli-waiting", "Running")
    purged = durable(host, "purge-history", "--runtime-status", "Completed")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)["instancesDeleted"] >= 1
    assert durable(host, "get-runtime-status", "--id", "cli-old").returncode == 1
    nothing_left = durable(host, "purge-history", "--runtime-status", "Completed")
    assert (nothing_left.returncode, json.loads(nothing_left.stdout)) == (
        0,
        {"instancesDeleted": 0},
    )
    assert status_of(host, "cli-waiting", "Running")["runtimeStatus"] == "Running"
    durable(host, "terminate", "--id", "cli-waiting")


def test_with_enable_auth_the_cli_needs_the_key(tmp_path):
    keys = {"DEVHOST_MASTER_KEY": "cli-master-key", "HUB": "CliAuthHub"}
    app = app_copy(FRONT_APPS / "web", tmp_path / "app", keys)
    with running_host(app, "--enable-auth") as secured:
        refused = durable(secured, "get-instances")
        started = durable(
            secured, "--key", "cli-master-key", "start-new", "--function-name", "chain"
        )
    assert refused.returncode == 1
    assert "--key" in refused.stderr
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["id"]
