"""A throttling storm: 500 writes against a sandbox answering 30% of calls with 429."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from shared.partner_center import PartnerCenterClient, request_id_for
from shared.partner_center.models import CartLine
from shared.partner_center.transport import RetryPolicy
from tests.sandbox.partner_center.harness import BASIC

CALLS = 500
RETRY_AFTER_MS = 20


def test_500_calls_at_a_30_percent_429_rate_all_complete_after_retry_after_with_no_duplicate_writes(
    pc,
):
    customer_id = pc.customer()
    waits: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            waits.append(seconds)
        time.sleep(seconds)

    client = PartnerCenterClient.from_settings(
        pc.settings, policy=RetryPolicy(max_throttle_retries=20), sleep=sleep
    )
    client.list_products("US")  # one token for all threads before the storm
    before = pc.state()
    pc.faults(throttle_rate=0.3, retry_after_ms=RETRY_AFTER_MS)
    line = CartLine(catalog_item_id=BASIC, quantity=1, term_duration="P1M", billing_cycle="monthly")

    def one(i: int) -> str:
        return client.create_cart(
            customer_id, [line], request_id=request_id_for("storm", f"cart-{i}")
        ).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        carts = list(pool.map(one, range(CALLS)))

    after = pc.state()
    stats = after["stats"]
    assert len(set(carts)) == CALLS
    # Every write was processed exactly once: 429s are answered before any write.
    assert after["counts"]["cart"] - before["counts"]["cart"] == CALLS
    assert stats["writes"] - before["stats"]["writes"] == CALLS
    throttled = stats["throttled"] - before["stats"]["throttled"]
    assert throttled > 0.2 * CALLS
    assert len(waits) == throttled
    # Retry-After honoured: no retry came back before its advertised time...
    assert stats["early_retries"] == 0
    # ...and every wait was at least what the sandbox advertised.
    assert min(waits) >= RETRY_AFTER_MS / 1000
