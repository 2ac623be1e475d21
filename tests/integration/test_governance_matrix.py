"""The permission matrix: every route the server answers (listed by the app itself, so a
route added anywhere is in it) x {anonymous, another project's editor, viewer, editor,
maintainer, admin} of project ``alpha``, each request naming alpha's objects.

A route without a declared permission fails. Whether the guard allowed a signed-in request is
read from the audit trail (every denial is recorded there) and from its status; an anonymous
one is refused with 401 (or, for a dashboard page, sent to the sign-in page).
"""

from __future__ import annotations

from typing import Any

import pytest

from heron.server.auth.permissions import allows
from heron.store.rest import protocol
from tests.support import governance as gov

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    built = gov.build_world(tmp_path_factory.mktemp("matrix"))
    yield built
    built.close()


def expected_allowed(permission: Any, role: str) -> bool:
    level = permission.level
    if level == "public":
        return True
    if role == "anonymous":
        return False
    if level == "authenticated" or role == "admin":
        return True
    if level == "admin":
        return False
    if permission.anywhere:  # the level in any one project: "other" is an editor of beta
        best = "editor" if role == "other" else gov.ROLE_IN_ALPHA[role]
        return allows(best, level)
    return allows(gov.ROLE_IN_ALPHA[role], level)


def _heron_arguments(route: protocol.Route, values: dict[str, Any]) -> dict[str, Any]:
    """Arguments that validate for the Store route: the world's where a field has its name,
    a plain value of the field's type where it is required, nothing else."""
    model = protocol.request_model(route.name, "rest")
    arguments: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in values:
            arguments[name] = values[name]
        elif info.is_required():
            annotation = str(info.annotation)
            if "list" in annotation or "Sequence" in annotation or "tuple" in annotation:
                arguments[name] = []
            elif "dict" in annotation:
                arguments[name] = {}
            elif "bool" in annotation:
                arguments[name] = False
            elif "int" in annotation:
                arguments[name] = 1
            else:
                arguments[name] = "x"
    return arguments


def _send(world: gov.World, face: str, method: str, template: str, role: str):
    data = world.alpha
    path = gov.fill(template, gov.template_values(world, data))
    values = gov.arguments(world, data)
    if face == "heron":
        route = next(r for r in protocol.ROUTES if r.method == method and r.full_path == template)
        arguments = _heron_arguments(route, values)
        for field in route.path_fields:
            arguments.pop(field, None)
        if route.in_query:
            return world.request(role, method, path, project="alpha", params=arguments)
        return world.request(role, method, path, project="alpha", json=arguments)
    if face == "mlflow":
        path = "/projects/alpha" + path
        if method in ("GET", "DELETE", "HEAD"):
            params = {k: v for k, v in values.items() if not isinstance(v, list)}
            params["experiment_ids"] = values["experiment_ids"]
            return world.request(role, method, path, params=params)
        if method == "PUT":
            return world.request(role, method, path, content=b"some bytes")
        return world.request(role, method, path, json=values)
    if face == "dashboard":
        if method == "GET":
            return world.request(
                role, method, path, params={"project": "alpha"}, headers={"accept": "text/html"}
            )
        return world.request(role, method, path, params={"project": "alpha"}, json={})
    if face == "artifacts":
        if method in ("PUT", "POST"):
            return world.request(role, method, path, project="alpha", content=b"x")
        return world.request(role, method, path, project="alpha")
    if method in ("GET", "HEAD", "DELETE"):
        params = {k: v for k, v in values.items() if not isinstance(v, list)}
        return world.request(role, method, path, project="alpha", params=params)
    return world.request(role, method, path, project="alpha", json=values)


def test_every_route_declares_a_permission(world):
    routes = world.app.route_permissions()
    faces = {face for face, *_ in routes}
    assert {"heron", "server", "artifacts", "admin", "mlflow", "dashboard"} <= faces
    assert len(routes) > 150
    undeclared = [(f, m, t) for f, m, t, p in routes if p is None]
    assert not undeclared, f"routes without a declared permission: {undeclared}"
    # every Store route of the protocol is among them
    listed = {(m, t) for f, m, t, _p in routes if f == "heron"}
    assert {(r.method, r.full_path) for r in protocol.ROUTES} == listed


def test_the_matrix(world):
    routes = sorted(world.app.route_permissions(), key=lambda r: (r[0], r[2], r[1]))
    wrong: list[str] = []
    checked = 0
    for face, method, template, permission in routes:
        for role in gov.ROLES:
            want = expected_allowed(permission, role)
            before = world.denied_count()
            response = _send(world, face, method, template, role)
            denied = world.denied_count() > before
            status = response.status_code
            checked += 1
            where = f"{face} {method} {template} as {role}: {status} {response.text[:160]!r}"
            if status >= 500:
                wrong.append("server error: " + where)
                continue
            if role == "anonymous":
                refused = status == 401 or (
                    status in (302, 303) and "/login" in response.headers.get("location", "")
                )
                if want and refused:
                    wrong.append("refused, should pass: " + where)
                elif not want and not refused:
                    wrong.append("passed, should be 401: " + where)
                continue
            if status == 401:
                wrong.append("401 for a signed-in user: " + where)
            elif want and denied:
                wrong.append("denied, should pass: " + where)
            elif not want and not (denied and status in (403, 404)):
                wrong.append("allowed, should be denied: " + where)
    assert checked >= 6 * 150
    assert not wrong, f"{len(wrong)} of {checked} cells wrong:\n" + "\n".join(wrong[:60])
