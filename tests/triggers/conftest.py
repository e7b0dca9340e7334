from tests.app_env import app_env, app_values, azurite_service, clock, pc, pc_keys, sandbox

__all__ = ["app_env", "app_values", "azurite_service", "clock", "pc", "pc_keys", "sandbox"]
