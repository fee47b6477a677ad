"""One page of a long list, and LIKE patterns made from what a person typed."""
from __future__ import annotations

from dataclasses import dataclass, field

#: rows per page in the ops area's lists
PAGE_SIZE = 50


@dataclass
class Page:
    items: list = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def contains_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` escaped (use with ``escape="\\\\"``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
