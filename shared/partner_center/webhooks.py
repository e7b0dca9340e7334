"""Verifying a Partner Center webhook callback before anything is enqueued.

Microsoft's documented steps
(https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks): the
signature, certificate URL and algorithm headers are present; the certificate is downloaded
from the URL; it chains to a trusted Microsoft root; its organisation is Microsoft
Corporation; the RSA-SHA256 signature verifies over the raw body bytes. Hardening from a
community receiver (the Partner Center webhook receiver of CIPP-API,
https://github.com/KelvinTegelaar/CIPP-API), adopted here: the certificate URL must start
with an allow-listed https prefix (no query, default port) and the body is capped at 1 MiB.

The certificate fetcher and the trust roots are injectable: in Azure they are an HTTPS
download and the Microsoft roots; in tests, the sandbox's certificate URL and its CA.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.partner_center.auth import TrustingSession

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENT_NAME = 200
MAX_URI = 2000
ORGANIZATION = "Microsoft Corporation"
CertificateFetcher = Callable[[str], bytes]


class WebhookRejected(Exception):
    """The callback is not a genuine Partner Center event; answer 401, enqueue nothing."""


class MalformedEvent(WebhookRejected):
    """The callback is genuinely signed but its body is not an event of the documented shape
    (`EventName`, `ResourceUri`, `ResourceChangeUtcDate`): answer 400, enqueue nothing."""


@dataclass(frozen=True)
class PartnerCenterEvent:
    event_name: str
    resource_uri: str
    resource_name: str
    audit_uri: str | None
    resource_change_utc_date: str

    @property
    def changed_at(self) -> datetime:
        """`ResourceChangeUtcDate` as a UTC instant (checked when the event was parsed)."""
        when = _utc(self.resource_change_utc_date)
        if when is None:  # pragma: no cover - _parse_event refuses such an event
            raise ValueError(f"not a time: {self.resource_change_utc_date!r}")
        return when

    @property
    def dedupe_key(self) -> str:
        # No exactly-once delivery (Partner Center retries a delivery up to 10 times,
        # Microsoft Learn partner-center-webhooks): (EventName, ResourceUri,
        # ResourceChangeUtcDate) identifies an event across duplicates.
        return f"{self.event_name}|{self.resource_uri}|{self.resource_change_utc_date}"


def https_fetcher(timeout_s: float = 10.0, ca_bundle: Path | None = None) -> CertificateFetcher:
    """Download over HTTPS, no redirects (a redirect could leave the allow-listed host)."""
    session = TrustingSession(ca_bundle)

    def fetch(url: str) -> bytes:
        resp = session.get(url, timeout=timeout_s, allow_redirects=False)
        if resp.status_code != 200:
            raise WebhookRejected(f"certificate download answered {resp.status_code}")
        return resp.content

    return fetch


def microsoft_roots(bundle: Path | None = None) -> list[x509.Certificate]:
    """Roots from a PEM bundle (certifi's by default) whose organisation is Microsoft."""
    pem = (bundle or Path(certifi.where())).read_bytes()
    with warnings.catch_warnings():
        # Public bundles carry a few legacy roots with non-positive serial numbers.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        roots = x509.load_pem_x509_certificates(pem)
    return [c for c in roots if _organization(c.subject) == ORGANIZATION]


@dataclass
class WebhookVerifier:
    allowed_cert_url_prefixes: Sequence[str]
    trust_roots: Sequence[x509.Certificate]
    fetch_certificate: CertificateFetcher = field(default_factory=https_fetcher)
    clock: Clock = field(default_factory=SystemClock)
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not self.trust_roots:
            raise ValueError("at least one trust root is required")
        self._store = verification.Store(list(self.trust_roots))
        # url -> (key, the certificate's notAfter): a cached key is used only while its
        # certificate is valid, then the URL is fetched and the chain checked again.
        self._cache: dict[str, tuple[rsa.RSAPublicKey, datetime]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookVerifier:
        """The certificate is downloaded trusting what the Partner Center client trusts
        (`partner_center_ca_bundle`: the system store in Azure, the sandbox's CA locally)."""
        return cls(
            allowed_cert_url_prefixes=settings.partner_center_webhook_cert_url_prefixes,
            trust_roots=microsoft_roots(settings.partner_center_webhook_trust_bundle),
            fetch_certificate=https_fetcher(ca_bundle=settings.partner_center_ca_bundle),
        )

    def verify(self, headers: dict[str, str], body: bytes) -> PartnerCenterEvent:
        """The parsed event if the callback is genuine, else WebhookRejected."""
        if len(body) > self.max_body_bytes:
            raise WebhookRejected(f"body larger than {self.max_body_bytes} bytes")
        lowered = {k.lower(): v for k, v in headers.items()}
        signature_header = lowered.get("x-ms-signature") or lowered.get("authorization")
        cert_url = lowered.get("x-ms-certificate-url")
        algorithm = lowered.get("x-ms-signature-algorithm")
        if not signature_header or not cert_url or not algorithm:
            raise WebhookRejected(
                "Authorization (or x-ms-signature), x-ms-certificate-url and "
                "x-ms-signature-algorithm are all required"
            )
        if algorithm.strip().lower() != "rsa-sha256":
            raise WebhookRejected(f"unsupported signature algorithm {algorithm!r}")
        token = signature_header.strip()
        if token.lower().startswith("signature "):
            token = token[len("signature ") :].strip()
        try:
            signature = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected("the signature is not base64") from None
        key = self._public_key(cert_url)
        try:
            key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise WebhookRejected("the signature does not match the body") from None
        return _parse_event(body)

    def _public_key(self, url: str) -> rsa.RSAPublicKey:
        self._check_url(url)
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and self.clock.now() < cached[1]:
            return cached[0]
        try:
            raw = self.fetch_certificate(url)
        except WebhookRejected:
            raise
        except Exception as exc:
            raise WebhookRejected(f"cannot fetch the certificate: {exc}") from exc
        cert = _load_certificate(raw)
        self._check_chain(cert)
        if _organization(cert.subject) != ORGANIZATION:
            raise WebhookRejected("the certificate's organisation is not Microsoft Corporation")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected("the certificate does not hold an RSA key")
        with self._lock:
            self._cache[url] = (key, cert.not_valid_after_utc)
        return key

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.query or parts.fragment:
            raise WebhookRejected("the certificate URL must be plain https with no query")
        # Prefixes end in "/" (Settings checks), so a match pins scheme, host and port.
        if not any(url.startswith(prefix) for prefix in self.allowed_cert_url_prefixes):
            raise WebhookRejected(f"the certificate URL {url} is not allow-listed")
        if ".." in parts.path:
            raise WebhookRejected("the certificate URL path is not canonical")

    def _check_chain(self, cert: x509.Certificate) -> None:
        # The leaf's extended key usage is not documented, so end-entity extensions are
        # not policed; the CA side follows the Web PKI defaults.
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(self.clock.now().astimezone(UTC).replace(tzinfo=None))
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            chain = verifier.verify(cert, []).chain
        except verification.VerificationError as exc:
            raise WebhookRejected(
                f"the certificate does not chain to a trusted root: {exc}"
            ) from None
        if _organization(chain[-1].subject) != ORGANIZATION:
            raise WebhookRejected("the certificate's root is not a Microsoft root")


def _load_certificate(raw: bytes) -> x509.Certificate:
    # Microsoft Learn (partner-center-webhooks) does not document the .cer encoding: DER
    # first, then PEM.
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        pass
    try:
        return x509.load_pem_x509_certificate(raw)
    except ValueError:
        raise WebhookRejected("the certificate is neither DER nor PEM") from None


def _organization(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(values[0].value) if values else None


def _parse_event(body: bytes) -> PartnerCenterEvent:
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedEvent("the body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise MalformedEvent("the body is not a JSON object")
    lowered = {str(k).lower(): v for k, v in data.items()}
    name, uri = lowered.get("eventname"), lowered.get("resourceuri")
    changed, audit = lowered.get("resourcechangeutcdate"), lowered.get("audituri")
    resource_name = lowered.get("resourcename")
    if not (isinstance(name, str) and 0 < len(name) <= MAX_EVENT_NAME):
        raise MalformedEvent("EventName is missing or not a short string")
    if not (isinstance(uri, str) and 0 < len(uri) <= MAX_URI):
        raise MalformedEvent("ResourceUri is missing or not a string of at most 2000 characters")
    if not isinstance(changed, str) or _utc(changed) is None:
        raise MalformedEvent("ResourceChangeUtcDate is missing or not an ISO 8601 time")
    if audit is not None and not (isinstance(audit, str) and len(audit) <= MAX_URI):
        raise MalformedEvent("AuditUri is not a URI")
    if resource_name is not None and not isinstance(resource_name, str):
        raise MalformedEvent("ResourceName is not a string")
    return PartnerCenterEvent(
        event_name=name,
        resource_uri=uri,
        resource_name=resource_name or "",
        audit_uri=audit,
        resource_change_utc_date=changed,
    )


def _utc(text: str) -> datetime | None:
    """An ISO 8601 time as UTC (one without an offset is UTC, as the field's name says)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
