"""Queue consumers: the intake queues' events acted on once (docs/intake.md).

- routing.py: the routing table, one row per event type: what the book gets and which
  workflow is started or signalled;
- consumer.py: the consumers (seen? act, record), exactly once, poison alerts.

`bp` is the product's: it starts and signals only the orchestrators `workflows.BLUEPRINTS`
registers; the steps for any other workflow are kept in the book.
"""

from triggers.queues.consumer import intake_blueprint
from workflows import BLUEPRINTS as WORKFLOW_BLUEPRINTS
from workflows.durable import orchestrator_names

bp = intake_blueprint(orchestrators=lambda: orchestrator_names(WORKFLOW_BLUEPRINTS))

__all__ = ["bp", "intake_blueprint"]
