"""Every kind renders in every locale exactly as reviewed (the golden files), as well-formed
HTML whose every link is absolute, with reader input escaped and nothing secret let through."""

from __future__ import annotations

import pytest

from shared.notifications.errors import UnsafeNotice
from shared.notifications.kinds import KINDS, Welcome
from shared.notifications.recipients import Addressee
from shared.notifications.render import render
from shared.notifications.safety import is_absolute, links_in
from tests.shared.notifications.html_check import problems
from tests.shared.notifications.make_golden import golden_path, rendered
from tests.shared.notifications.samples import BRAND, LOCALES, SAMPLES, reader

CASES = [(locale, kind) for locale in LOCALES for kind in SAMPLES]
IDS = [f"{locale}-{kind}" for locale, kind in CASES]


def test_there_is_a_sample_and_a_template_pair_for_every_kind():
    from shared.notifications.render import TEMPLATES

    assert set(SAMPLES) == set(KINDS)
    for kind in KINDS:
        assert (TEMPLATES / f"{kind}.txt").is_file() and (TEMPLATES / f"{kind}.html").is_file()


@pytest.mark.parametrize(("locale", "kind"), CASES, ids=IDS)
def test_every_kind_renders_in_every_locale_as_its_golden_file(locale, kind):
    path = golden_path(locale, kind)
    assert path.exists(), "run: .venv/bin/python -m tests.shared.notifications.make_golden"
    assert rendered(locale, kind) == path.read_text(), (
        f"{path.name} ({locale}) differs from its golden file; if the change is intended, "
        "regenerate (python -m tests.shared.notifications.make_golden) and review the diff"
    )


@pytest.mark.parametrize(("locale", "kind"), CASES, ids=IDS)
def test_the_html_is_well_formed_and_every_link_is_absolute(locale, kind):
    notice = render(SAMPLES[kind], reader(kind, locale), BRAND)
    assert problems(notice.html) == []
    links = links_in(notice.html)
    assert links, "every notice links at least the partner's logo"
    assert [link for link in links if not is_absolute(link)] == []
    assert f'<html lang="{locale}">' in notice.html
    # The text part carries the same actions, as plain absolute URLs.
    for link in links:
        if link.startswith("https://portal.") or link.startswith("https://invoice."):
            assert link in notice.text


@pytest.mark.parametrize("locale", LOCALES)
def test_every_kind_has_a_subject_on_one_line_in_every_locale(locale):
    subjects = {render(SAMPLES[k], reader(k, locale), BRAND).subject for k in SAMPLES}
    assert len(subjects) == len(SAMPLES)  # no two kinds look alike in an inbox
    assert all(s and "\n" not in s and len(s) < 160 for s in subjects)


def test_the_dutch_notices_are_in_dutch_and_the_english_ones_in_english():
    for kind in SAMPLES:
        nl = render(SAMPLES[kind], reader(kind, "nl"), BRAND)
        en = render(SAMPLES[kind], reader(kind, "en"), BRAND)
        assert nl.subject != en.subject and nl.text != en.text
        assert ("Beste " in nl.text) or ("Hallo " in nl.text)
        assert ("Dear " in en.text) or ("Hello " in en.text)


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("en", "The invoice F-2030-0042 we sent you for this order is cancelled"),
        ("nl", "De factuur F-2030-0042 die wij u voor deze bestelling stuurden, is geannuleerd"),
    ],
)
def test_an_order_failed_on_invoice_terms_says_its_sent_invoice_is_cancelled(locale, says):
    notice = SAMPLES["order_failed"].model_copy(
        update={"refunded": None, "voided_invoice": "F-2030-0042"}
    )
    out = render(notice, reader("order_failed", locale), BRAND)
    assert says in out.text and says in out.html
    # without one, no such sentence (the golden file's sample)
    plain = render(SAMPLES["order_failed"], reader("order_failed", locale), BRAND)
    assert "F-2030-0042" not in plain.text


def test_what_a_reader_supplied_is_escaped_in_html_and_plain_in_text():
    notice = Welcome(
        customer_name='Fabrikam <script>alert("x")</script> & Co',
        domain="fabrikamdemo.onmicrosoft.com",
    )
    to = Addressee(name="Ann <b>", email="ann@fabrikam.example", role="primary")
    out = render(notice, to, BRAND)
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "Ann &lt;b&gt;" in out.html and "&amp; Co" in out.html
    assert '<script>alert("x")</script> & Co' in out.text  # text is text
    assert problems(out.html) == []


def test_a_brand_without_logo_or_phone_renders_without_them():
    from dataclasses import replace

    plain = replace(BRAND, logo_url="", support_phone="", support_url="")
    out = render(SAMPLES["welcome"], reader("welcome", "en"), plain)
    assert "<img" not in out.html and BRAND.name in out.html
    assert "call" not in out.text and "Help:" not in out.text
    assert problems(out.html) == []


def test_a_rendered_secret_or_card_number_is_refused():
    secret = "sk_live_51HsomethingVerySecret"
    leaky = Welcome(customer_name=f"Acme {secret}", domain="acme.onmicrosoft.com")
    to = reader("welcome", "en")
    with pytest.raises(UnsafeNotice, match="configured secret") as raised:
        render(leaky, to, BRAND, redact=lambda s: s.replace(secret, "***"))
    assert secret not in str(raised.value)
    card = Welcome(customer_name="Acme 4242 4242 4242 4242", domain="acme.onmicrosoft.com")
    with pytest.raises(UnsafeNotice, match="card number"):
        render(card, to, BRAND)


def test_a_relative_logo_is_refused():
    from dataclasses import replace

    with pytest.raises(UnsafeNotice, match="relative link"):
        render(SAMPLES["welcome"], reader("welcome", "en"), replace(BRAND, logo_url="/logo.png"))
