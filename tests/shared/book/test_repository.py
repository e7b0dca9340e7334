"""What every repository shares that needs no table: reading a paged listing to its end."""

from shared.book import Page, every


def test_every_reads_page_after_page_until_a_page_has_no_cursor():
    pages = {None: Page([1, 2], "b"), "b": Page([], "c"), "c": Page([3], None)}
    asked: list[str | None] = []

    def read(cursor: str | None) -> Page[int]:
        asked.append(cursor)
        return pages[cursor]

    assert list(every(read)) == [1, 2, 3]
    assert asked == [None, "b", "c"]  # an empty page in the middle does not end the listing


def test_every_reads_a_single_page_once():
    asked: list[str | None] = []

    def read(cursor: str | None) -> Page[str]:
        asked.append(cursor)
        return Page(["a"])

    assert list(every(read)) == ["a"]
    assert asked == [None]
