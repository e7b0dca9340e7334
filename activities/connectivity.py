"""The connectivity check's activities: one external system each.

Each takes its probe model, talks to its system through the same client the workflows use,
and returns a `CheckResult`:
- ok, with the latency and what it saw;
- not ok ("refused") when the system answered no (bad credentials, forbidden, bad
  settings): retrying cannot help, so it is a result, not an exception;
- a technical failure (unreachable, timeout, 5xx) raises `CheckUnavailable`, so
  `call_activity_with_retry` tries again and the orchestrator reports what the last try said.
Every message leaving an activity has the configured secrets cut out first.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
)
from pydantic import ValidationError

from shared.config import Settings, get_settings
from shared.models.connectivity import (
    CheckName,
    CheckResult,
    PartnerCenterProbe,
    StorageProbe,
    StripeProbe,
)
from shared.partner_center import AuthError, BusinessError, PartnerCenterClient, RetryableError
from shared.partner_center.transport import RetryPolicy
from shared.payments import PaymentRejected, PaymentsUnavailable, StripePayments
from shared.storage import queue_service, table_name, table_service

bp = df.Blueprint()
log = logging.getLogger(__name__)

# A check answers in seconds or reports; the Durable retry policy does the patient part.
QUICK = RetryPolicy(max_throttle_retries=2, max_wait_s=10.0, max_conflict_retries=0)
MAX_DETAIL = 500


class CheckUnavailable(Exception):
    """A technical failure talking to the system under check: retry the activity."""


class StorageRefused(Exception):
    """Storage answered 401/403: the credentials in AzureWebJobsStorage are not accepted."""


@bp.activity_trigger(input_name="probe")
def check_partner_center(probe: dict[str, Any]) -> dict[str, Any]:
    """A fresh client (so a token is really acquired through MSAL) reads one page of
    customers."""
    request = PartnerCenterProbe.model_validate(probe)

    def read(settings: Settings) -> str:
        client = PartnerCenterClient.from_settings(settings, policy=QUICK)
        page = list(islice(client.list_customers(page_size=request.page_size), request.page_size))
        return f"token acquired; {len(page)} customer(s) on the first page"

    return _run(
        "partner_center", read, refused=(AuthError, BusinessError), technical=(RetryableError,)
    )


@bp.activity_trigger(input_name="probe")
def check_stripe(probe: dict[str, Any]) -> dict[str, Any]:
    """An authenticated read through the payments adapter: the first page of customers."""
    request = StripeProbe.model_validate(probe)

    def read(settings: Settings) -> str:
        customers = StripePayments.from_settings(settings).list_customers(request.page_size)
        return f"API key accepted; {len(customers)} customer(s) on the first page"

    return _run(
        "stripe", read, refused=(PaymentRejected, ValueError), technical=(PaymentsUnavailable,)
    )


@bp.activity_trigger(input_name="probe")
def check_storage(probe: dict[str, Any]) -> dict[str, Any]:
    """Create, if missing, the table and the queue named in the probe (AzureWebJobsStorage)."""
    request = StorageProbe.model_validate(probe)

    def ensure(settings: Settings) -> str:
        table = table_name(settings, request.table)
        try:
            table_service(settings).create_table_if_not_exists(table)
            with contextlib.suppress(ResourceExistsError):
                queue_service(settings).create_queue(request.queue)
        except ClientAuthenticationError as exc:  # no usable managed identity / az login
            raise StorageRefused(_first_line(exc)) from exc
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):  # the account refused the key or the identity
                code = getattr(exc, "error_code", None) or exc.reason  # set by the storage SDKs
                raise StorageRefused(f"{exc.status_code} {code}") from exc
            raise
        return f"table {table} and queue {request.queue} ready"

    # A malformed connection string is a ValueError from the SDK: a setting to fix.
    return _run("storage", ensure, refused=(StorageRefused, ValueError), technical=(AzureError,))


def _run(
    name: CheckName,
    probe: Callable[[Settings], str],
    *,
    refused: tuple[type[Exception], ...],
    technical: tuple[type[Exception], ...],
) -> dict[str, Any]:
    try:
        settings = get_settings()
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        return _result(name, None, f"invalid settings: {', '.join(fields)}", failure="refused")
    started = time.perf_counter()
    try:
        detail = probe(settings)
    except refused as exc:
        return _result(name, started, _describe(exc, settings), failure="refused")
    except technical as exc:
        message = _describe(exc, settings)
        log.warning("connectivity check %s: %s", name, message)
        raise CheckUnavailable(message) from None  # the cause may quote a secret
    return _result(name, started, detail)


def _result(
    name: CheckName, started: float | None, detail: str, *, failure: str | None = None
) -> dict[str, Any]:
    latency = None if started is None else round((time.perf_counter() - started) * 1000)
    return CheckResult.model_validate(
        {
            "name": name,
            "ok": failure is None,
            "latency_ms": latency,
            "detail": detail[:MAX_DETAIL],
            "failure": failure,
        }
    ).model_dump(mode="json")


def _describe(exc: Exception, settings: Settings) -> str:
    """`Type: first line of the message`, secrets cut out (SDK messages can run to pages)."""
    return redact(f"{type(exc).__name__}: {_first_line(exc)}", settings)[:MAX_DETAIL]


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


def redact(text: str, settings: Settings) -> str:
    """`text` with every configured secret (and each part of the storage connection
    string that holds a key or token) replaced by `***`."""
    connection = settings.storage_connection.get_secret_value()
    secrets = [
        settings.partner_center_client_secret.get_secret_value(),
        settings.partner_center_refresh_token.get_secret_value(),
        settings.stripe_api_key.get_secret_value(),
        *(s.get_secret_value() for s in settings.stripe_webhook_secrets),
        connection,
        *(
            part.split("=", 1)[1]
            for part in connection.split(";")
            if part.lower().startswith(("accountkey=", "sharedaccesssignature="))
        ),
    ]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
