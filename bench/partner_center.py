"""Partner Center client and sandbox: what the client's retry rules cost.

Peers, measured in the same run on the same sandbox:
- one read through PartnerCenterClient (MSAL token cache, typed model) against the same
  GET sent with bare `requests` and a fixed token;
- a 500-write storm at a 30% 429 rate (Retry-After 20 ms) against the same 500 writes
  with no throttling.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.table import print_table
from shared.partner_center import PartnerCenterClient, request_id_for
from shared.partner_center.models import CartLine
from tests.sandbox.partner_center.harness import BASIC, Harness, key_template, start_harness

OUT = Path(__file__).parent / "out" / "partner_center.json"
READS = 300
WRITES = 500


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run() -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        keys = key_template(Path(tmp) / "keys")
        keygen_s = time.perf_counter() - started
        pc = start_harness(keys, Path(tmp) / "pc")
        try:
            rows = [{"case": "sandbox key generation (first start)", "seconds": round(keygen_s, 3)}]
            rows += _reads(pc)
            rows += _storm(pc)
        finally:
            pc.sandbox.stop()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2))
    print("Partner Center client over real HTTPS + MSAL against the sandbox")
    print_table(rows)
    return rows


def _reads(pc: Harness) -> list[dict[str, object]]:
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    token = pc.app_token()
    url = f"{pc.base_url}/v1/customers/{customer_id}/subscriptions/{sid}"
    session = requests.Session()
    bare, typed = [], []
    for _ in range(READS):
        t = time.perf_counter()
        session.get(
            url, headers={"Authorization": f"Bearer {token}"}, verify=str(pc.sandbox.ca_pem)
        )
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        pc.client.get_subscription(customer_id, sid)
        typed.append(time.perf_counter() - t)
    p50_bare, p50_typed = statistics.median(bare), statistics.median(typed)
    return [
        {"case": "GET subscription, bare requests", "p50_ms": round(p50_bare * 1000, 2),
         "p95_ms": round(_percentile(bare, 0.95) * 1000, 2)},
        {"case": "GET subscription, PartnerCenterClient", "p50_ms": round(p50_typed * 1000, 2),
         "p95_ms": round(_percentile(typed, 0.95) * 1000, 2),
         "ratio_to_bare": round(p50_typed / p50_bare, 2)},
    ]  # fmt: skip


def _storm(pc: Harness) -> list[dict[str, object]]:
    customer_id = pc.customer()
    line = CartLine(catalog_item_id=BASIC, quantity=1, term_duration="P1M", billing_cycle="monthly")
    client = PartnerCenterClient.from_settings(pc.settings, sleep=time.sleep)

    def writes(tag: str) -> float:
        def one(i: int) -> None:
            client.create_cart(customer_id, [line], request_id=request_id_for(tag, str(i)))

        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, range(WRITES)))
        return time.perf_counter() - t

    calm = writes(f"calm-{uuid.uuid4()}")
    pc.faults(throttle_rate=0.3, retry_after_ms=20)
    before = pc.state()["stats"]["throttled"]
    stormy = writes(f"storm-{uuid.uuid4()}")
    throttled = pc.state()["stats"]["throttled"] - before
    return [
        {"case": f"{WRITES} writes, no throttling", "seconds": round(calm, 2),
         "writes_per_s": round(WRITES / calm, 1)},
        {"case": f"{WRITES} writes, 30% 429 (Retry-After 20 ms)", "seconds": round(stormy, 2),
         "writes_per_s": round(WRITES / stormy, 1), "throttled": throttled,
         "ratio_to_calm": round(stormy / calm, 2)},
    ]  # fmt: skip


if __name__ == "__main__":
    run()
