"""Delivering webhook events as Partner Center does
(https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks).

Each POST carries the raw JSON event, `Authorization: Signature <base64 RSA-SHA256 of the
body>` (or `x-ms-signature` when the registration asks for it), `x-ms-certificate-url`
pointing at the sandbox's published signing certificate and
`x-ms-signature-algorithm: rsa-sha256`. Ten attempts, then the event goes to the offline
queue and is not retried. Microsoft does not document the intervals; the sandbox waits
1, 2, 4, ... 256 minutes on its clock between attempts, so a virtual clock drives retries.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.partner_center import rules
from sandbox.partner_center.context import Ctx

MAX_ATTEMPTS = 10
CERT_PATH = "/cert/pcnotifications-dispatch.microsoft.com.cer"


def retry_delay(attempts_made: int) -> timedelta:
    return timedelta(minutes=2 ** (attempts_made - 1))


def sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


class Dispatcher:
    def __init__(self, pc: Ctx, key: rsa.RSAPrivateKey, cert_url: str) -> None:
        self._pc = pc
        self._key = key
        self._cert_url = cert_url

    async def deliver_due(self, session: aiohttp.ClientSession, now: datetime) -> int:
        """Attempt every event due at `now`; the number attempted."""
        store = self._pc.store
        due = store.due(rules.iso(now))
        registration = self._pc.notifier.registration()
        for seq, body, attempts in due:
            if registration is None:
                store.attempted(seq, None, "dropped", None)
                continue
            signature = sign(self._key, body)
            headers = {
                "Content-Type": "application/json",
                "x-ms-certificate-url": self._cert_url,
                "x-ms-signature-algorithm": "rsa-sha256",
            }
            if registration.get("SignatureTokenToMsSignatureHeader"):
                headers["x-ms-signature"] = f"Signature {signature}"
            else:
                headers["Authorization"] = f"Signature {signature}"
            status: int | None
            message = ""
            try:
                async with session.post(
                    registration["WebhookUrl"],
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    status = resp.status
                    message = resp.reason or ""
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, message = None, type(exc).__name__
            made = attempts + 1
            if status is not None and 200 <= status < 300:
                store.attempted(seq, status, "delivered", None)
            elif made >= MAX_ATTEMPTS:
                store.attempted(seq, status, "offline", None)
            else:
                store.attempted(seq, status, "pending", rules.iso(now + retry_delay(made)))
            self._record_validation(body, status, message, now)
        return len(due)

    def _record_validation(
        self, body: bytes, status: int | None, message: str, now: datetime
    ) -> None:
        event = json.loads(body)
        if event.get("EventName") != "test-created":
            return
        correlation_id = str(event["ResourceUri"]).rsplit("/", 1)[-1]
        record = self._pc.store.get("validation", correlation_id)
        if record is None:
            return
        record["status"] = "completed" if status is not None and status < 300 else "failed"
        record["results"].append(
            {
                "responseCode": str(status) if status is not None else "",
                "responseMessage": message,
                "systemError": "" if status is not None else message,
                "dateTimeUtc": rules.iso(now),
            }
        )
        self._pc.store.put("validation", correlation_id, record)
