"""A small Entra ID: OpenID discovery, a token endpoint and JWKS, enough for real MSAL.

Grants: client_credentials (app-only) and refresh_token (app+user, the Secure Application
Model's second step: https://learn.microsoft.com/en-us/partner-center/developer/enable-secure-app-model). Tokens are RS256 JWTs. Their lifetime runs on wall-clock time,
not the sandbox's virtual clock: MSAL caches tokens by wall-clock expiry, and a virtual
clock jumping a month must not make every cached token look expired.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

PC_AUDIENCE = "https://api.partnercenter.microsoft.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
# The Partner API host (pricing: api.partner.microsoft.com/v1.0/sales/pricesheets...).
PARTNER_API_AUDIENCE = "https://api.partner.microsoft.com"
TOKEN_LIFETIME_S = 3599
KEY_ID = "sandbox-token-key"
INTEGRATION_USER = "integration@partner.onmicrosoft.com"


@dataclass(frozen=True)
class Credentials:
    tenant_id: str
    client_id: str
    client_secret: str
    refresh_token: str


class TokenError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, object]:
        return {
            "error": self.error,
            "error_description": self.description,
            "error_codes": [int(self.description[5:12])]
            if self.description[5:12].isdigit()
            else [],
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


@dataclass(frozen=True)
class Principal:
    app_id: str
    user: str | None
    audience: str


class Authority:
    def __init__(self, key: rsa.RSAPrivateKey, credentials: Credentials) -> None:
        self._key = key
        self._public = key.public_key()
        self.credentials = credentials
        self._refresh_tokens = {credentials.refresh_token}
        self.origin = ""
        self.issuer = ""

    def bind(self, origin: str) -> None:
        """Known once the server listens: tokens name `<origin>/<tenant>/v2.0` as issuer."""
        self.origin = origin
        self.issuer = f"{origin}/{self.credentials.tenant_id}/v2.0"

    def discovery(self) -> dict[str, object]:
        base = f"{self.origin}/{self.credentials.tenant_id}"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def rotate_key(self, key: rsa.RSAPrivateKey) -> None:
        """Roll the token signing key over, as Entra ID does: tokens signed with the old
        key stop verifying."""
        self._key = key
        self._public = key.public_key()

    def jwks(self) -> dict[str, object]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": KEY_ID,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                }
            ]
        }

    def token(self, form: dict[str, str]) -> dict[str, object]:
        if form.get("client_id") != self.credentials.client_id:
            raise TokenError(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not "
                "found in the directory.",
            )
        if form.get("client_secret") != self.credentials.client_secret:
            raise TokenError(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        audience = _audience(form.get("scope", ""))
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if not form.get("scope", "").strip().endswith("/.default"):
                raise TokenError(
                    400,
                    "invalid_scope",
                    "AADSTS1002012: The provided value for scope is not valid. Client "
                    "credential flows must have a scope value with /.default suffixed.",
                )
            return self._issue(audience, user=None)
        if grant == "refresh_token":
            presented = form.get("refresh_token", "")
            if presented not in self._refresh_tokens:
                raise TokenError(
                    400, "invalid_grant", "AADSTS70000: The refresh token is invalid or expired."
                )
            issued = self._issue(audience, user=INTEGRATION_USER)
            if "openid" in form.get("scope", "").split():
                issued.update(self._identity(form))
            # Each redemption returns a fresh refresh token
            # (https://learn.microsoft.com/en-us/partner-center/developer/gdap-and-secure-application-model); the old
            # one stays valid for its lifetime, as Entra's do.
            fresh = secrets.token_urlsafe(32)
            self._refresh_tokens.add(fresh)
            issued["refresh_token"] = fresh
            return issued
        raise TokenError(
            400, "unsupported_grant_type", f"AADSTS70003: grant_type {grant!r} is not supported."
        )

    def _issue(self, audience: str, user: str | None) -> dict[str, object]:
        now = int(time.time())
        claims: dict[str, object] = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_S,
            "tid": self.credentials.tenant_id,
            "appid": self.credentials.client_id,
            "azp": self.credentials.client_id,
            "idtyp": "user" if user else "app",
            "ver": "2.0",
        }
        if user:
            # App+user calls need MFA since 2026-04-01
            # (https://learn.microsoft.com/en-us/partner-center/security/partner-security-requirements-mandating-mfa):
            # the token carries the claim.
            claims.update(upn=user, scp="user_impersonation", amr=["pwd", "mfa"])
        else:
            claims["roles"] = []
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KEY_ID})
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "ext_expires_in": TOKEN_LIFETIME_S,
            "access_token": token,
        }

    def _identity(self, form: dict[str, str]) -> dict[str, object]:
        """What Entra adds for an openid request: an ID token and, when asked,
        client_info (MSAL builds its account cache from them)."""
        now = int(time.time())
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, INTEGRATION_USER))
        id_token = jwt.encode(
            {
                "aud": self.credentials.client_id,
                "iss": self.issuer,
                "iat": now,
                "nbf": now,
                "exp": now + TOKEN_LIFETIME_S,
                "sub": oid,
                "oid": oid,
                "tid": self.credentials.tenant_id,
                "preferred_username": INTEGRATION_USER,
                "name": "Integration User",
                "ver": "2.0",
            },
            self._key,
            algorithm="RS256",
            headers={"kid": KEY_ID},
        )
        identity: dict[str, object] = {"id_token": id_token, "scope": form.get("scope", "")}
        if form.get("client_info") == "1":
            info = json.dumps({"uid": oid, "utid": self.credentials.tenant_id}).encode()
            identity["client_info"] = base64.urlsafe_b64encode(info).rstrip(b"=").decode()
        return identity

    def verify(self, authorization: str | None, audience: str) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise PermissionError("Authorization: Bearer <token> is required")
        try:
            claims = jwt.decode(
                authorization[7:],
                self._public,
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise PermissionError(f"invalid token: {exc}") from None
        if claims.get("tid") != self.credentials.tenant_id:
            raise PermissionError("token issued for another tenant")
        return Principal(
            app_id=str(claims["appid"]), user=claims.get("upn"), audience=str(claims["aud"])
        )


def _audience(scope: str) -> str:
    for item in scope.split():
        for audience in (PC_AUDIENCE, GRAPH_AUDIENCE, PARTNER_API_AUDIENCE):
            if item.startswith(audience + "/"):
                return audience
    raise TokenError(
        400,
        "invalid_scope",
        f"AADSTS70011: The provided request must include a valid 'scope'; got {scope!r}.",
    )


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
