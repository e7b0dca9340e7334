"""The Dutch catalog is complete: every string the templates can show has a translation that
keeps its placeholders, nothing is fuzzy, nothing is left over from strings that are gone."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from shared.notifications.locales import LANGUAGES
from shared.notifications.render import TEMPLATES, catalog_path

METHOD_MAP = [("**.txt", "jinja2"), ("**.html", "jinja2"), ("**.j2", "jinja2")]
OPTIONS = {"**": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def template_messages() -> set[str | tuple[str, str]]:
    """What the templates ask gettext for, as pybabel extract (babel.cfg) finds it."""
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(TEMPLATES), METHOD_MAP, OPTIONS
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalog(language: str):
    with catalog_path(language).open("rb") as f:
        return read_po(f, locale=language)


def test_every_language_but_english_has_a_catalog():
    assert [lang for lang in LANGUAGES if lang != "en"] == ["nl"]
    assert catalog_path("nl").is_file()


def test_the_dutch_catalog_translates_exactly_what_the_templates_say():
    wanted = template_messages()
    assert len(wanted) > 100
    nl = catalog("nl")
    have = {m.id if isinstance(m.id, str) else tuple(m.id) for m in nl if m.id}
    assert wanted - have == set(), "missing: update the catalog (docs/notifications.md)"
    assert have - wanted == set(), "obsolete: remove them from the catalog"


def test_every_dutch_translation_is_done_and_keeps_its_placeholders():
    for message in catalog("nl"):
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(s.strip() for s in strings), f"untranslated: {ids[0]!r}"
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for translated in strings:
            assert set(PLACEHOLDER.findall(translated)) == expected, (ids[0], translated)
        # No markup in a message: the HTML templates trust translations as markup.
        assert not re.search(r"[<>&]", " ".join(strings)), strings
