"""Notices rendered: a subject, a plain-text part and an HTML part, in the reader's language.

Templates are Jinja2 files in `templates/`, two per kind: `<kind>.txt` (which also holds the
subject, in its `subject` block) and `<kind>.html`, each extending its layout. HTML templates
are autoescaped (`select_autoescape` on the `.html` extension), so a customer name such as
`<script>` arrives as text; text templates are not escaped (they are plain text).

Strings are English in the templates and translated with gettext (`{% trans %}`, `_()`,
Jinja2's i18n extension with whitespace trimming): the Dutch catalog is
`locale/nl/LC_MESSAGES/messages.po`, compiled in memory on first use. Money and times go
through the `money`, `datetime`, `date` and `month` filters (shared/notifications/locales.py),
which read the reader's locale and time zone from the context.

Every rendered notice passes `safety.check_safe` before it is returned.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from shared.config import Settings
from shared.models.money import Money
from shared.notifications.kinds import KINDS, NoticeModel
from shared.notifications.locales import (
    LANGUAGES,
    format_date,
    format_datetime,
    format_money,
    format_month,
    language_of,
)
from shared.notifications.recipients import Addressee
from shared.notifications.safety import check_safe

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
CATALOGS = PACKAGE / "locale"
DOMAIN = "messages"

_BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos Australia",
    "interac": "Interac",
    "jcb": "JCB",
    "link": "Link",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}


@dataclass(frozen=True)
class Brand:
    """The partner as every notice shows it (from the settings)."""

    name: str
    support_email: str
    support_phone: str = ""
    support_url: str = ""
    logo_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Brand:
        return cls(
            name=settings.partner_name,
            support_email=str(settings.partner_support_email),
            support_phone=settings.partner_support_phone,
            support_url=str(settings.partner_support_url or ""),
            logo_url=str(settings.partner_logo_url or ""),
        )


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str

    def parts(self) -> dict[str, str]:
        return {"subject": self.subject, "text": self.text, "html": self.html}


def catalog_path(language: str) -> Path:
    return CATALOGS / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> NullTranslations:
    """The gettext translations of `language` (English: the templates' own strings)."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for {language!r}")
    if language == "en":
        return NullTranslations()
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def new_environment() -> Environment:
    """A template environment without translations installed (extraction, tests)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.filters.update(money=_money, datetime=_datetime, date=_date, month=_month, brand=_brand)
    return env


@cache
def environment(language: str) -> Environment:
    env = new_environment()
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    # The shared words (_vocab.j2) as a global rather than an import in each template: the
    # subject block is rendered on its own, without the template's top-level imports.
    env.globals["vocab"] = env.get_template("_vocab.j2").module
    return env


@pass_context
def _money(ctx: Context, money: Money) -> str:
    return format_money(money, ctx["locale"])


@pass_context
def _datetime(ctx: Context, when: datetime) -> str:
    return format_datetime(when, ctx["locale"], ctx["time_zone"])


@pass_context
def _date(ctx: Context, when: datetime | date) -> str:
    return format_date(when, ctx["locale"], ctx["time_zone"])


@pass_context
def _month(ctx: Context, card: Any) -> str:
    return format_month(card.exp_year, card.exp_month, ctx["locale"])


def _brand(brand: str) -> str:
    return _BRANDS.get(brand, "")


def render(
    notice: NoticeModel,
    to: Addressee,
    brand: Brand,
    *,
    redact: Any = None,
) -> RenderedNotice:
    """The notice as `to` reads it. `redact` (Settings.redact) is the secret check; without
    it only card numbers and links are checked."""
    env = environment(language_of(to.locale))
    values: dict[str, Any] = {
        "n": notice,
        "to": to,
        "brand": brand,
        "locale": to.locale,
        "time_zone": to.time_zone,
        "lang": language_of(to.locale),
        "essential": KINDS[notice.kind].essential,
        "partner_side": KINDS[notice.kind].partner_side,
    }
    text_template = env.get_template(f"{notice.kind}.txt")
    subject_block = text_template.blocks["subject"]
    subject = " ".join("".join(subject_block(text_template.new_context(values))).split())
    values["subject"] = subject
    text = text_template.render(values)
    html = env.get_template(f"{notice.kind}.html").render(values)
    rendered = RenderedNotice(subject=subject, text=_tidy(text), html=html)
    check_safe(notice.kind, rendered.parts(), redact or (lambda s: s))
    return rendered


def _tidy(text: str) -> str:
    """At most one blank line in a row, no trailing spaces, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"
