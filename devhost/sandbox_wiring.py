"""What `make run` tells the app about each sandbox: the settings that connect it.

The Partner Center sandbox generates its tenant, app registration, refresh token and CA on
first start and writes them to `<data>/connection.json`; they are read from there after it
announces `ready`. The mail sandbox does the same with its SMTP port, the root its STARTTLS
certificate chains to and the AUTH credentials it made. The Stripe sandbox accepts any `sk_test_` key and signs webhooks with the
secrets it is given, so the stack makes a key and a secret on first use and keeps them in
`<data>/credentials.json` (mode 0600): a restart reuses them, so idempotency keys the app
sent before still replay and events queued for retry still verify.

Values travel to devhost through its environment only (which wins over local.settings.json);
nothing here prints them.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# Where cspflow's webhook triggers listen (event intake): each sandbox delivers there.
STRIPE_WEBHOOK_ROUTE = "webhooks/stripe"
# The Stripe events cspflow acts on (docs/intake.md), and so the only ones its endpoint is
# registered for, as Stripe advises (https://docs.stripe.com/webhooks#best-practices): the
# others would each cost the host a delivery, a queue message and a record, for nothing.
# devhost imports nothing of the app: tests/devhost/test_sandbox_wiring.py keeps this list
# equal to the app's routing table.
STRIPE_WEBHOOK_EVENTS = (
    "charge.dispute.created",
    "checkout.session.completed",
    "invoice.overdue",
    "invoice.paid",
    "invoice.payment_failed",
    "payment_method.attached",
    "payment_method.automatically_updated",
)
PARTNER_CENTER_WEBHOOK_ROUTE = "webhooks/partner-center"
CONNECTION_FILE = "connection.json"
CREDENTIALS_FILE = "credentials.json"


class WiringError(RuntimeError):
    """A sandbox came up without what the app needs to reach it."""


def partner_center_settings(data_dir: Path) -> dict[str, str]:
    """App settings for the Partner Center sandbox whose state is in `data_dir`."""
    path = data_dir / CONNECTION_FILE
    try:
        info = json.loads(path.read_text())
        base_url: str = info["baseUrl"]
        tenant_id: str = info["tenantId"]
        values = {
            "CSPFLOW_PARTNER_CENTER_BASE_URL": base_url,
            "CSPFLOW_PARTNER_CENTER_GRAPH_BASE_URL": base_url,
            # It serves the Partner API's price sheet on the same host.
            "CSPFLOW_PARTNER_CENTER_PRICING_BASE_URL": base_url,
            "CSPFLOW_PARTNER_CENTER_AUTHORITY": f"{base_url}/{tenant_id}",
            "CSPFLOW_PARTNER_CENTER_TENANT_ID": tenant_id,
            "CSPFLOW_PARTNER_CENTER_CLIENT_ID": info["clientId"],
            "CSPFLOW_PARTNER_CENTER_CLIENT_SECRET": info["clientSecret"],
            "CSPFLOW_PARTNER_CENTER_REFRESH_TOKEN": info["refreshToken"],
            "CSPFLOW_PARTNER_CENTER_CA_BUNDLE": info["caBundle"],
            # Its webhooks are signed by a certificate served under <base>/cert/ that chains
            # to the same generated CA.
            "CSPFLOW_PARTNER_CENTER_WEBHOOK_CERT_URL_PREFIXES": info["certificateUrl"].rsplit(
                "/", 1
            )[0]
            + "/",
            "CSPFLOW_PARTNER_CENTER_WEBHOOK_TRUST_BUNDLE": info["caBundle"],
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WiringError(
            f"the Partner Center sandbox is ready but {path} is missing or incomplete ({exc!r}); "
            f"delete {data_dir} to let it generate a new one"
        ) from exc
    return values


def partner_center_args(devhost_url: str) -> list[str]:
    """The Partner Center sandbox's options: deliver every documented event to cspflow's
    webhook route (what `POST /api/ops/webhooks/partner-center` would register)."""
    return ["--webhook-url", f"{devhost_url}/api/{PARTNER_CENTER_WEBHOOK_ROUTE}"]


@dataclass(frozen=True)
class StripeCredentials:
    api_key: str
    webhook_secret: str


def stripe_credentials(data_dir: Path) -> StripeCredentials:
    """The key the app uses and the secret the sandbox signs with; made once, then reused."""
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        try:
            info = json.loads(path.read_text())
            return StripeCredentials(info["apiKey"], info["webhookSecret"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WiringError(
                f"{path} is unreadable ({exc!r}); delete it to make new ones"
            ) from exc
    credentials = StripeCredentials(
        api_key=f"sk_test_{secrets.token_hex(24)}",
        webhook_secret=f"whsec_{secrets.token_hex(32)}",
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: the secret is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"apiKey": credentials.api_key, "webhookSecret": credentials.webhook_secret}, f)
    return credentials


def stripe_settings(base_url: str, credentials: StripeCredentials) -> dict[str, str]:
    return {
        "CSPFLOW_STRIPE_API_BASE": base_url,
        "CSPFLOW_STRIPE_API_KEY": credentials.api_key,
        "CSPFLOW_STRIPE_WEBHOOK_SECRETS": credentials.webhook_secret,
    }


def stripe_args(credentials: StripeCredentials, devhost_url: str) -> list[str]:
    """The Stripe sandbox's options: deliver the events cspflow acts on to its webhook route,
    signed with the secret the app verifies with. Passed on the command line of a child
    process only."""
    return [
        "--webhook-url",
        f"{devhost_url}/api/{STRIPE_WEBHOOK_ROUTE}",
        "--webhook-secret",
        credentials.webhook_secret,
        "--webhook-events",
        ",".join(STRIPE_WEBHOOK_EVENTS),
    ]


def mail_settings(data_dir: Path) -> dict[str, str]:
    """App settings for the mail sandbox whose state is in `data_dir`: SMTP with STARTTLS
    and AUTH, as against a production relay."""
    path = data_dir / CONNECTION_FILE
    try:
        info = json.loads(path.read_text())
        values = {
            "CSPFLOW_MAIL_TRANSPORT": "smtp",
            "CSPFLOW_SMTP_HOST": str(info["smtpHost"]),
            "CSPFLOW_SMTP_PORT": str(int(info["smtpPort"])),
            "CSPFLOW_SMTP_STARTTLS": "true" if info["starttls"] else "false",
        }
        if info.get("caBundle"):
            values["CSPFLOW_SMTP_CA_BUNDLE"] = str(info["caBundle"])
        if info.get("username"):
            values["CSPFLOW_SMTP_USERNAME"] = str(info["username"])
            values["CSPFLOW_SMTP_PASSWORD"] = str(info["password"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WiringError(
            f"the mail sandbox is ready but {path} is missing or incomplete ({exc!r}); "
            f"delete {data_dir} to let it generate a new one"
        ) from exc
    return values


def mail_args(smtp_port: int) -> list[str]:
    """The mail sandbox's options under `make run`: STARTTLS and AUTH required."""
    return ["--smtp-port", str(smtp_port), "--starttls", "--require-auth"]
