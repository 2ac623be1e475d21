"""Random authenticated traffic against a governed server (bounded: 1,000 requests, in this
process, seeded): every answer is one a client expects (never a 5xx), and a write the guard
refuses leaves nothing in the data, only its entry in the audit log."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select

from heron.store.rest import protocol
from heron.store.sql import schema as t
from tests.support import governance as gov

pytestmark = pytest.mark.timeout(300)

EXPECTED = {200, 201, 204, 206, 303, 307, 400, 401, 403, 404, 405, 409, 413, 416, 422, 429}
GARBAGE: list[Any] = ["", "x", "../../etc/passwd", "%00", "a" * 300, -1, 0, 2**70, None, [], {}]
#: tables a request may touch without changing data (who signed in when, what was denied)
BOOKKEEPING = {"audit_log", "api_tokens", "alembic_version", "scheduler_heartbeats"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    built = gov.build_world(tmp_path_factory.mktemp("fuzz"))
    yield built
    built.close()


def _values(world: gov.World, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    data = rng.choice([world.alpha, world.beta])
    template = gov.template_values(world, data)
    arguments = gov.arguments(world, data)
    for mapping in (template, arguments):
        for key in list(mapping):
            if rng.random() < 0.2:
                value = rng.choice(GARBAGE)
                mapping[key] = value if mapping is arguments else str(value)
    return template, arguments


def _send(world, rng, role, method, template, face):
    values, arguments = _values(world, rng)
    path = gov.fill(template, values)
    project = rng.choice(["alpha", "beta", "default", "no-such", "bad name!"])
    if face == "mlflow" and rng.random() < 0.5:
        path = f"/projects/{rng.choice(['alpha', 'beta'])}" + path
    if method in ("GET", "HEAD", "DELETE"):
        params = {k: v for k, v in arguments.items() if isinstance(v, (str, int))}
        return world.request(role, method, path, project=project, params=params)
    if method == "PUT" and face in ("artifacts", "mlflow"):
        return world.request(role, method, path, project=project, content=b"fuzz")
    body = arguments if rng.random() < 0.9 else rng.choice(GARBAGE)
    return world.request(role, method, path, project=project, json=body)


def test_random_traffic_gets_only_expected_answers(world):
    rng = random.Random(15)
    routes = [r for r in world.app.route_permissions() if r[1] != "HEAD" or r[0] != "dashboard"]
    seen: dict[int, int] = {}
    bad = []
    for _ in range(1_000):
        face, method, template, _permission = rng.choice(routes)
        role = rng.choice(gov.ROLES)
        response = _send(world, rng, role, method, template, face)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if response.status_code not in EXPECTED:
            bad.append(
                f"{response.status_code} {face} {method} {template} as {role}: "
                f"{response.text[:200]}"
            )
    assert not bad, "\n".join(bad[:30])
    # the traffic exercised both sides of the guard
    assert seen.get(200, 0) > 50 and seen.get(403, 0) + seen.get(404, 0) > 50
    assert seen.get(401, 0) > 50


def _snapshot(world) -> dict[str, list[tuple]]:
    """Every row of every data table (the bookkeeping tables left out)."""
    with world.app.store.engine.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(select(table))), key=repr)
            for table in t.metadata.sorted_tables
            if table.name not in BOOKKEEPING
        }


def test_denied_writes_leave_no_trace(world):
    """Writes by callers with no write role where they aim (anonymous, alpha's viewer,
    beta's editor aiming at alpha) are all refused and change no data."""
    rng = random.Random(151)
    writes = [
        r
        for r in world.app.route_permissions()
        if r[3] is not None
        and r[3].level in ("editor", "maintainer", "admin")
        and not r[3].anywhere
        and r[0] in ("heron", "mlflow", "admin", "server")
    ]
    before = _snapshot(world)
    denied_before = world.denied_count()
    sent = 0
    for _ in range(300):
        face, method, template, _permission = rng.choice(writes)
        role = rng.choice(["anonymous", "viewer", "other"])
        data = world.alpha
        path = gov.fill(template, gov.template_values(world, data))
        if face == "mlflow":
            path = "/projects/alpha" + path
        arguments = gov.arguments(world, data)
        if face == "heron":  # fields that validate, so that the guard decides
            from tests.integration.test_governance_matrix import _heron_arguments

            route = next(
                r for r in protocol.ROUTES if (r.method, r.full_path) == (method, template)
            )
            arguments = _heron_arguments(route, arguments)
            for field in route.path_fields:
                arguments.pop(field, None)
        if method in ("GET", "DELETE"):
            params = {k: v for k, v in arguments.items() if not isinstance(v, list)}
            response = world.request(role, method, path, project="alpha", params=params)
        else:
            response = world.request(role, method, path, project="alpha", json=arguments)
        sent += 1
        assert response.status_code in (401, 403, 404), (
            face,
            method,
            template,
            role,
            response.status_code,
            response.text[:300],
        )
    assert _snapshot(world) == before
    assert world.denied_count() - denied_before == sent
