from tests.devhost.azurite_fixture import azurite

__all__ = ["azurite"]
