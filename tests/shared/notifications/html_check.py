"""Is an HTML part well-formed? Every element closed in order, void elements never closed,
one document element: checked with the standard library's html.parser."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.roots = 0
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.stack:
            self.roots += 1
        if tag not in VOID:
            self.stack.append(tag)
        for name, value in attrs:
            if value is None and name not in ("sandbox",):
                self.problems.append(f"<{tag}> attribute {name} has no value")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.problems.append(f"<{tag}/> is not a void element")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"</{tag}> closes a void element")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.stack and data.strip():
            self.problems.append(f"text outside the document: {data.strip()[:40]!r}")

    def handle_entityref(self, name: str) -> None:
        if name not in ("amp", "lt", "gt", "quot", "nbsp"):
            self.problems.append(f"unknown entity &{name};")


def problems(html: str) -> list[str]:
    """What is wrong with `html` as a document (empty when well-formed)."""
    parser = _Balance()
    parser.feed(html)
    parser.close()
    found = list(parser.problems)
    if parser.stack:
        found.append(f"never closed: {parser.stack}")
    if parser.roots != 1:
        found.append(f"{parser.roots} document elements")
    if parser.doctype.lower() != "doctype html":
        found.append(f"doctype is {parser.doctype!r}")
    return found
