"""A test app around the renewal workflow (not the product's function_app): the product's
renewal orchestrator and activities, the Partner Center subscription activities and the SLA
signal activity, and a checkpoint that SIGKILLs the whole host at the points the environment
names.

RENEWAL_KILLS: the kills to make, in order: `mailed` (a reminder was handed to the mail
relay, not yet marked sent), `applied` (Partner Center accepted auto-renew off, the renewal
not yet marked applied).
RENEWAL_KILL_LOG: a file where each kill is written just before it happens, so the next run
knows which kills are done and the test can read them.
"""

import os
import signal
import threading
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities.renewals import bp as renewal_activities
from activities.sla_clocks import bp as sla_activities
from activities.subscriptions import bp as subscription_activities
from shared.notifications import transport
from shared.partner_center import client
from workflows.renewals import bp as renewal_workflows

_lock = threading.Lock()


def checkpoint(step: str) -> None:
    plan = [s for s in os.environ.get("RENEWAL_KILLS", "").split(",") if s]
    log = Path(os.environ["RENEWAL_KILL_LOG"])
    with _lock:
        done = log.read_text().splitlines() if log.exists() else []
        if len(done) >= len(plan) or plan[len(done)] != step:
            return
        with log.open("a") as fh:
            fh.write(f"{step}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


_auto_renew = client.PartnerCenterClient.set_auto_renew
_send = transport.SmtpTransport.send


def auto_renew_then_maybe_die(self: Any, *args: Any, **kwargs: Any) -> Any:
    outcome = _auto_renew(self, *args, **kwargs)
    checkpoint("applied")
    return outcome


def send_then_maybe_die(self: Any, message: Any) -> str:
    sent = _send(self, message)
    checkpoint("mailed")
    return sent


client.PartnerCenterClient.set_auto_renew = auto_renew_then_maybe_die  # type: ignore[method-assign]
transport.SmtpTransport.send = send_then_maybe_die  # type: ignore[method-assign]

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(renewal_workflows)
app.register_functions(renewal_activities)
app.register_functions(subscription_activities)
app.register_functions(sla_activities)
