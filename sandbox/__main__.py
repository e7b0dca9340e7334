"""`python -m sandbox NAME [options]`: start one local simulator.

Each simulator lives in its own package with a `cli.main(argv) -> int`; this only dispatches,
so starting one never imports the others.
"""

import importlib
import sys

SANDBOXES = {
    "partner-center": "sandbox.partner_center.cli",
    "stripe": "sandbox.stripe.cli",
    "mail": "sandbox.mail.cli",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m sandbox {" + ",".join(SANDBOXES) + "} [options]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    module_name = SANDBOXES.get(name)
    if module_name is None:
        print(f"unknown sandbox {name!r}; choose one of: {', '.join(SANDBOXES)}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            print(f"the {name} sandbox is not part of this checkout yet", file=sys.stderr)
            return 2
        raise
    code: int = module.main(rest)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
