"""List pages: one page at a time, or every item across pages, fetched lazily."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from telnyx_api.resources import PageMeta

T = TypeVar("T", bound=BaseModel)

MAX_PAGE_SIZE = 250  # the API's own maximum for page[size]


class Page(Generic[T]):
    """One page of a list. Iterating walks this page and every later one, fetching as it goes."""

    def __init__(
        self,
        data: list[T],
        meta: PageMeta,
        fetch: Callable[[int], Page[T]],
    ) -> None:
        self.data = data
        self.meta = meta
        self._fetch = fetch

    def has_next_page(self) -> bool:
        # The official SDKs page until page_number >= total_pages; an empty page also ends it,
        # so a server that miscounts cannot make us loop forever.
        return bool(self.data) and self.meta.page_number < self.meta.total_pages

    def next_page(self) -> Page[T]:
        if not self.has_next_page():
            raise StopIteration("no further page")
        return self._fetch(self.meta.page_number + 1)

    def iter_pages(self) -> Iterator[Page[T]]:
        page: Page[T] = self
        yield page
        while page.has_next_page():
            page = page.next_page()
            yield page

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data


def parse_page(
    body: Any, model: type[T], fetch: Callable[[int], Page[T]], requested: Mapping[str, Any]
) -> Page[T]:
    """Build a Page from `{"data": [...], "meta": {...}}`, tolerating a missing meta."""
    rows = body.get("data") if isinstance(body, dict) else None
    data = [model.model_validate(row) for row in rows or []]
    raw_meta = body.get("meta") if isinstance(body, dict) else None
    meta = (
        PageMeta.model_validate(raw_meta)
        if isinstance(raw_meta, dict)
        else PageMeta(page_number=int(requested.get("number", 1)), page_size=len(data))
    )
    return Page(data, meta, fetch)
