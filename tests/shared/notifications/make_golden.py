"""Write the golden files: every kind rendered for every locale's sample reader.

    .venv/bin/python -m tests.shared.notifications.make_golden

Run it after a deliberate change to a template, a catalog or a sample, then review the diff
(`git diff tests/shared/notifications/golden/`) as carefully as the change itself: it is what
customers will read. test_render.py compares against these files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.notifications.kinds import NoticeKind
from shared.notifications.render import RenderedNotice, render
from tests.shared.notifications.samples import BRAND, LOCALES, SAMPLES, reader

GOLDEN = Path(__file__).resolve().parent / "golden"


def golden_text(rendered: RenderedNotice) -> str:
    """One file per notice: the subject, the text part and the HTML part, delimited."""
    return (
        f"Subject: {rendered.subject}\n"
        "\n===== text/plain =====\n"
        f"{rendered.text}"
        "\n===== text/html =====\n"
        f"{rendered.html}"
    )


def golden_path(locale: str, kind: NoticeKind) -> Path:
    return GOLDEN / locale / f"{kind}.txt"


def rendered(locale: str, kind: NoticeKind) -> str:
    return golden_text(render(SAMPLES[kind], reader(kind, locale), BRAND))


def main() -> int:
    written = 0
    for locale in LOCALES:
        for kind in SAMPLES:
            path = golden_path(locale, kind)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = rendered(locale, kind)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                written += 1
    print(f"{written} golden file(s) written under {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
