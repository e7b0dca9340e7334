"""Azure Tables' limits are handled, not hit: a record is checked before it is written and
refused whole, naming it; large records are spread over several JSON properties; cursors
are opaque and bound to their listing; storage failures become the book's errors."""

from datetime import UTC, datetime

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ServiceRequestError,
)

from shared.book import (
    Book,
    BookRefused,
    BookUnavailable,
    ConcurrencyConflict,
    InvalidPaging,
    RecordNotFound,
    RecordTooLarge,
)
from shared.book._table import (
    ENTITY_MARGIN_BYTES,
    MAX_ENTITY_BYTES,
    MAX_PROPERTY_BYTES,
    Table,
    entity_size,
    json_properties,
    json_text,
    translate,
    value_size,
)
from shared.config import Settings
from shared.errors import PermanentError, TransientError
from shared.models import Invoice
from tests.shared.book.records import customer, invoice, present, subscription_record


def many_lines(count: int) -> Invoice:
    line = invoice().lines[0].model_dump()
    return invoice(lines=[line | {"description": f"line {n} " + "x" * 400} for n in range(count)])


def test_a_property_over_64_kib_is_refused_naming_the_record_and_nothing_is_written(book: Book):
    table = book.tables.table("Probe")
    entity = {"PartitionKey": "p", "RowKey": "r", "Note": "x" * (MAX_PROPERTY_BYTES // 2 + 1)}
    with pytest.raises(RecordTooLarge, match=r"probe p/r: property Note is 65,538 bytes") as exc:
        table.insert(entity, "probe p/r")
    assert isinstance(exc.value, PermanentError)
    assert table.get("p", "r", "probe") is None


def test_a_property_of_exactly_64_kib_is_written(book: Book):
    table = book.tables.table("Probe")
    table.insert(
        {"PartitionKey": "p", "RowKey": "r", "Note": "x" * (MAX_PROPERTY_BYTES // 2)}, "probe"
    )
    assert len(present(table.get("p", "r", "probe"))["Note"]) == MAX_PROPERTY_BYTES // 2


def test_a_record_over_1_mib_is_refused_naming_it_and_nothing_is_written(book: Book):
    huge = many_lines(2400)  # ~1.1 M characters of JSON
    with pytest.raises(RecordTooLarge, match=r"invoice inv-1 of customer c-1 .* over the 1 MiB"):
        book.invoices.issue(huge)
    assert book.invoices.find("c-1", "inv-1") is None


def test_a_large_record_is_spread_over_json_properties_and_read_back_whole(book: Book):
    large = many_lines(600)  # ~370 k characters of JSON, 32 k characters per property
    book.invoices.issue(large)
    entity = present(book.invoices.table.get("c-1", "inv-1", "invoice"))
    properties = -(-len(large.model_dump_json()) // (MAX_PROPERTY_BYTES // 2))
    assert sum(name.startswith("Json") for name in entity) == properties > 10
    assert book.invoices.get("c-1", "inv-1").record == large


def test_json_is_split_without_breaking_a_character_outside_the_basic_plane():
    text = "😀" * 40_000  # two UTF-16 units each
    properties = json_properties(text)
    assert all(
        len(chunk.encode("utf-16-le")) <= MAX_PROPERTY_BYTES for chunk in properties.values()
    )
    assert json_text(properties) == text


def test_entity_size_follows_microsofts_published_estimate():
    entity = {
        "PartitionKey": "ab",
        "RowKey": "c",
        "S": "xyz",
        "I": 7,
        "L": 2**40,
        "B": True,
        "D": datetime(2026, 1, 1, tzinfo=UTC),
        "F": 1.5,
        "Y": b"12",
    }
    # 4 + 2 x 3 key characters, then 8 + 2 per name character + the value for each property
    expected = 4 + 6 + 7 * (8 + 2) + (6 + 4) + 4 + 8 + 1 + 8 + 8 + (2 + 4)
    assert entity_size(entity) == expected
    assert entity_size(entity) < MAX_ENTITY_BYTES
    with pytest.raises(TypeError, match="does not store list"):
        value_size([1])


def test_a_cursor_continues_its_own_listing_only(book: Book):
    for n in range(3):
        book.subscriptions.add(subscription_record(f"sub-{n}"))
    first = book.subscriptions.of_customer("c-1", limit=2)
    assert [r.id for r in first.items] == ["sub-0", "sub-1"] and first.next
    rest = book.subscriptions.of_customer("c-1", limit=2, next=first.next)
    assert ([r.id for r in rest.items], rest.next) == (["sub-2"], None)

    with pytest.raises(InvalidPaging, match="not a cursor this listing handed out") as exc:
        book.subscriptions.of_customer("c-2", limit=2, next=first.next)
    assert exc.value.field == "next"
    with pytest.raises(InvalidPaging):
        book.subscriptions.of_customer("c-1", next="not-a-cursor!")


@pytest.mark.parametrize("limit", [0, 1001])
def test_a_page_holds_1_to_1000_records(book: Book, limit):
    with pytest.raises(InvalidPaging, match="limit must be 1 to 1000") as exc:
        book.customers.page(limit=limit)
    assert exc.value.field == "limit"


def test_reading_a_table_never_written_finds_nothing_and_the_first_write_creates_it(book: Book):
    assert book.customers.find("c-1") is None
    assert book.customers.page().items == []
    book.customers.ensure(customer())
    assert book.customers.get("c-1").record == customer()


def test_a_batch_refuses_more_than_100_operations(book: Book):
    rows = [("upsert", {"PartitionKey": "p", "RowKey": str(n)}) for n in range(101)]
    with pytest.raises(ValueError, match="1 to 100 operations"):
        book.tables.table("Probe").transact(rows, "probe")


def test_storage_that_does_not_answer_is_a_transient_failure_naming_the_record():
    settings = Settings.model_validate(
        {
            "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
            "table_prefix": "gone",
        }
    )
    with pytest.raises(BookUnavailable, match=r"customer c-1 \(table goneCustomers\)") as exc:
        Book(settings).customers.find("c-1")
    assert isinstance(exc.value, TransientError)
    assert "a2V5" not in str(exc.value)


def test_a_request_the_service_calls_invalid_is_refused_with_its_code(book: Book):
    table: Table = book.tables.table("Probe")
    book.tables.table("Probe").upsert({"PartitionKey": "p", "RowKey": "r"}, "probe")
    with pytest.raises(
        PermanentError, match=r"probe: Azure Tables refused the request \(400"
    ) as exc:
        table.insert({"PartitionKey": "a/b", "RowKey": "r"}, "probe")  # "/" is not a key character
    assert exc.value.code == "InvalidInput"


def test_an_entity_just_under_the_margin_is_written_and_just_over_is_refused(book: Book):
    table = book.tables.table("Probe")
    base = {"PartitionKey": "p", "RowKey": "r"}
    # 4 + 2 x 2 key characters; each property: 8 + 2 x 3 name characters + 2 per character + 4
    chunk = MAX_PROPERTY_BYTES // 2 - 100
    properties = {f"P{n:02d}": "x" * chunk for n in range(16)}
    entity = base | properties
    room = MAX_ENTITY_BYTES - ENTITY_MARGIN_BYTES - entity_size(entity)
    fits = entity | {"Tail": "y" * ((room - 8 - 8 - 4) // 2)}
    assert entity_size(fits) <= MAX_ENTITY_BYTES - ENTITY_MARGIN_BYTES
    table.insert(fits, "probe")
    over = fits | {"RowKey": "s", "Tail": fits["Tail"] + "y"}
    with pytest.raises(RecordTooLarge, match="less a 1,024-byte margin"):
        table.insert(over, "probe")


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (ResourceModifiedError("changed"), ConcurrencyConflict, "concurrency_conflict"),
        (ClientAuthenticationError("denied"), BookRefused, "storage_refused"),
        (HttpResponseError("busy"), BookUnavailable, "storage_unavailable"),  # no status: unknown
        (ServiceRequestError("refused"), BookUnavailable, "storage_unavailable"),
    ],
)
def test_storage_errors_become_the_books_errors(error, expected, code):
    translated = translate(error, "customer c-1 (table t)")
    assert type(translated) is expected and translated.code == code
    assert str(translated).startswith("customer c-1 (table t)")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, BookUnavailable),
        (503, BookUnavailable),
        (429, BookUnavailable),
        (408, BookUnavailable),
        (403, BookRefused),
        (400, BookRefused),
    ],
)
def test_server_trouble_and_throttling_are_transient_refusals_permanent(status, expected):
    error = HttpResponseError("answer")
    error.status_code = status
    assert type(translate(error, "probe")) is expected


def test_replacing_a_record_no_longer_in_the_table_is_not_found(book: Book):
    stored = book.customers.ensure(customer())
    table = book.customers.table
    current = book.customers.get("c-1")
    table.delete("c-1", "", etag=current.etag, what="probe")
    with pytest.raises(RecordNotFound, match="customer c-1"):
        book.customers.replace(current, customer(company_name="Fabrikam"))
    assert not stored.already_done


def test_a_conditional_delete_of_a_changed_entity_deletes_nothing(book: Book):
    table = book.tables.table("Probe")
    etag = table.upsert({"PartitionKey": "p", "RowKey": "r", "N": 1}, "probe")
    table.upsert({"PartitionKey": "p", "RowKey": "r", "N": 2}, "probe")
    assert table.delete("p", "r", etag=etag, what="probe") is False
    assert present(table.get("p", "r", "probe"))["N"] == 2


def test_a_replace_cannot_move_a_record_to_other_keys(book: Book):
    added = book.customers.add(customer())
    with pytest.raises(ValueError, match="cannot change the record's keys"):
        book.customers.replace(added, customer("c-2"))


def test_loading_splits_batches_at_100_operations_and_at_2_mib(book: Book):
    table = book.tables.table("Probe")
    small = [{"PartitionKey": "p", "RowKey": f"{n:03d}"} for n in range(250)]
    big = [{"PartitionKey": "q", "RowKey": f"{n:03d}", "Blob": "x" * 30_000} for n in range(80)]
    assert table.upsert_many(small + big, "probe") == 330
    assert len(list(table.scan("PartitionKey eq 'p'", {}, "probe"))) == 250
    assert len(list(table.scan("PartitionKey eq 'q'", {}, "probe"))) == 80


def test_a_failed_batch_other_than_a_duplicate_is_the_books_error(book: Book):
    with pytest.raises(BookRefused, match=r"probe: Azure Tables refused the request \(400"):
        book.tables.table("Probe").transact(
            [("create", {"PartitionKey": "a/b", "RowKey": "r"})], "probe"
        )
