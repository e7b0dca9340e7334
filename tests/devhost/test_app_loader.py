"""devhost.app: indexing a v2-model app the way the Python worker does."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devhost.app import AppLoadError, FunctionNotFoundError, load_app


def test_blueprint_functions_are_registered_under_their_trigger_names(
    app_path: Callable[[str], Path],
) -> None:
    app = load_app(app_path("blueprints"))
    assert list(app.orchestrators) == ["Greeter"]
    assert list(app.activities) == ["Shout"]
    assert list(app.entities) == ["Tally"]
    assert app.orchestrators["greeter"].function.get_function_name() == "greeter_impl"


def test_durable_names_are_looked_up_ignoring_case(app_path: Callable[[str], Path]) -> None:
    app = load_app(app_path("blueprints"))
    assert app.activities["SHOUT"] is app.activities["shout"]
    assert "gReEtEr" in app.orchestrators


def test_http_timer_and_queue_functions_are_listed_for_the_front(
    app_path: Callable[[str], Path],
) -> None:
    app = load_app(app_path("blueprints"))
    assert [f.get_function_name() for f in app.http_functions] == ["ping"]
    assert [f.get_function_name() for f in app.timer_functions] == ["sweep"]
    assert [f.get_function_name() for f in app.queue_functions] == ["intake"]


def test_loading_does_not_depend_on_the_current_directory(
    app_path: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = load_app(os.path.relpath(app_path("chaining"), tmp_path))
    assert app.root == app_path("chaining").resolve()
    assert list(app.orchestrators) == ["hello_sequence"]


def test_an_unknown_function_name_says_what_the_app_defines(
    app_path: Callable[[str], Path],
) -> None:
    app = load_app(app_path("chaining"))
    with pytest.raises(FunctionNotFoundError, match=r"'nope' doesn't exist.*say_hello"):
        app.activities["nope"]


def test_host_json_durable_settings_are_read(app_path: Callable[[str], Path]) -> None:
    app = load_app(app_path("versioning"))
    assert app.durable_settings["defaultVersion"] == "2.0"


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("malformed_two_apps", "several function apps"),
        ("malformed_none", "defines no FunctionApp"),
        ("does_not_exist", "does not exist"),
    ],
)
def test_a_malformed_app_is_refused_with_the_reason(
    app_path: Callable[[str], Path], app: str, message: str
) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_app(app_path(app))


def test_a_script_that_fails_to_import_names_the_error(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import no_such_module_here\n")
    with pytest.raises(AppLoadError, match="ModuleNotFoundError"):
        load_app(tmp_path)


def test_a_broken_host_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as f\napp = f.FunctionApp()\n"
    )
    (tmp_path / "host.json").write_text("{not json")
    with pytest.raises(AppLoadError, match=r"host\.json is not valid JSON"):
        load_app(tmp_path)


def test_the_script_name_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "main_app.py").write_text("import azure.functions as f\napp = f.FunctionApp()\n")
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "main_app.py")
    assert load_app(tmp_path).functions == []
