"""The certificate STARTTLS presents: a root made on first start (kept in the data folder,
so a client told to trust `ca.pem` keeps trusting it) and a server certificate for
127.0.0.1 and localhost. trustme builds both."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

CA_FILE = "ca.pem"


def server_context(data_dir: Path) -> tuple[ssl.SSLContext, Path]:
    """The server's TLS context and the path of the root clients should trust."""
    ca_cert, ca_key = data_dir / CA_FILE, data_dir / "ca.key.pem"
    if ca_cert.exists() and ca_key.exists():
        ca = trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name="cspflow mail sandbox")
        _write_private(ca_key, ca.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(ca_cert))
    leaf_cert, leaf_key = data_dir / "smtp.pem", data_dir / "smtp.key.pem"
    if not (leaf_cert.exists() and leaf_key.exists()):
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        _write_private(leaf_key, leaf.private_key_pem.bytes())
        leaf_cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(leaf_cert), str(leaf_key))
    return context, ca_cert


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
