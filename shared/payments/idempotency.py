"""Idempotency keys derived from the workflow step, so a retried activity never writes twice.

The caller passes a step key that is stable across retries of the same step (the
orchestration instance id plus the step name, say). Each Stripe write inside that step gets
its own key, derived from the step key and the operation, so one step may make several writes
(create an invoice, add its lines, finalize, pay) and each is replayed, not repeated.
Stripe keeps keys for at least 24 hours (https://docs.stripe.com/api/idempotent_requests).
"""

from __future__ import annotations

import hashlib

MAX_STRIPE_KEY = 255  # Stripe's limit on Idempotency-Key


def derive_key(step_key: str, operation: str) -> str:
    """`cspflow-<operation>-<sha256(step, operation)>`: deterministic, short, no PII."""
    if not step_key.strip():
        raise ValueError("a step key is required for every Stripe write")
    if not operation or len(operation) > 64:
        raise ValueError("operation must be 1..64 characters")
    digest = hashlib.sha256(f"{step_key}\x1f{operation}".encode()).hexdigest()
    key = f"cspflow-{operation}-{digest}"
    assert len(key) <= MAX_STRIPE_KEY
    return key
