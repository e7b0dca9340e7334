"""The official Durable Functions Python v2 samples, unmodified, on `python -m devhost start`.

Samples: Azure/azure-functions-durable-python samples-v2/ (MIT, see samples/LICENSE). Each is
started over HTTP as its README says, and its check-status link is followed to the output the
Durable Functions docs give for it.
"""

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from tests.devhost.azurite_fixture import azurite_service  # noqa: F401  (the azurite fixture)
from tests.devhost.host_process import SAMPLES, app_copy, running_host

pytestmark = pytest.mark.slow

CITIES = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def follow(status_url: str, timeout_s: float = 30) -> dict[str, Any]:
    """Poll the check-status link as a client would, until the instance finishes."""
    deadline = time.monotonic() + timeout_s
    while True:
        resp = requests.get(status_url, timeout=10)
        if resp.status_code == 200:
            doc: dict[str, Any] = resp.json()
            return doc
        assert resp.status_code == 202, resp.text
        assert time.monotonic() < deadline, f"still running: {resp.text}"
        time.sleep(0.05)


def test_function_chaining_returns_the_three_greetings(tmp_path: Path) -> None:
    app = app_copy(SAMPLES / "function_chaining", tmp_path / "app")
    with running_host(app) as host:
        resp = requests.post(f"{host.url}/api/orchestrators/my_orchestrator", timeout=10)
        assert resp.status_code == 202
        links = resp.json()
        assert resp.headers["Location"] == links["statusQueryGetUri"]
        status = follow(links["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == CITIES
    assert status["name"] == "my_orchestrator"


def test_the_blueprint_sample_registers_durable_and_plain_functions(tmp_path: Path) -> None:
    app = app_copy(SAMPLES / "blueprint", tmp_path / "app")
    with running_host(app) as host:
        resp = requests.post(f"{host.url}/api/startOrchestrator", timeout=10)
        assert resp.status_code == 202
        status = follow(resp.json()["statusQueryGetUri"])
        by_query = requests.get(f"{host.url}/api/HttpTrigger", params={"name": "Ada"}, timeout=10)
        by_body = requests.post(f"{host.url}/api/HttpTrigger", json={"name": "Bo"}, timeout=10)
        nameless = requests.get(f"{host.url}/api/HttpTrigger", timeout=10)
    assert status["output"] == CITIES
    assert by_query.text == "Hello, Ada. This HTTP triggered function executed successfully."
    assert by_body.text == "Hello, Bo. This HTTP triggered function executed successfully."
    assert nameless.status_code == 200
    assert nameless.text.startswith("This HTTP triggered function executed successfully.")


def test_fan_out_fan_in_backs_files_up_to_blob_storage_in_azurite(
    tmp_path: Path, azurite: Azurite
) -> None:
    site = tmp_path / "site"
    sizes = {}
    for n, name in enumerate(["E2_BackupSiteContent", "E2_GetFileList", "E2_CopyFileToBlob"]):
        folder = site / name
        folder.mkdir(parents=True)
        for file, body in (("__init__.py", "x" * (100 + n)), ("function.json", "{}" * (n + 1))):
            (folder / file).write_text(body)
            sizes[f"{name}_{file}"] = len(body)
    (site / "unrelated").mkdir()
    (site / "unrelated" / "__init__.py").write_text("not backed up")

    app = app_copy(
        SAMPLES / "fan_in_fan_out",
        tmp_path / "app",
        {"AzureWebJobsStorage": azurite.connection_string},
    )
    with running_host(app) as host:
        resp = requests.post(
            f"{host.url}/api/orchestrators/E2_BackupSiteContent", json=str(site), timeout=10
        )
        assert resp.status_code == 202
        status = follow(resp.json()["statusQueryGetUri"])

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == sum(sizes.values())
    container = BlobServiceClient.from_connection_string(
        azurite.connection_string
    ).get_container_client("backups")
    blobs = {b.name: b.size for b in container.list_blobs()}
    assert blobs == sizes
