"""``/audit``: the audit trail, newest first, for admins (every entry) and for maintainers (the
entries of the projects they maintain).

Filters, all in the URL: ``since`` (``30m``, ``12h``, ``7d``, ``2w`` or a date such as
``2026-05-01``), ``user``, ``project``, ``object`` (an object id: a run, an experiment, a
model…) and ``outcome`` (``ok`` or ``denied``). Pages are ``PER_PAGE`` entries; ``before`` is
where the next one starts (the time and id of the last entry shown), so paging never skips
or repeats an entry while new ones arrive.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any

from heron.server.auth.permissions import Permission
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request

PER_PAGE = 50
#: the most entries one page reads (entries sharing a millisecond with the page boundary)
MAX_READ = 10_000
OUTCOMES = ("ok", "denied")
_SPAN = re.compile(r"(\d{1,6})\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CURSOR = re.compile(r"(\d{1,15})\.(\d{1,18})")
#: an entry's detail is cut to this many characters on the page
DETAIL_CHARS = 2000
#: an admin sees every entry; a maintainer (in any one project) their projects' entries
AUDIT = Permission("maintainer", anywhere=True, writes=False)


def parse_since(text: str, now_ms: int | None = None) -> int | None:
    """``since`` as epoch milliseconds: a span back from now (``12h``, ``7d``) or a date or
    time in ISO 8601 (UTC unless it says otherwise); a 400 page for anything else."""
    text = text.strip()
    if not text:
        return None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    span = _SPAN.fullmatch(text.lower())
    if span:
        return now_ms - int(span.group(1)) * _UNIT_SECONDS[span.group(2)] * 1000
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise PageError(
            400,
            f"since must be a span such as 12h or 7d, or a date such as 2026-05-01, not "
            f"{text[:40]!r}.",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def detail_text(detail: Any) -> str:
    """An entry's detail (before and after, a denial's reason) as JSON text, cut when long."""
    if not detail:
        return ""
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def visible_projects(request: Request) -> list[str] | None:
    """The projects whose entries the caller sees (``None``: all, an admin or auth off)."""
    identity = request.identity
    if not request.auth or identity is None or identity.is_admin:
        return None
    names = request.face.switchable_projects(request)
    return [p for p in names if request.may("maintainer", p)]


def audit_page(request: Request) -> Page:
    """A page of audit entries matching the filters, newest first."""
    governance = request.guard.governance if request.guard is not None else None
    if governance is None:
        raise PageError(404, "No audit trail here", "The audit trail is the server's.")
    filters = {
        key: (request.arg(key) or "").strip() for key in ("since", "user", "project", "object")
    }
    outcome = (request.arg("outcome") or "").strip()
    if outcome and outcome not in OUTCOMES:
        raise PageError(400, f"outcome must be ok or denied, not {outcome[:40]!r}.")
    since = parse_since(filters["since"])
    cursor = None
    raw_cursor = request.arg("before")
    if raw_cursor:
        found = _CURSOR.fullmatch(raw_cursor)
        if found is None:
            raise PageError(400, "before must be a position this page gave, such as 1712.42.")
        cursor = (int(found.group(1)), int(found.group(2)))
    projects = visible_projects(request)
    if projects is not None and filters["project"] and filters["project"] not in projects:
        projects = []  # a project the caller does not maintain: nothing (not a 403 that
        # would confirm it exists)
    entries: list[Any] = []
    more = False
    if projects != []:
        entries, more = _read(governance, filters, outcome, since, cursor, projects)
    next_cursor = f"{entries[-1].at}.{entries[-1].id}" if more and entries else None
    return Page(
        template="audit.html",
        context={
            "entries": [(e, detail_text(e.detail)) for e in entries],
            "filters": filters,
            "outcome": outcome,
            "outcomes": OUTCOMES,
            "next_href": request.url(before=next_cursor) if next_cursor else None,
            "first_href": request.url(before=None) if cursor else None,
            "limited_to": projects,
            "per_page": PER_PAGE,
        },
    )


def _read(
    governance: Any,
    filters: dict[str, str],
    outcome: str,
    since: int | None,
    cursor: tuple[int, int] | None,
    projects: list[str] | None,
) -> tuple[list[Any], bool]:
    """One page of entries after ``cursor`` (newest first) and whether more follow."""
    wanted = PER_PAGE + 1
    limit = wanted + 50
    while True:
        found = governance.search_audit(
            since=since,
            until=cursor[0] + 1 if cursor else None,
            user=filters["user"] or None,
            project=filters["project"] or None,
            object_id=filters["object"] or None,
            outcome=outcome or None,
            projects=projects,
            max_results=limit,
        )
        # the entries of the boundary's millisecond already shown are dropped here
        kept = [e for e in found if cursor is None or (e.at, e.id) < cursor]
        if len(kept) >= wanted or len(found) < limit or limit >= MAX_READ:
            return kept[:PER_PAGE], len(kept) > PER_PAGE
        limit = min(limit * 4, MAX_READ)


def register(face: DashboardFace) -> None:
    """The audit page."""
    face.page(
        "GET",
        "/audit",
        audit_page,
        permission=AUDIT,
        denied="The audit trail is shown to the server's admins, and to maintainers for the "
        "projects they maintain. Ask an admin (`heron users list` shows who) if you need it.",
    )
