"""Money and times as each reader reads them: the currency's own minor unit (zero for JPY,
three for KWD) and the reader's time zone, in English and Dutch."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.models import Money
from shared.notifications.kinds import PaymentFailed, RenewalReminder
from shared.notifications.locales import (
    format_date,
    format_datetime,
    format_money,
    format_month,
    supported_locale,
)
from shared.notifications.render import render
from tests.shared.notifications.samples import BRAND, SAMPLES, reader

NBSP = "\xa0"
NNBSP = "\u202f"  # CLDR puts a narrow no-break space before AM/PM


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "expected"),
    [
        # zero decimals: 1235 yen are 1235 minor units, never "12.35"
        (1235, "JPY", "en", "¥1,235"),
        (1235, "JPY", "nl", f"JP¥{NBSP}1.235"),
        (0, "JPY", "en", "¥0"),
        # three decimals: 1234567 fils are 1234.567 dinar
        (1234567, "KWD", "en", "KWD1,234.567"),
        (1234567, "KWD", "nl", f"KWD{NBSP}1.234,567"),
        (5, "KWD", "en", "KWD0.005"),
        # ISO 4217 gives IQD three decimals where CLDR shows none: ISO wins, nothing is lost
        (1234, "IQD", "en", "IQD1.234"),
        # two decimals, both signs, region variants
        (123450, "EUR", "en", "€1,234.50"),
        (123450, "EUR", "nl", f"€{NBSP}1.234,50"),
        (-1230, "USD", "en", "-$12.30"),
        (-1230, "USD", "nl-BE", f"US${NBSP}-12,30"),
        (999, "GBP", "en-GB", "£9.99"),
    ],
)
def test_money_shows_exactly_the_currency_minor_unit(minor, currency, locale, expected):
    assert format_money(Money(amount_minor=minor, currency=currency), locale) == expected


# 22:30 UTC on 1 June 2030 is the evening of 1 June in New York and already 2 June in
# Amsterdam and Tokyo.
LATE = datetime(2030, 6, 1, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "zone", "expected_datetime", "expected_date"),
    [
        (
            "en",
            "America/New_York",
            f"June 1, 2030, 6:30{NNBSP}PM Eastern Daylight Time",
            "June 1, 2030",
        ),
        ("en", "Asia/Tokyo", f"June 2, 2030, 7:30{NNBSP}AM Japan Standard Time", "June 2, 2030"),
        ("en-GB", "Europe/London", "1 June 2030, 23:30 British Summer Time", "1 June 2030"),
        ("nl", "Europe/Amsterdam", "2 juni 2030, 00:30 Midden-Europese zomertijd", "2 juni 2030"),
        ("nl", "UTC", "1 juni 2030, 22:30 gecoördineerde wereldtijd", "1 juni 2030"),
    ],
)
def test_times_are_in_the_readers_zone_and_named(locale, zone, expected_datetime, expected_date):
    assert format_datetime(LATE, locale, zone) == expected_datetime
    assert format_date(LATE, locale, zone) == expected_date


def test_a_plain_date_and_a_card_month_are_not_moved_by_zones():
    assert format_date(date(2030, 12, 31), "nl", "Pacific/Kiritimati") == "31 december 2030"
    assert format_month(2031, 6, "en") == "June 2031"
    assert format_month(2031, 6, "nl") == "juni 2031"


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(datetime(2030, 6, 1, 12, 0), "en", "UTC")


@pytest.mark.parametrize(
    ("tag", "normalised"),
    [("en", "en"), ("en_gb", "en-GB"), ("nl-BE", "nl-BE"), ("NL", "nl"), ("en-US", "en-US")],
)
def test_supported_locales_are_normalised(tag, normalised):
    assert supported_locale(tag) == normalised


@pytest.mark.parametrize("tag", ["de", "fr-BE", "xx-YY", ""])
def test_a_language_without_a_catalog_is_refused(tag):
    with pytest.raises(ValueError):
        supported_locale(tag)


def test_a_notice_in_yen_and_in_dinar_renders_its_amounts_exactly():
    yen = SAMPLES["payment_failed"].model_copy(
        update={"amount_due": Money(amount_minor=123456, currency="JPY")}
    )
    assert isinstance(yen, PaymentFailed)
    en = render(yen, reader("payment_failed", "en"), BRAND)
    assert en.subject == "Payment of ¥123,456 failed: invoice INV-2030-0042"
    dinar = SAMPLES["renewal_reminder"].model_copy(
        update={"renewal_price": Money(amount_minor=1500250, currency="KWD")}
    )
    assert isinstance(dinar, RenewalReminder)
    nl = render(dinar, reader("renewal_reminder", "nl"), BRAND)
    assert f"KWD{NBSP}1.500,250" in nl.text and f"KWD{NBSP}1.500,250" in nl.html


def test_the_same_deadline_reads_as_a_different_day_in_tokyo_and_in_new_york():
    notice = SAMPLES["renewal_reminder"]
    tokyo = reader("renewal_reminder", "en").model_copy(update={"time_zone": "Asia/Tokyo"})
    new_york = reader("renewal_reminder", "en")
    tokyo_text = render(notice, tokyo, BRAND).text
    new_york_text = render(notice, new_york, BRAND).text
    assert f"decide by June 30, 2030, 8:00{NNBSP}AM Japan Standard Time" in tokyo_text
    assert f"decide by June 29, 2030, 7:00{NNBSP}PM Eastern Daylight Time" in new_york_text
