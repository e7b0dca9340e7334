from tests.triggers.intake_world import world

__all__ = ["world"]
