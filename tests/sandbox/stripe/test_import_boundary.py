"""The Stripe sandbox stands in for Stripe, so it imports nothing of the app it serves.

An import of `shared/`, `triggers/`, `workflows/` or `activities/` would let the sandbox
drift with the app (it would agree with cspflow's bugs instead of with Stripe) and would make
`python -m sandbox stripe` depend on the app's packages. Where the two must agree (a metadata
key of the demo seed), the test below holds the sandbox's own copy equal to the app's.
"""

import ast
import subprocess
import sys
from pathlib import Path

APP_PACKAGES = ("shared", "triggers", "workflows", "activities", "function_app")
ROOT = Path(__file__).resolve().parents[3]


def _app_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found += [n for n in names if n.split(".")[0] in APP_PACKAGES]
    return found


def test_no_module_of_the_stripe_sandbox_imports_the_app():
    offenders = {
        str(path.relative_to(ROOT)): hits
        for path in sorted((ROOT / "sandbox" / "stripe").rglob("*.py"))
        if (hits := _app_imports(path))
    }
    assert offenders == {}


def test_the_scan_sees_an_app_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import shared.clock\nfrom workflows import dunning\n"
        "from .local import x\nimportlib.import_module('activities.pay')\n"
    )
    assert _app_imports(sample) == ["shared.clock", "workflows", "activities.pay"]


def test_starting_the_sandbox_loads_no_app_package():
    """What the AST scan cannot see (an import through a sandbox/common module, say)."""
    code = (
        "import sys\n"
        "import sandbox.stripe.cli, sandbox.stripe.server, sandbox.stripe.seed\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {APP_PACKAGES!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_seeds_customer_key_is_the_one_cspflow_reads():
    from sandbox.stripe.seed import PARTNER_CUSTOMER_KEY as SANDBOX_KEY
    from shared.payments import PARTNER_CUSTOMER_KEY as APP_KEY

    assert SANDBOX_KEY == APP_KEY
