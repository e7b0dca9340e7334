"""Print benchmark rows as an aligned table; a key missing from a row prints as blank."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(rows: Sequence[dict[str, object]]) -> None:
    headers: list[str] = []
    for row in rows:
        headers += [key for key in row if key not in headers]
    cells = [[str(row.get(h, "")) for h in headers] for row in rows]
    widths = [max([len(h), *(len(line[i]) for line in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
