"""The sandbox's Entra endpoints and how the API checks tokens."""

import uuid

import msal
import pytest

from shared.partner_center.auth import TrustingSession


def _token(pc, form):
    return pc.raw("POST", f"/{pc.sandbox.credentials.tenant_id}/oauth2/v2.0/token", data=form)


def test_the_discovery_document_names_the_token_endpoint_on_the_sandbox(pc):
    tenant = pc.sandbox.credentials.tenant_id
    doc = pc.raw("GET", f"/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert doc["token_endpoint"] == f"{pc.base_url}/{tenant}/oauth2/v2.0/token"
    assert doc["issuer"] == f"{pc.base_url}/{tenant}/v2.0"
    keys = pc.raw("GET", f"/{tenant}/discovery/v2.0/keys").json()["keys"]
    assert keys[0]["kty"] == "RSA"


def test_an_unknown_tenant_is_refused(pc):
    resp = pc.raw("GET", f"/{uuid.uuid4()}/v2.0/.well-known/openid-configuration")
    assert resp.status_code == 400 and "AADSTS90002" in resp.text


def test_real_msal_gets_and_caches_an_app_token(pc):
    creds = pc.sandbox.credentials
    app = msal.ConfidentialClientApplication(
        creds.client_id,
        client_credential=creds.client_secret,
        authority=pc.sandbox.authority_url,
        http_client=TrustingSession(pc.sandbox.ca_pem),
        instance_discovery=False,
    )
    scopes = ["https://api.partnercenter.microsoft.com/.default"]
    first = app.acquire_token_for_client(scopes)
    second = app.acquire_token_for_client(scopes)
    assert first["token_type"] == "Bearer"
    assert second["token_source"] == "cache"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_secret": "nope"}, "invalid_client"),
        ({"client_id": "someone-else"}, "unauthorized_client"),
        ({"scope": "https://api.partnercenter.microsoft.com/user_impersonation"}, "invalid_scope"),
        ({"scope": "https://example.com/.default"}, "invalid_scope"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "forged"}, "invalid_grant"),
    ],
)
def test_bad_token_requests_get_entras_errors(pc, change, error):
    creds = pc.sandbox.credentials
    form = {
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "grant_type": "client_credentials",
        "scope": "https://api.partnercenter.microsoft.com/.default",
        **change,
    }
    resp = _token(pc, form)
    assert resp.status_code in (400, 401)
    assert resp.json()["error"] == error


def test_the_api_refuses_a_missing_or_forged_token(pc):
    assert pc.raw("GET", "/v1/customers").status_code == 401
    assert pc.raw("GET", "/v1/customers", token="a.b.c").status_code == 401
    token = pc.app_token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert pc.raw("GET", "/v1/customers", token=forged).status_code == 401
    assert pc.raw("GET", "/v1/customers", token=token).status_code == 200


def test_a_graph_token_is_not_a_partner_center_token(pc):
    graph = pc.client._tokens.app_token("https://graph.microsoft.com/.default")
    assert pc.raw("GET", "/v1/customers", token=graph).status_code == 401


def test_app_and_user_only_operations_refuse_an_app_only_token(pc):
    resp = pc.raw(
        "GET", "/v1/agreements?agreementType=MicrosoftCustomerAgreement", token=pc.app_token()
    )
    assert resp.status_code == 403 and "App+User" in resp.json()["description"]
