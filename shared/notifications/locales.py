"""Locales a notice can be written in, and how money and times read in each.

A recipient's locale is a BCP 47 tag whose language has a complete catalog (English, the
templates' own language, and Dutch); the region, when given, picks the formats (`en-GB` writes
"2 June 2030", `en` "June 2, 2030"). Formatting is Babel's (CLDR data), with two choices of
ours:
- money shows exactly the currency's ISO 4217 minor unit (`Money.exponent`), not CLDR's
  display digits (which give IQD none where ISO gives it three);
- a time is shown in the recipient's time zone with the zone's name, so "the decision
  deadline" means the same instant to a reader in Tokyo and one in New York.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel.numbers import parse_pattern
from pydantic import AfterValidator

from shared.models.money import Money

# Languages with a complete catalog: the templates are written in English; the others have a
# catalog under locale/<language>/LC_MESSAGES/messages.po.
LANGUAGES = ("en", "nl")


def supported_locale(tag: str) -> str:
    """`tag` normalised (`en-gb` -> `en-GB`) if Babel knows it and its language is one we
    write; ValueError otherwise."""
    try:
        locale = Locale.parse(tag.strip().replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"{tag!r} is not a locale tag Babel knows") from None
    if locale.language not in LANGUAGES:
        raise ValueError(
            f"notices are written in {', '.join(LANGUAGES)}; {tag!r} is {locale.language!r}"
        )
    return "-".join(part for part in (locale.language, locale.territory) if part)


NoticeLocale = Annotated[str, AfterValidator(supported_locale)]
"""A locale tag whose language has a complete catalog (`en`, `en-GB`, `nl`, `nl-BE`)."""


@cache
def babel_locale(tag: str) -> Locale:
    return Locale.parse(tag, sep="-")


def language_of(tag: str) -> str:
    return babel_locale(tag).language


def format_money(money: Money, tag: str) -> str:
    """`money` in the locale's currency pattern with exactly the currency's minor unit:
    JPY 1235 -> "¥1,235" (en), KWD 1234567 -> "KWD 1.234,567" (nl)."""
    locale = babel_locale(tag)
    pattern = parse_pattern(locale.currency_formats["standard"].pattern)
    exponent = money.exponent
    pattern.frac_prec = (exponent, exponent)
    return str(
        pattern.apply(money.to_decimal(), locale, currency=money.currency, currency_digits=False)
    )


@cache
def _datetime_pattern(tag: str) -> str:
    locale = babel_locale(tag)
    date_pattern = locale.date_formats["long"].pattern
    time_pattern = locale.time_formats["short"].pattern
    glue = str(locale.datetime_formats["long"])
    return glue.replace("{1}", date_pattern).replace("{0}", f"{time_pattern} zzzz")


def format_datetime(when: datetime, tag: str, time_zone: str) -> str:
    """A moment in the reader's zone, named: "June 2, 2030, 12:30 AM Central European
    Summer Time" (en), "2 juni 2030, 00:30 Midden-Europese zomertijd" (nl)."""
    _require_aware(when)
    return str(
        babel_dates.format_datetime(
            when, _datetime_pattern(tag), tzinfo=ZoneInfo(time_zone), locale=babel_locale(tag)
        )
    )


def format_date(when: datetime | date, tag: str, time_zone: str) -> str:
    """The reader's calendar day of a moment (or a plain date): "June 2, 2030"."""
    day = when
    if isinstance(when, datetime):
        _require_aware(when)
        day = when.astimezone(ZoneInfo(time_zone)).date()
    return str(babel_dates.format_date(day, "long", locale=babel_locale(tag)))


def format_month(year: int, month: int, tag: str) -> str:
    """A month of a year, as a card's expiry reads: "June 2031", "juni 2031"."""
    return str(babel_dates.format_skeleton("yMMMM", date(year, month, 1), locale=babel_locale(tag)))


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("notice times must be timezone-aware")
