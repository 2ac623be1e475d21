"""``/``: the dashboard starts at the experiments (of the project asked for, if any)."""

from __future__ import annotations

from urllib.parse import urlencode

from heron.server.auth.permissions import PUBLIC
from heron.server.dashboard.face import DashboardFace, Page, Request


def home(request: Request) -> Page:
    project = request.arg("project")
    location = "/experiments" + ("?" + urlencode({"project": project}) if project else "")
    return Page(body=b"", status=307, headers=[(b"location", location.encode())])


def register(face: DashboardFace) -> None:
    face.page("GET", "/", home, permission=PUBLIC)
