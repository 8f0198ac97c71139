"""Building blocks shared by every app's API module: strict input, bounded ids, pagination.

Kept apart from core/api.py, which imports the app routers: an app's api.py importing core/api.py
would make a circular import.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.conf import settings
from ninja import Field, Schema
from ninja.pagination import PageNumberPagination
from pydantic import ConfigDict

# Larger ids cannot exist; bounding them keeps the database driver from overflowing (a 500).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Strict(Schema):
    """Input bodies: an unknown field is refused (a typo must not be silently ignored), and so
    are NaN and Infinity, which Python's JSON parser accepts."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Pages(PageNumberPagination):
    """`?page=N&page_size=M` → {"items": [...], "count": total}. Both are bounded: a huge page
    number would overflow the database's OFFSET."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=1_000_000)
        page_size: int | None = Field(None, ge=1, le=settings.NINJA_PAGINATION_MAX_LIMIT)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("page_size", settings.NINJA_PAGINATION_PER_PAGE)
        kwargs.setdefault("max_page_size", settings.NINJA_PAGINATION_MAX_LIMIT)
        super().__init__(**kwargs)
