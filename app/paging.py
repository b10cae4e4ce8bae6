"""Translate the accepted paging styles (limit/offset and the seed's page/page_size) into one."""

from __future__ import annotations

from typing import Any


def page_window(query: dict[str, Any], default_limit: int) -> tuple[int, int, int]:
    """Return ``(limit, offset, page)`` for a loaded :class:`~app.schemas.PageQuery`.

    ``page_size`` and ``limit`` name the same setting (the schema refuses them when they differ);
    ``page`` replaces ``offset`` when given; ``page`` in the answer is the 1-based page that
    ``offset`` falls on.
    """
    limit = query.get("page_size") or query.get("limit") or default_limit
    offset = (query["page"] - 1) * limit if "page" in query else query.get("offset", 0)
    return limit, offset, offset // limit + 1
