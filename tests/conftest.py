"""The root of the suite: shared fixtures, registered as plugins for every folder.

- tests/fixtures/settings.py: settings reset around every test; `configure(...)`.
- tests/app_env.py: the app's environment pointing at real sandboxes and Azurite
  (`app_env`, `app_values`, and the sandbox fixtures they build on).
"""

pytest_plugins = ["tests.fixtures.settings", "tests.app_env"]
