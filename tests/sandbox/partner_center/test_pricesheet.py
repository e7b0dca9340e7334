"""The license-based price sheet (Learn: "Get a price sheet"; "Pricing and offers"): a CSV
per market on the Partner API host, app+user only, with Microsoft's fields and effective
dates; the sandbox's unit prices are what its orders charge per billing period."""

import csv
import io
from decimal import Decimal

import pytest

from sandbox.partner_center import catalog, pricesheet

PATH = "/v1.0/sales/pricesheets(Market='{market}',PricesheetView='{view}')/$value"
PARTNER_API = "https://api.partner.microsoft.com"


def user_token(pc, resource: str = PARTNER_API) -> str:
    return str(pc.client._tokens.user_token(f"{resource}/user_impersonation"))


def get(pc, market="US", view="updatedlicensebased", token=None):
    return pc.raw("GET", PATH.format(market=market, view=view), token or user_token(pc))


def test_a_market_gets_its_price_sheet_as_a_csv_file_with_microsofts_columns(pc):
    resp = get(pc, "us")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == "attachment; filename=pricesheet"
    text = resp.content.decode("utf-8")
    assert text.startswith('"ProductTitle","ProductId","SkuId","SkuTitle","Publisher"')
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == pricesheet.COLUMNS
    basic = [
        r
        for r in rows
        if (r["ProductId"], r["TermDuration"], r["BillingPlan"])
        == ("CFQ7TTC0LH18", "P1Y", "Annual")
    ]
    (row,) = basic
    assert (row["Market"], row["Currency"], row["UnitPrice"]) == ("US", "USD", "72.00")
    offer = catalog.BY_ID[catalog.BASIC]
    assert Decimal(row["UnitPrice"]) == catalog.price_per_cycle(offer, "P1Y", "annual")
    assert row["EffectiveStartDate"] == "2025-04-01T00:00:00.0000000Z"


def test_a_european_market_lists_every_currency_of_the_region_and_yen_has_no_decimals(pc):
    de = list(csv.DictReader(io.StringIO(get(pc, "DE").text)))
    assert {r["Currency"] for r in de} == {"EUR", "GBP"}
    jp = list(csv.DictReader(io.StringIO(get(pc, "JP").text)))
    assert all("." not in r["UnitPrice"] for r in jp)


def test_trials_are_free_on_billing_plan_none_and_one_offer_has_an_ended_row(pc):
    rows = list(csv.DictReader(io.StringIO(get(pc).text)))
    trials = [r for r in rows if "Trial" in r["Tags"]]
    assert trials and {(r["BillingPlan"], r["UnitPrice"]) for r in trials} == {("None", "0.00")}
    premium = [
        r
        for r in rows
        if (r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"])
        == ("CFQ7TTC0LCHC", "0002", "P1Y", "Monthly")
    ]
    assert [(r["EffectiveEndDate"][:10], r["UnitPrice"]) for r in premium] == [
        ("2025-03-31", "19.80"),
        ("9999-11-30", "22.00"),
    ]


@pytest.mark.parametrize(
    ("market", "view", "field"),
    [("ZZ", "updatedlicensebased", "Market"), ("US", "azure_consumption", "PricesheetView")],
)
def test_an_unknown_market_or_view_is_refused_naming_it(pc, market, view, field):
    resp = get(pc, market, view)
    assert resp.status_code == 400 and field in resp.json()["description"]


def test_the_price_sheet_takes_an_app_user_token_for_the_partner_api(pc):
    assert get(pc, token=pc.app_token()).status_code == 401  # Partner Center's audience
    app_only = pc.client._tokens.app_token(f"{PARTNER_API}/.default")
    assert get(pc, token=app_only).status_code == 403
    partner_center = user_token(pc, "https://api.partnercenter.microsoft.com")
    assert get(pc, token=partner_center).status_code == 401
