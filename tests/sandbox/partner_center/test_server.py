"""The sandbox's lifecycle: a stop always stops, whatever the background loop is doing."""

import asyncio
import shutil
from pathlib import Path

from sandbox.partner_center.server import PartnerCenterSandbox, SandboxConfig
from tests.sandbox.partner_center.harness import KEY_FILES


def test_a_stop_right_after_an_engine_event_still_stops(tmp_path: Path, pc_keys: Path) -> None:
    # An API call that raises an event wakes the ticker; a stop in the same loop turn must
    # still end it (3.11's wait_for swallowed that cancel and stop_async waited forever).
    for name in KEY_FILES:
        shutil.copy2(pc_keys / name, tmp_path / name)
    sandbox = PartnerCenterSandbox(SandboxConfig(data_dir=tmp_path, tick_s=60))

    async def scenario() -> bool:
        await sandbox.start_async()
        await asyncio.sleep(0.2)  # the first tick is done: the ticker waits for a wake
        sandbox.pc.notifier.on_event()
        stopping = asyncio.ensure_future(sandbox.stop_async())
        # A generous bound: a stop takes milliseconds; only a hang reaches it.
        done, _ = await asyncio.wait({stopping}, timeout=20)
        if not done:  # leave nothing running behind the failure
            stopping.cancel()
            await asyncio.gather(stopping, return_exceptions=True)
        return bool(done)

    assert asyncio.run(scenario()), "stop_async never returned"
