"""The connectivity check's activities: one external system each.

Each takes its probe model, talks to its system through the same client the workflows use,
and returns a `CheckResult` saying what it saw. A refusal (bad credentials, forbidden, a
setting to fix) is a `PermanentError` and a technical failure (unreachable, timeout, 5xx) a
`TransientError`: the activity boundary turns them into the envelope the orchestrator reads
(activities/boundary.py), secrets removed.
"""

from __future__ import annotations

import contextlib
from itertools import islice

import azure.durable_functions as df
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)

from activities.boundary import ActivityContext, activity
from shared.errors import ConfigurationError, PermanentError, TransientError, first_line
from shared.models.connectivity import CheckResult, PartnerCenterProbe, StorageProbe, StripeProbe
from shared.partner_center import PartnerCenterClient
from shared.partner_center.transport import RetryPolicy
from shared.payments import StripePayments
from shared.storage import queue_service, table_name, table_service

bp = df.Blueprint()

# A check answers in seconds or reports; the Durable retry policy does the patient part.
QUICK = RetryPolicy(max_throttle_retries=2, max_wait_s=10.0, max_conflict_retries=0)


class StorageRefused(PermanentError):
    """Storage answered 401/403, or no identity could be had: the credentials in
    AzureWebJobsStorage are not accepted."""

    code = "storage_refused"


class StorageUnavailable(TransientError):
    """Storage could not be reached or failed: retry."""


@activity(bp)
def check_partner_center(probe: PartnerCenterProbe, ctx: ActivityContext) -> CheckResult:
    """A fresh client (so a token is really acquired through MSAL) reads one page of
    customers."""
    client = PartnerCenterClient.from_settings(ctx.settings, policy=QUICK)
    page = list(islice(client.list_customers(page_size=probe.page_size), probe.page_size))
    return CheckResult(
        name="partner_center",
        ok=True,
        detail=f"token acquired; {len(page)} customer(s) on the first page",
    )


@activity(bp)
def check_stripe(probe: StripeProbe, ctx: ActivityContext) -> CheckResult:
    """An authenticated read through the payments adapter: the first page of customers."""
    customers = StripePayments.from_settings(ctx.settings).list_customers(probe.page_size)
    return CheckResult(
        name="stripe",
        ok=True,
        detail=f"API key accepted; {len(customers)} customer(s) on the first page",
    )


@activity(bp)
def check_storage(probe: StorageProbe, ctx: ActivityContext) -> CheckResult:
    """Create, if missing, the table and the queue named in the probe (AzureWebJobsStorage)."""
    table = table_name(ctx.settings, probe.table)
    try:
        table_service(ctx.settings).create_table_if_not_exists(table)
        with contextlib.suppress(ResourceExistsError):
            queue_service(ctx.settings).create_queue(probe.queue)
    except ClientAuthenticationError as exc:  # no usable managed identity / az login
        raise StorageRefused(first_line(exc)) from exc
    except HttpResponseError as exc:
        if exc.status_code in (401, 403):  # the account refused the key or the identity
            code = getattr(exc, "error_code", None) or exc.reason  # set by the storage SDKs
            raise StorageRefused(f"{exc.status_code} {code}") from exc
        raise StorageUnavailable(f"{exc.status_code} {first_line(exc)}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnavailable(first_line(exc)) from exc
    except ValueError as exc:  # a malformed connection string: a setting to fix
        raise ConfigurationError(f"AzureWebJobsStorage: {first_line(exc)}") from exc
    return CheckResult(
        name="storage", ok=True, detail=f"table {table} and queue {probe.queue} ready"
    )
