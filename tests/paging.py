"""Following a listing's paging states to its end, as a client does."""

import pytest


def walk(list_page, page_size: int, items: str, paging_state: str = "", max_pages=50) -> list:
    """Every page (the list in each reply's `items` field) from `paging_state` to the end."""
    pages = []
    for _ in range(max_pages):
        page = list_page(page_size=page_size, paging_state=paging_state)
        pages.append(page[items])
        paging_state = page["paging_state"]
        if not paging_state:
            return pages
        assert len(page[items]) == page_size, "only a full page may promise more"
    pytest.fail(f"no end after {max_pages} pages")
