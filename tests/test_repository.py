"""The repository explains itself: every document code and tests cite is in docs/, every
`docs/<file>.md#<anchor>` they cite names a heading there, and nothing cites notes that are
not in the repository (design drafts, reference notes, issue numbers)."""

from __future__ import annotations

import os
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "node_modules", ".azurite", ".devhost", ".sandbox", "samples"}
CITATION = re.compile(r"docs/([a-z0-9_-]+\.md)(?:#([a-z0-9-]+))?")
OUTSIDE = re.compile(
    r"DESIGN\.md|(?<![\w-])(?:partner-center|billing-anchors|durable-functions|style-anchors)\.md"
    r"|\bS-[A-Z]{3,}\b|\bissue [0-9]|\breference [0-9]|\.\./shared"
)


@cache
def sources() -> list[Path]:
    found = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS]
        for name in files:
            if name.endswith((".py", ".md", ".bicep")) or name == "Makefile":
                found.append(Path(directory, name))
    return sorted(found)


def anchors(document: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    slugs = set()
    for line in document.read_text().splitlines():
        if line.startswith("#"):
            title = unicodedata.normalize("NFKC", line.lstrip("#").strip().lower())
            title = re.sub(r"[^\w\- ]", "", title)
            slugs.add(title.replace(" ", "-"))
    return slugs


def test_every_cited_document_and_anchor_exists():
    missing = []
    for path in sources():
        for match in CITATION.finditer(path.read_text(errors="replace")):
            document = ROOT / "docs" / match.group(1)
            anchor = match.group(2)
            if not document.is_file() or (anchor and anchor not in anchors(document)):
                missing.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert missing == []


@pytest.mark.parametrize(
    "area",
    [
        "shared",
        "workflows",
        "activities",
        "triggers",
        "devhost",
        "bench",
        "infra",
        "docs",
        "tests",
        "README.md",
        "Makefile",
    ],
)
def test_nothing_cites_notes_outside_the_repository(area):
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
        for path in sources()
        if path.relative_to(ROOT).parts[0] == area and path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert cited == []
