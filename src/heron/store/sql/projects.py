"""Projects on the SQL store: the check that a project exists before a name is made in it.

A project owns experiments, registered models and artifact versions (their ``project``
column); the ``projects`` table lists the projects there are. ``default`` always exists: it
holds everything made before projects existed and every single user's work, so making a name
in it never reads the table (and an emptied table still lets a store work as before).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select

from heron.core.errors import NotFound
from heron.store.sql import schema as t

#: the project named ``:name`` (compiled once as a raw statement by the store)
PROJECT_BY_NAME = select(t.projects.c.name).where(t.projects.c.name == bindparam("name"))


def where_phrase(project: str) -> str:
    """`` in project 'x'`` for a message naming something of ``project``; nothing for
    ``default``, whose messages read as they did before projects existed."""
    return "" if project == t.DEFAULT_PROJECT else f" in project {project!r}"


def unknown_project(project: str) -> NotFound:
    """The error of a name made in a project the store does not have."""
    return NotFound(
        f"There is no project named {project!r} in this store. Create it first (`heron "
        f"projects create {project}`, an administrator's command), or work in an existing "
        "project (--project NAME, HERON_PROJECT or heron.set_project)."
    )


def require_project(conn: Connection, project: str) -> None:
    """:class:`NotFound` (saying how to create it) unless ``project`` exists."""
    if project == t.DEFAULT_PROJECT:
        return
    if conn.execute(PROJECT_BY_NAME, {"name": project}).first() is None:
        raise unknown_project(project)


def require_project_raw(cursor: Any, statement: Any, project: str) -> None:
    """:func:`require_project` in a raw write (``statement``: :data:`PROJECT_BY_NAME` as a
    ``RawStatement``)."""
    if project == t.DEFAULT_PROJECT:
        return
    if statement.execute(cursor, {"name": project}).fetchone() is None:
        raise unknown_project(project)
