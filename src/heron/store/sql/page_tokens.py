"""Page tokens of run searches: where the next page starts, bound to the search it continues,
so that a token passed with another query is refused instead of read as a position in a
different listing."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from heron.core.errors import InvalidArgument


def encode_page_token(offset: int, query: str) -> str:
    """A page token: where the next page starts, bound to the search (``query``: its
    fingerprint) that it continues."""
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset, "query": query})).decode()


def decode_page_token(token: str | None, query: str) -> int:
    """Where the page ``token`` starts (0 without one); :class:`InvalidArgument` if it is not
    a token of this store or belongs to another search than ``query`` (its fingerprint)."""
    if not token:
        return 0
    try:
        payload: Any = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except Exception:
        payload = None
    if isinstance(payload, dict):
        offset = payload.get("offset")
        bound = payload.get("query")
        if isinstance(offset, int) and 0 <= offset < 2**62 and isinstance(bound, str):
            if bound == query:
                return offset
            raise InvalidArgument(
                "This page token belongs to a different search: pass the same experiments, "
                "filter, order_by and view with page_token as in the search that returned it."
            )
    shown = repr(token) if len(repr(token)) <= 80 else repr(token)[:80] + "..."
    raise InvalidArgument(
        f"Invalid page token {shown}: pass the `token` of the previous page unchanged, "
        "with the same search."
    )
