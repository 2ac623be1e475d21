"""``/``: the dashboard starts at the experiments."""

from __future__ import annotations

from heron.server.dashboard.face import DashboardFace, Page, Request


def home(request: Request) -> Page:
    return Page(body=b"", status=307, headers=[(b"location", b"/experiments")])


def register(face: DashboardFace) -> None:
    face.page("GET", "/", home)
