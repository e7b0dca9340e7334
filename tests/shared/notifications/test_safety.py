"""The last check on what is mailed: card numbers found (and only card numbers), links read
from HTML, absolute links told from relative ones."""

from __future__ import annotations

import pytest

from shared.notifications.safety import (
    card_numbers_in,
    is_absolute,
    links_in,
    luhn_valid,
    mask_card_numbers,
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("card 4242424242424242 here", ["4242424242424242"]),
        ("card 4242 4242 4242 4242 here", ["4242424242424242"]),
        ("amex 3782-822463-10005", ["378282246310005"]),
        ("4000 0566 5566 5556", ["4000056655665556"]),
        ("4242424242424241 fails Luhn", []),
        ("ending in 4242", []),
        ("INV-2030-0042, +31 20 555 0100, 2030-06-01", []),
        ("order 123456789012", []),  # 12 digits: too short for a card
    ],
)
def test_card_numbers_are_found_by_shape_and_luhn(text, found):
    assert card_numbers_in(text) == found


def test_luhn():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def test_masking_keeps_the_last_four_digits_only():
    assert (
        mask_card_numbers("paid with 4242 4242 4242 4242.")
        == "paid with [card number ending 4242 removed]."
    )
    assert mask_card_numbers("invoice 2030-0042") == "invoice 2030-0042"


def test_links_are_read_from_every_attribute_that_holds_one():
    html = '<a href="https://a.example/x?a=1&amp;b=2">x</a><img src="/logo.png"><form action="mailto:x@y.example"></form>'
    assert links_in(html) == ["https://a.example/x?a=1&b=2", "/logo.png", "mailto:x@y.example"]


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("https://a.example/x", True),
        ("http://127.0.0.1:7071/api/x", True),
        ("mailto:support@a.example", True),
        ("/x", False),
        ("x.html", False),
        ("//a.example/x", False),
        ("javascript:alert(1)", False),
        ("https:/x", False),
    ],
)
def test_absolute_links(url, absolute):
    assert is_absolute(url) is absolute


def test_the_leak_search_reads_encoded_headers_and_parts():
    """The search the mail-sandbox tests run finds a secret even where mail encodes it."""
    from email.message import EmailMessage

    from tests.shared.notifications.leaks import leaks

    msg = EmailMessage()
    msg["Subject"] = "Zahlung für sk_test_in_a_subject"  # non-ASCII: an encoded word
    msg.set_content("hidden whsec_in_base64 and 4242 4242 4242 4242", cte="base64")
    raw = msg.as_bytes()
    assert b"whsec_in_base64" not in raw  # only base64 on the wire
    assert leaks([raw], ["whsec_in_base64", "sk_test_in_a_subject", "absent"]) == [
        "card number ...4242",
        "sk_test_in_a_subject",
        "whsec_in_base64",
    ]
