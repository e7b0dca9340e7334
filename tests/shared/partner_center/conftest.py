# The client is tested against the sandbox: the same fixtures.
from tests.sandbox.partner_center.conftest import make_pc, pc, pc_keys, receiver

__all__ = ["make_pc", "pc", "pc_keys", "receiver"]
