"""MS-RequestId values derived from the calling workflow step.

Partner Center treats `MS-RequestId` as the idempotency key: retry with the same value
after a timeout, use a new one for a new operation (Microsoft Learn,
https://learn.microsoft.com/en-us/partner-center/developer/headers). Deriving it from the
orchestration instance id and the step name makes an activity retry, or a replayed
orchestration, send the same id, while two different steps never collide.
"""

from __future__ import annotations

import uuid

# A fixed namespace so the same (instance, step) maps to the same id in every process.
NAMESPACE = uuid.UUID("0b7c6f1e-3f52-4a8e-9d7e-5c2a1d4b8e90")


def request_id_for(instance_id: str, step: str) -> str:
    if not instance_id or not step:
        raise ValueError("instance_id and step are both required")
    return str(uuid.uuid5(NAMESPACE, f"{instance_id}\x1f{step}"))
