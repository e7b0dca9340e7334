"""Webhook receivers: Partner Center and Stripe events verified, queued and answered at once
(docs/intake.md). Both routes are anonymous: the signature is the authentication.

- partner_center.py: `POST /api/webhooks/partner-center`
- stripe.py: `POST /api/webhooks/stripe`
- receive.py: the blueprint, the answer, refusals (counted and logged, never the body)
"""

from triggers.webhooks import partner_center, stripe
from triggers.webhooks.receive import bp, refused_counts

__all__ = ["bp", "partner_center", "refused_counts", "stripe"]
