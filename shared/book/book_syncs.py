"""Book syncs: the report of each run of the book sync (workflows/book_sync.py).

Table `BookSyncs`
    PartitionKey = the run id (`<UTC start, YYYYMMDDTHHMMSSZ>-<4 hex>`), RowKey = "".
    Serves: a run's report by its id (`GET /api/ops/book-syncs/{run_id}` once the run's
    Durable instance has been reused by a later run). The last step of a run saves it; a
    retried save writes nothing.
"""

from __future__ import annotations

from shared.book._repository import Keys, Repository, Stored
from shared.book.keys import key
from shared.models.book_sync import BookSyncReport

TABLE = "BookSyncs"


class BookSyncs(Repository[BookSyncReport]):
    model = BookSyncReport
    table_name = TABLE
    noun = "book sync"

    def keys(self, record: BookSyncReport) -> Keys:
        return key(record.run_id), ""

    def find(self, run_id: str) -> Stored[BookSyncReport] | None:
        return self._find((key(run_id), ""))
