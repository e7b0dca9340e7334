"""Static checks of infra/bicep wiring.

The Bicep CLI is a binary download this machine cannot make, so these tests check what a
compile would catch first in our own files: every module exists, every parameter passed is
declared, every required parameter is passed, and azd's files point at the right places.
"""

import json
import re
from pathlib import Path

import pytest

from shared.config import Settings

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"

PARAM = re.compile(r"^param\s+(\w+)\s+\w+(\s*=)?", re.MULTILINE)
MODULE = re.compile(r"^module\s+\w+\s+'([^']+)'\s*=\s*\{(.*?)^\}", re.MULTILINE | re.DOTALL)
PARAMS_BLOCK = re.compile(r"params:\s*\{(.*?)\n  \}", re.DOTALL)
ASSIGNED = re.compile(r"^\s{4}(\w+):", re.MULTILINE)


def declared(path: Path) -> dict[str, bool]:
    """Parameter name -> whether it has a default."""
    return {m.group(1): bool(m.group(2)) for m in PARAM.finditer(path.read_text())}


def module_calls() -> list[tuple[str, set[str]]]:
    calls = []
    for m in MODULE.finditer((BICEP / "main.bicep").read_text()):
        block = PARAMS_BLOCK.search(m.group(2))
        passed = set(ASSIGNED.findall(block.group(1))) if block else set()
        calls.append((m.group(1), passed))
    return calls


def test_main_calls_every_module_in_the_modules_folder():
    called = {path for path, _ in module_calls()}
    on_disk = {f"modules/{p.name}" for p in (BICEP / "modules").glob("*.bicep")}
    assert called == on_disk


CALLS = module_calls()


@pytest.mark.parametrize(("path", "passed"), CALLS, ids=[path for path, _ in CALLS])
def test_each_module_gets_exactly_its_declared_parameters(path: str, passed: set[str]):
    params = declared(BICEP / path)
    assert passed <= set(params), f"{path}: undeclared {passed - set(params)}"
    required = {name for name, has_default in params.items() if not has_default}
    assert required <= passed, f"{path}: missing required {required - passed}"


def test_azd_parameters_file_matches_main_parameters():
    params = declared(BICEP / "main.bicep")
    given = set(json.loads((BICEP / "main.parameters.json").read_text())["parameters"])
    assert given <= set(params)
    assert {n for n, d in params.items() if not d} <= given


def test_azure_yaml_points_azd_at_infra_bicep_main():
    text = (ROOT / "azure.yaml").read_text()
    assert "path: infra/bicep" in text and "module: main" in text
    assert (BICEP / "main.bicep").exists()
    assert "host: function" in text


def test_every_secret_setting_is_a_key_vault_reference():
    # Every SecretStr field of Settings, so a new secret cannot be forgotten in Azure.
    # AzureWebJobsStorage is the exception: Azure connects with the managed identity.
    # smtp_password too: Azure sends notices through ACS with the managed identity; the
    # password is read only when an operator switches to an SMTP relay (README says to add
    # it then, as a Key Vault reference).
    secrets = {
        f"CSPFLOW_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
        and name not in ("storage_connection", "smtp_password")
    }
    app = (BICEP / "modules" / "functionapp.bicep").read_text()
    settings = dict(re.findall(r"^\s+(CSPFLOW_\w+): (.+)$", app, re.MULTILINE))
    assert secrets <= set(settings), f"not set in Azure: {secrets - set(settings)}"
    for key in secrets:
        assert settings[key].startswith("'${secretRef}"), f"{key} must be a Key Vault reference"
    assert "AzureWebJobsStorage__credential: 'managedidentity'" in app


def test_storage_allows_identity_access_only():
    storage = (BICEP / "modules" / "storage.bicep").read_text()
    assert "allowSharedKeyAccess: false" in storage
    assert "allowBlobPublicAccess: false" in storage


def test_notices_go_through_azure_communication_services_with_the_app_identity():
    email = (BICEP / "modules" / "email.bicep").read_text()
    for resource in (
        "Microsoft.Communication/emailServices@",
        "Microsoft.Communication/emailServices/domains@",
        "Microsoft.Communication/communicationServices@",
    ):
        assert f"'{resource}" in email, resource
    assert "linkedDomains: [domain.id]" in email
    assert "userEngagementTracking: 'Disabled'" in email  # links stay as minted
    # The app identity may send: the built-in Communication and Email Service Owner role,
    # scoped to the Communication Service only.
    rbac = (BICEP / "modules" / "rbac.bicep").read_text()
    assert "'09976791-48a7-449e-bb21-39d1a415f350'" in rbac
    assert re.search(r"resource appEmail [^\n]+ = \{\n  scope: communication\n", rbac)
    main = (BICEP / "main.bicep").read_text()
    assert "communicationServiceName: email.outputs.name" in main
    assert "acsEndpoint: email.outputs.endpoint" in main
    assert "mailFrom: email.outputs.senderAddress" in main
    # The app reads them as Settings does (shared/config.py).
    app = (BICEP / "modules" / "functionapp.bicep").read_text()
    settings = dict(re.findall(r"^\s+(CSPFLOW_\w+): (.+)$", app, re.MULTILINE))
    assert settings["CSPFLOW_MAIL_TRANSPORT"] == "'acs'"
    assert settings["CSPFLOW_ACS_ENDPOINT"] == "acsEndpoint"
    assert settings["CSPFLOW_MAIL_FROM"] == "mailFrom"
    for name in ("CSPFLOW_MAIL_TRANSPORT", "CSPFLOW_ACS_ENDPOINT", "CSPFLOW_MAIL_FROM"):
        assert name.removeprefix("CSPFLOW_").lower() in Settings.model_fields


def test_the_azure_app_settings_pass_the_settings_azure_check(monkeypatch):
    """The values functionapp.bicep sets (secrets as Key Vault would resolve them) load in
    Azure mode: nothing the bicep forgets is found by the first customer."""
    app = (BICEP / "modules" / "functionapp.bicep").read_text()
    values = dict(
        re.findall(r"^\s+(CSPFLOW_\w+|AzureWebJobsStorage__\w+): (.+)$", app, re.MULTILINE)
    )
    for name in list(__import__("os").environ):
        if name.startswith(("CSPFLOW_", "AzureWebJobsStorage")):
            monkeypatch.delenv(name)
    resolved = {
        "CSPFLOW_ACS_ENDPOINT": "https://acs-x.europe.communication.azure.com",
        "CSPFLOW_MAIL_FROM": "DoNotReply@00000000-0000-0000-0000-000000000000.azurecomm.net",
        "CSPFLOW_PARTNER_CENTER_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "CSPFLOW_PARTNER_CENTER_TENANT_ID": "00000000-0000-0000-0000-000000000002",
        "CSPFLOW_STRIPE_WEBHOOK_SECRETS": "whsec_from_key_vault",
        "AzureWebJobsStorage__accountName": "stcspflow",
    }
    for name, expression in values.items():
        literal = (
            expression.strip("'") if expression.startswith("'") and "$" not in expression else None
        )
        value = resolved.get(name) or literal or "secret-from-key-vault"
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.environment, settings.mail_transport) == ("azure", "acs")
