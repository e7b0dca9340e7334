"""Paged lists: `limit`, and a `next` cursor that is opaque, bound to its list and its filters,
and refused (400 naming `next`) when edited."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.models import Money
from tests.triggers.api.example_api import PLACED_AT, ExampleApp, ExampleClient, OrderStatus
from triggers.api.paging import (
    MAX_CURSOR_CHARS,
    CursorCodec,
    Paging,
    list_binding,
    page_request,
)
from triggers.api.problems import ApiProblem, BadRequest

CODEC = CursorCodec()
BINDING = list_binding("list_orders", {"state": None})


def seed(example: ExampleApp, count: int, customer: str = "c-1") -> None:
    for i in range(count):
        oid = f"o-{i:03d}"
        example.orders[oid] = OrderStatus(
            order_id=oid,
            customer_id=customer,
            state="accepted",
            total=Money(amount_minor=100 * i, currency="EUR"),
            placed_at=PLACED_AT,
        )


def test_a_list_pages_through_every_item_once(client: ExampleClient, example: ExampleApp):
    seed(example, 5)
    seen: list[str] = []
    params: dict[str, str] = {}
    pages = 0
    while True:
        answer = client.get("/api/orders", params=params)
        assert answer.status == 200, answer.text
        page = answer.json
        assert len(page["items"]) <= 2  # the route's default limit
        seen += [item["order_id"] for item in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        params = {"next": page["next"]}
    assert seen == sorted(example.orders)
    assert pages == 3


def test_limit_may_change_between_pages_the_filters_may_not(
    client: ExampleClient, example: ExampleApp
):
    seed(example, 5)
    first = client.get("/api/orders", params={"limit": "1", "customer_id": "c-1"}).json
    second = client.get(
        "/api/orders", params={"limit": "3", "customer_id": "c-1", "next": first["next"]}
    ).json
    assert [i["order_id"] for i in second["items"]] == ["o-001", "o-002", "o-003"]
    refused = client.get("/api/orders", params={"customer_id": "c-2", "next": first["next"]})
    assert refused.status == 400
    assert refused.json["errors"][0]["field"] == "next"
    assert "another list or to other filters" in refused.json["detail"]


def test_an_empty_list_is_one_page_without_next(client: ExampleClient):
    assert client.get("/api/orders").json == {"items": [], "next": None}


def test_a_cursor_round_trips_any_json_position():
    for position in ("o-001", 42, {"pk": "p", "rk": "r/é"}, ["a", 1, None]):
        cursor = CODEC.encode(BINDING, position)
        assert CODEC.decode(BINDING, cursor) == position
        assert cursor.isascii() and "=" not in cursor and "+" not in cursor


def test_every_one_character_edit_of_a_cursor_is_refused():
    cursor = CODEC.encode(BINDING, {"after": "o-017"})
    alphabet = "ABCDQgw_-.="
    for i in range(len(cursor)):
        for ch in alphabet:
            edited = cursor[:i] + ch + cursor[i + 1 :]
            if edited == cursor:
                continue
            with pytest.raises(BadRequest) as caught:
                CODEC.decode(BINDING, edited)
            assert caught.value.errors[0].field == "next"
    for edited in (cursor[:-1], cursor + "A", cursor.replace(".", ""), "." + cursor):
        with pytest.raises(BadRequest):
            CODEC.decode(BINDING, edited)


def test_a_cursor_from_another_list_or_another_key_is_refused():
    cursor = CODEC.encode(BINDING, "o-1")
    with pytest.raises(BadRequest):
        CODEC.decode(list_binding("list_invoices", {"state": None}), cursor)
    with pytest.raises(BadRequest):
        CODEC.decode(list_binding("list_orders", {"state": "completed"}), cursor)
    with pytest.raises(BadRequest):
        CursorCodec(b"another key").decode(BINDING, cursor)


def test_a_position_too_big_for_a_cursor_is_a_bug_not_a_cursor():
    with pytest.raises(ValueError, match="too big"):
        CODEC.encode(BINDING, "x" * MAX_CURSOR_CHARS)


@given(st.text(max_size=300))
def test_no_string_is_anything_but_a_cursor_or_a_400(text: str):
    try:
        CODEC.decode(BINDING, text)
    except BadRequest as exc:
        assert exc.status == 400 and exc.errors[0].field == "next"


@pytest.mark.parametrize(
    ("params", "limit"),
    [
        ({}, 50),
        ({"limit": ""}, 50),
        ({"limit": "1"}, 1),
        ({"limit": "200"}, 200),
        ({"limit": " 7 "}, 7),
    ],
)
def test_limit_defaults_and_bounds(params: dict[str, str], limit: int):
    assert page_request(params, Paging(), BINDING, CODEC).limit == limit


@pytest.mark.parametrize("value", ["0", "201", "-5", "1.5", "1e3", "٣", "0x10", "9" * 30])
def test_a_limit_outside_1_to_max_is_a_400_naming_limit(value: str):
    with pytest.raises(ApiProblem) as caught:
        page_request({"limit": value}, Paging(), BINDING, CODEC)
    assert caught.value.status == 400
    assert caught.value.errors[0].field == "limit"
    assert "1 to 200" in caught.value.detail


def test_paging_defaults_must_fit_the_max():
    with pytest.raises(ValueError):
        Paging(default_limit=300, max_limit=200)
