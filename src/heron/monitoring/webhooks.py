"""Posting a monitor's finding to a webhook: JSON, a timeout per attempt, a few retries with
back-off, and a bounded total time, so a dead endpoint never holds a monitor up for long and
never fails its evaluation (the outcome is recorded on the evaluation run instead)."""

from __future__ import annotations

import time
from typing import Any

TIMEOUT_S = 5.0
ATTEMPTS = 3
BACKOFF_S = 0.5


def post(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float = TIMEOUT_S,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_S,
) -> str:
    """POST ``payload`` to ``url``; what happened, as a line of text (``delivered (HTTP 200)``
    or ``failed after 3 attempts: …``). A 4xx answer is not retried: the endpoint refused it."""
    import httpx

    last = ""
    for attempt in range(1, attempts + 1):
        try:
            answer = httpx.post(
                url,
                json=payload,
                timeout=timeout,
                headers={"user-agent": "heron-monitor", "x-heron-event": "drift"},
            )
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}"
        else:
            if answer.status_code < 300:
                tries = "" if attempt == 1 else f" on attempt {attempt}"
                return f"delivered (HTTP {answer.status_code}){tries}"
            last = f"HTTP {answer.status_code}"
            if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
                return f"refused: {last} {answer.text[:200]}".strip()
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    return f"failed after {attempts} attempts: {last}"
