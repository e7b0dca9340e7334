"""Commands: the same id with the same body answers as the first time, with another body
409, and nothing is done twice. The ledger against a real Azurite, then through a route."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from azure.data.tables import TableServiceClient

from devhost.azurite import Azurite
from tests.triggers.api.example_api import ExampleApp, ExampleClient, make_example_app, order_body
from triggers.api.commands import (
    MAX_RECORDED_BODY,
    Claim,
    CommandIdReused,
    CommandLedger,
    CommandLedgerUnavailable,
    StoredReply,
    fingerprint,
)

pytestmark = pytest.mark.slow  # Azurite

REPLY = StoredReply(202, '{"order_id":"o-1"}', {"Location": "http://h/api/orders/o-1"})


def test_the_first_claim_is_first_and_a_repeat_reads_its_reply(ledger: CommandLedger):
    assert ledger.claim("place_order", "o-1", "fp-a") == Claim(first=True)
    assert ledger.claim("place_order", "o-1", "fp-a") == Claim(first=False, reply=None)
    ledger.record("place_order", "o-1", "fp-a", REPLY)
    assert ledger.claim("place_order", "o-1", "fp-a") == Claim(first=False, reply=REPLY)


def test_another_request_with_the_id_is_refused_and_scopes_are_apart(ledger: CommandLedger):
    ledger.claim("place_order", "o-1", "fp-a")
    with pytest.raises(CommandIdReused):
        ledger.claim("place_order", "o-1", "fp-b")
    assert ledger.claim("request_change", "o-1", "fp-b").first


def test_a_release_forgets_an_unanswered_claim_only(ledger: CommandLedger):
    ledger.claim("place_order", "o-1", "fp-a")
    ledger.release("place_order", "o-1", "fp-b")  # not its claim: kept
    with pytest.raises(CommandIdReused):
        ledger.claim("place_order", "o-1", "fp-b")
    ledger.release("place_order", "o-1", "fp-a")
    assert ledger.claim("place_order", "o-1", "fp-b").first  # the id is free again
    ledger.record("place_order", "o-1", "fp-b", REPLY)
    ledger.release("place_order", "o-1", "fp-b")  # answered: kept
    assert ledger.claim("place_order", "o-1", "fp-b").reply == REPLY
    ledger.release("place_order", "o-9", "fp-a")  # never claimed: nothing to do


def test_the_table_is_created_on_first_use(tables: TableServiceClient):
    name = f"fresh{uuid.uuid4().hex[:10]}"
    assert name not in {t.name for t in tables.list_tables()}
    assert CommandLedger(tables, name).claim("s", "id-1", "fp").first
    assert name in {t.name for t in tables.list_tables()}


def test_racing_claims_of_one_id_have_exactly_one_first(ledger: CommandLedger):
    ledger.claim("warm", "up", "fp")  # the table exists: the race is on the entity
    results: list[Claim] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        results.append(ledger.claim("place_order", "o-race", "fp-a"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.first for r in results) == [False] * 7 + [True]


def test_a_key_a_table_cannot_hold_is_refused_before_storage(ledger: CommandLedger):
    for bad in ("a/b", "a#b", "a?b", "a\\b", "a\nb", ""):
        with pytest.raises(ValueError):
            ledger.claim("place_order", bad, "fp")


def test_an_unreachable_ledger_is_unavailable_not_a_crash():
    service = TableServiceClient.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
        "KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
        retry_total=0,
    )
    with pytest.raises(CommandLedgerUnavailable):
        CommandLedger(service, "commands").claim("place_order", "o-1", "fp")


def test_the_fingerprint_covers_route_values_and_body():
    body = {"quantity": 1}
    assert fingerprint({"id": "s-1"}, body) == fingerprint({"id": "s-1"}, {"quantity": 1})
    assert fingerprint({"id": "s-1"}, body) != fingerprint({"id": "s-2"}, body)
    assert fingerprint({}, body) != fingerprint({}, {"quantity": 2})


# -- through a route ---------------------------------------------------------------------


def test_a_repeated_command_answers_as_the_first_time_and_starts_once(
    client: ExampleClient, example: ExampleApp
):
    first = client.post("/api/orders", json_body=order_body())
    assert first.status == 202, first.text
    assert first.headers["location"] == "http://127.0.0.1:7071/api/orders/o-1001"
    assert first.headers["retry-after"] == "10"
    assert "idempotent-replayed" not in first.headers
    # The same request in another spelling: keys reordered, whitespace.
    same = json.dumps(dict(reversed(list(order_body().items()))), indent=2)
    again = client.post("/api/orders", body=same, headers={"Content-Type": "application/json"})
    assert (again.status, again.text) == (first.status, first.text)
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["retry-after"] == "10"
    assert again.headers["idempotent-replayed"] == "true"
    assert example.starts["o-1001"] == 1


def test_a_command_id_reused_with_another_body_is_409_naming_it(
    client: ExampleClient, example: ExampleApp
):
    assert client.post("/api/orders", json_body=order_body(quantity=5)).status == 202
    reused = client.post("/api/orders", json_body=order_body(quantity=6))
    assert reused.status == 409
    assert reused.json["code"] == "command_id_reused"
    assert reused.json["errors"] == [
        {"field": "order_id", "message": reused.json["detail"]},
    ]
    assert example.starts["o-1001"] == 1
    assert example.orders["o-1001"].total.amount_minor == 5 * 1250


def test_a_refused_command_frees_its_id_for_a_corrected_body(
    client: ExampleClient, example: ExampleApp
):
    mixed = order_body()
    mixed["lines"].append(
        {**mixed["lines"][0], "unit_price": {"amount_minor": 9, "currency": "USD"}}
    )
    assert client.post("/api/orders", json_body=mixed).status == 422
    assert client.post("/api/orders", json_body=order_body(quantity=0)).status == 422
    fixed = client.post("/api/orders", json_body=order_body())
    assert fixed.status == 202, fixed.text
    assert example.starts["o-1001"] == 1


def test_a_repeat_of_a_command_that_never_recorded_its_reply_runs_it_again(
    client: ExampleClient, example: ExampleApp, ledger: CommandLedger
):
    # The first request claimed the id and died before answering.
    body = order_body()
    ledger.claim("place_order", "o-1001", fingerprint({}, body))
    answer = client.post("/api/orders", json_body=body)
    assert answer.status == 202
    assert example.starts["o-1001"] == 1  # the handler ran (idempotently) and recorded
    replay = client.post("/api/orders", json_body=body)
    assert replay.headers["idempotent-replayed"] == "true"
    assert example.starts["o-1001"] == 1


def test_storage_down_is_a_503_to_retry_with_the_same_id():
    service = TableServiceClient.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
        "KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
        retry_total=0,
    )
    example = make_example_app(lambda: CommandLedger(service, "commands"))
    answer = ExampleClient(example.app).post("/api/orders", json_body=order_body())
    assert answer.status == 503
    assert answer.json["code"] == "storage_unavailable"
    assert answer.headers["retry-after"] == "5"
    assert not example.starts


def test_a_reply_too_big_for_a_table_property_is_not_recorded(ledger: CommandLedger):
    ledger.claim("place_order", "o-big", "fp")
    ledger.record("place_order", "o-big", "fp", StoredReply(202, "x" * (MAX_RECORDED_BODY + 1)))
    assert ledger.claim("place_order", "o-big", "fp") == Claim(first=False, reply=None)


def test_a_reply_that_cannot_be_recorded_is_still_the_answer(
    ledger: CommandLedger, caplog: pytest.LogCaptureFixture
):
    class NoRecord(CommandLedger):
        def record(self, *args: object, **kwargs: object) -> None:
            raise CommandLedgerUnavailable("the table is gone")

    broken = NoRecord(ledger._service, ledger._table_name)
    example = make_example_app(lambda: broken)
    client = ExampleClient(example.app)
    assert client.post("/api/orders", json_body=order_body()).status == 202
    assert "command ledger: record failed" in caplog.text
    # A repeat finds the claim without a reply and runs the idempotent handler again.
    assert client.post("/api/orders", json_body=order_body()).status == 202
    assert example.starts["o-1001"] == 2
    assert len(example.orders) == 1


def test_by_default_the_ledger_is_the_apps_commands_table(configure, azurite: Azurite):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    configure(AzureWebJobsStorage=azurite.connection_string, CSPFLOW_TABLE_PREFIX=prefix)
    example = make_example_app()  # no ledger given: the app's settings
    assert ExampleClient(example.app).post("/api/orders", json_body=order_body()).status == 202
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    (row,) = service.get_table_client(f"{prefix}Commands").list_entities()
    assert (row["PartitionKey"], row["RowKey"], row["ReplyStatus"]) == (
        "place_order",
        "o-1001",
        202,
    )
