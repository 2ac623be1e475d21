"""The dashboard: server-rendered pages of ``heron server`` (and ``heron ui``).

- :mod:`.face`: the dispatcher (:class:`~heron.server.dashboard.face.DashboardFace`), the
  request every page gets, the Jinja2 environment (autoescaped) and the static files;
- :mod:`.pages`: one module per group of pages, each with a ``register(face)`` function; the
  face finds them itself, so adding pages touches no other file;
- ``templates/``: Jinja2 templates (``base.html`` is the layout every page extends);
- ``static/``: the dashboard's own CSS and JavaScript, written here (no third-party front-end
  code is committed; there is no build step).

Pages read the server's store directly for their first render; the JSON that charts and
tables load afterwards comes from the REST API (``/api/v1``), so there is no second query layer.
"""
