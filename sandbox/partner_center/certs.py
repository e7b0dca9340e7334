"""Key material the sandbox generates on first start and keeps in its data folder.

- `ca.pem`: the sandbox's root. Clients trust it through `partner_center_ca_bundle` (HTTPS)
  and webhook receivers inject it as their certificate trust anchor (callback signatures).
- the HTTPS server certificate for 127.0.0.1 / localhost.
- the webhook signing certificate, published at the sandbox's certificate URL like
  Microsoft's `pcnotifications-dispatch.microsoft.com.cer`, with `O=Microsoft Corporation`
  so the receiver's organisation check runs unchanged; it only verifies for a receiver that
  was told to trust this sandbox's root.
- the RSA key that signs access tokens (its public half is served as the JWKS).

trustme builds the certificates (a well-kept library made for exactly this) and
`CA.from_pem` lets a later start reuse the same root, so a client configured earlier keeps
trusting the sandbox.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ORGANIZATION = "Microsoft Corporation"
SIGNING_CERT_NAME = "pcnotifications-dispatch.microsoft.com"


@dataclass(frozen=True)
class SandboxKeys:
    ca_pem_path: Path
    ssl_context: ssl.SSLContext
    signing_key: rsa.RSAPrivateKey
    signing_cert_der: bytes
    token_key: rsa.RSAPrivateKey


def load_or_create(data_dir: Path) -> SandboxKeys:
    ca_cert = data_dir / "ca.pem"
    ca_key = data_dir / "ca.key.pem"
    if ca_cert.exists() and ca_key.exists():
        ca = trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name=ORGANIZATION, key_type=trustme.KeyType.RSA)
        _write_private(ca_key, ca.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(ca_cert))

    server = _leaf(data_dir, "server", ca, "127.0.0.1", "localhost", organization=None)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(server[0]), str(server[1]))

    signing_cert_path, signing_key_path = _leaf(
        data_dir, "webhook-signing", ca, SIGNING_CERT_NAME, organization=ORGANIZATION
    )
    signing_cert = x509.load_pem_x509_certificate(signing_cert_path.read_bytes())
    signing_key = _load_rsa(signing_key_path.read_bytes())

    token_key_path = data_dir / "token-signing.key.pem"
    if token_key_path.exists():
        token_key = _load_rsa(token_key_path.read_bytes())
    else:
        token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(
            token_key_path,
            token_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    return SandboxKeys(
        ca_pem_path=ca_cert,
        ssl_context=context,
        signing_key=signing_key,
        signing_cert_der=signing_cert.public_bytes(serialization.Encoding.DER),
        token_key=token_key,
    )


def _leaf(
    data_dir: Path, stem: str, ca: trustme.CA, *names: str, organization: str | None
) -> tuple[Path, Path]:
    cert_path = data_dir / f"{stem}.pem"
    key_path = data_dir / f"{stem}.key.pem"
    if not (cert_path.exists() and key_path.exists()):
        leaf = ca.issue_cert(*names, organization_name=organization, key_type=trustme.KeyType.RSA)
        cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        _write_private(key_path, leaf.private_key_pem.bytes())
    return cert_path, key_path


def _load_rsa(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("expected an RSA private key")
    return key


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)
