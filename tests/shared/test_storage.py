"""Which Azure Storage endpoint and credential the app-side clients use."""

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from shared.config import Settings
from shared.storage import queue_service, table_name, table_service


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_identity_based_settings_as_azd_deploys_them_use_the_managed_identity(monkeypatch):
    s = settings(
        monkeypatch,
        AzureWebJobsStorage__accountName="stcspflowprod",
        AzureWebJobsStorage__credential="managedidentity",
        AzureWebJobsStorage__clientId="11111111-2222-3333-4444-555555555555",
    )
    tables, queues = table_service(s), queue_service(s)
    assert tables.url.startswith("https://stcspflowprod.table.core.windows.net")
    assert queues.url.startswith("https://stcspflowprod.queue.core.windows.net")
    assert isinstance(tables.credential, ManagedIdentityCredential)
    assert isinstance(queues.credential, ManagedIdentityCredential)


def test_an_account_name_without_a_client_id_uses_the_default_credential_chain(monkeypatch):
    s = settings(monkeypatch, AzureWebJobsStorage__accountName="stcspflowdev")
    assert isinstance(table_service(s).credential, DefaultAzureCredential)


def test_without_an_account_name_the_connection_string_is_used(monkeypatch):
    s = settings(monkeypatch, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert table_service(s).url == "http://127.0.0.1:10002/devstoreaccount1"
    assert queue_service(s).url.startswith("http://127.0.0.1:10001/devstoreaccount1")


def test_table_names_carry_the_deployments_prefix(monkeypatch):
    assert table_name(settings(monkeypatch, CSPFLOW_TABLE_PREFIX="acme"), "Events") == "acmeEvents"
