"""Access tokens through the real MSAL ConfidentialClientApplication.

- App-only (client credentials) for most of the API, scope `<resource>/.default`.
- App+user (the Secure Application Model) where Partner Center requires it, e.g. the MCA
  attestation (app+user only, Microsoft Learn, confirm-customer-consent-customer-agreement):
  an access token is minted from the integration user's stored refresh token (Microsoft
  Learn, https://learn.microsoft.com/en-us/partner-center/developer/enable-secure-app-model
  and gdap-and-secure-application-model).

MSAL caches tokens until shortly before expiry, so repeated calls cost no round trip.
An unreachable authority is a RetryableError; a refusal (bad secret, bad refresh token)
is an AuthError.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from shared.partner_center.errors import AuthError, RetryableError
from shared.proxies import TRUST_ENVIRONMENT


class TrustingSession(requests.Session):
    """A requests Session that trusts one CA bundle.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `Session.verify` (it merges
    the environment when a call passes no `verify`), so the bundle is passed on each call.
    """

    def __init__(self, ca_bundle: Path | None) -> None:
        super().__init__()
        self.trust_env = TRUST_ENVIRONMENT  # proxies read once (shared/proxies.py)
        self._ca_bundle = str(ca_bundle) if ca_bundle is not None else None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if self._ca_bundle is not None:
            kwargs.setdefault("verify", self._ca_bundle)
        return super().request(method, url, *args, **kwargs)


def authority_url(authority: str, tenant_id: str) -> str:
    """The tenant's authority: `<origin>/<tenant_id>` when a tenant id is configured.

    Client credentials need a tenant-specific authority (Entra refuses /organizations
    for them), so a configured tenant id replaces the authority's path.
    """
    parts = urlsplit(authority)
    if tenant_id:
        return f"{parts.scheme}://{parts.netloc}/{tenant_id}"
    return authority.rstrip("/")


class TokenProvider:
    def __init__(
        self,
        *,
        authority: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str = "",
        session: requests.Session,
        timeout_s: float,
    ) -> None:
        if not client_id or not client_secret:
            raise AuthError("Partner Center client id and secret are required")
        self._authority = authority_url(authority, tenant_id)
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._session = session
        self._timeout_s = timeout_s
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                host = urlsplit(self._authority).hostname or ""
                # Instance discovery asks login.microsoftonline.com whether the authority
                # is a Microsoft cloud; it cannot vouch for a local sandbox, so it is turned
                # off only for hosts MSAL does not already know. Tenant (OpenID) discovery
                # still runs against the configured authority either way.
                known = host in WELL_KNOWN_AUTHORITY_HOSTS
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self._client_id,
                        client_credential=self._client_secret,
                        authority=self._authority,
                        http_client=self._session,
                        timeout=self._timeout_s,
                        instance_discovery=None if known else False,
                    )
                except requests.RequestException as exc:
                    raise RetryableError(
                        f"cannot reach the authority {self._authority}: {exc}"
                    ) from exc
                except ValueError as exc:  # MSAL: the authority answered, but not as one
                    raise AuthError(f"{self._authority} is not a usable authority: {exc}") from exc
            return self._app

    def forget_tokens(self) -> None:
        """Drop every cached access token; the next call asks Entra ID again."""
        with self._lock:
            self._app = None

    def app_token(self, scope: str) -> str:
        """An app-only token for `scope` (ends in /.default)."""
        try:
            result = self._application().acquire_token_for_client(scopes=[scope])
        except requests.RequestException as exc:
            raise RetryableError(f"token request failed: {exc}") from exc
        return _token(result)

    def user_token(self, scope: str) -> str:
        """An app+user token minted from the stored refresh token (Secure App Model)."""
        if not self._refresh_token:
            raise AuthError(
                "this Partner Center operation needs App+User authentication; configure "
                "CSPFLOW_PARTNER_CENTER_REFRESH_TOKEN (the Secure Application Model consent)"
            )
        app = self._application()
        accounts = app.get_accounts()
        result: dict[str, Any] | None = None
        if accounts:
            result = app.acquire_token_silent([scope], account=accounts[0])
        if not result:
            try:
                result = app.acquire_token_by_refresh_token(self._refresh_token, scopes=[scope])
            except requests.RequestException as exc:
                raise RetryableError(f"token request failed: {exc}") from exc
            if "refresh_token" in result:
                # Each redemption returns a new refresh token valid for 90 days (Microsoft
                # Learn, gdap-and-secure-application-model);
                # keep using the newest for this process. Persisting it back to Key Vault is
                # the consent tooling's job, not a request path's.
                self._refresh_token = str(result["refresh_token"])
        return _token(result)


def _token(result: dict[str, Any] | None) -> str:
    if not result or "access_token" not in result:
        error = (result or {}).get("error", "no_token")
        description = (result or {}).get("error_description", "")
        raise AuthError(f"Entra ID refused the token request: {error}: {description}")
    return str(result["access_token"])
