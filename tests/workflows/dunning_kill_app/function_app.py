"""A test app around the dunning workflow (not the product's function_app): the product's
dunning orchestrator and activities, the SLA signal activity, and a checkpoint that SIGKILLs
the whole host at the points the environment names.

DUNNING_KILLS: the kills to make, in order: `mailed` (a notice's message was handed to the
relay, not yet marked sent), `charged` (Stripe charged the invoice, the case not yet updated).
DUNNING_KILL_LOG: a file where each kill is written just before it happens, so the next run
knows which kills are done and the test can read them.
"""

import os
import signal
import threading
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities.dunning import bp as dunning_activities
from activities.sla_clocks import bp as sla_activities
from shared.notifications import transport
from shared.payments import client
from workflows.dunning import bp as dunning_workflows

_lock = threading.Lock()


def checkpoint(step: str) -> None:
    plan = [s for s in os.environ.get("DUNNING_KILLS", "").split(",") if s]
    log = Path(os.environ["DUNNING_KILL_LOG"])
    with _lock:
        done = log.read_text().splitlines() if log.exists() else []
        if len(done) >= len(plan) or plan[len(done)] != step:
            return
        with log.open("a") as fh:
            fh.write(f"{step}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


_pay = client.StripePayments.pay_invoice
_send = transport.SmtpTransport.send


def pay_then_maybe_die(self: Any, *args: Any, **kwargs: Any) -> Any:
    outcome = _pay(self, *args, **kwargs)
    checkpoint("charged")
    return outcome


def send_then_maybe_die(self: Any, message: Any) -> str:
    sent = _send(self, message)
    checkpoint("mailed")
    return sent


client.StripePayments.pay_invoice = pay_then_maybe_die  # type: ignore[method-assign]
transport.SmtpTransport.send = send_then_maybe_die  # type: ignore[method-assign]

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(dunning_workflows)
app.register_functions(dunning_activities)
app.register_functions(sla_activities)
