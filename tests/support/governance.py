"""A governed server in this process, with two projects of data and one user per role.

``alpha`` and ``beta`` each hold an experiment, a run with a metric, a param and a tag, an
artifact version with stored bytes, a registered model ``m`` with version 1 under the alias
``champion`` and a pipeline version a run ran. The users: ``admin`` (a server admin),
``viewer``, ``editor`` and ``maintainer`` of ``alpha``, ``other`` (an editor of ``beta`` only)
and ``dummy`` (a viewer of ``alpha`` whom admin routes may change). Requests go through
``httpx.ASGITransport`` to the real ASGI app, authenticated with each user's API token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from heron.core.entities import Metric
from heron.core.ids import new_id, now_ms

ROLES = ("anonymous", "other", "viewer", "editor", "maintainer", "admin")
ROLE_IN_ALPHA = {
    "anonymous": None,
    "other": None,
    "viewer": "viewer",
    "editor": "editor",
    "maintainer": "maintainer",
    "admin": "admin",
}
PASSWORD = "a-long-password"


@dataclass
class ProjectData:
    experiment_id: str
    experiment_name: str
    run_id: str
    artifact_id: str
    content_hash: str
    pipeline_version_id: str
    model: str = "m"


@dataclass
class World:
    app: Any
    uri: str
    tokens: dict[str, str]
    alpha: ProjectData
    beta: ProjectData
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    client: httpx.AsyncClient | None = None

    def request(
        self,
        role: str,
        method: str,
        path: str,
        *,
        project: str | None = None,
        json: Any = None,
        params: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if role != "anonymous":
            all_headers["authorization"] = f"Bearer {self.tokens[role]}"
        if project is not None:
            all_headers["x-heron-project"] = project
        return self.loop.run_until_complete(
            self._client().request(
                method,
                path,
                json=json,
                params=params,
                content=content,
                headers=all_headers,
            )
        )

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            self.client = httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", follow_redirects=False
            )
        return self.client

    def denied_count(self) -> int:
        from sqlalchemy import func, select

        from heron.store.sql import schema as t

        with self.app.store.engine.connect() as conn:
            query = select(func.count()).where(t.audit_log.c.outcome == "denied")
            return int(conn.execute(query).scalar_one())

    def close(self) -> None:
        if self.client is not None:
            self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.app.pool.shutdown(wait=True)


def _project_data(store: Any, blobs: Any, project: str) -> ProjectData:
    view = store.in_project(project)
    experiment = view.create_experiment(f"{project}-experiment")
    run = view.create_run(experiment.id, name=f"{project}-run")
    view.log_batch(
        run.id, [Metric("loss", 0.5, 0, now_ms())], params={"lr": "0.1"}, tags={"team": project}
    )
    stored = blobs.put_bytes(f"the bytes of {project}".encode())
    artifact = view.create_artifact_version(
        f"{project}-data",
        content_hash=stored.content_hash,
        type="bytes",
        materializer="file",
        size=stored.size,
        uri=stored.uri,
        producer_run_id=run.id,
        link_name=f"{project}-data",
    )
    version_id = new_id()
    view.create_pipeline_version(version_id, f"{project}-pipeline", {"steps": []})
    view.create_run(
        experiment.id,
        name=f"{project}-pipeline-run",
        kind="pipeline",
        pipeline_version_id=version_id,
    )
    view.create_model_version("m", artifact.id)
    view.set_model_alias("m", "champion", 1)
    return ProjectData(
        experiment_id=experiment.id,
        experiment_name=experiment.name,
        run_id=run.id,
        artifact_id=artifact.id,
        content_hash=stored.content_hash,
        pipeline_version_id=version_id,
    )


def build_world(folder: Path, *, default_role: str | None = None) -> World:
    """The app over a new SQLite store in ``folder``, with its users, tokens and data."""
    from heron.server.app import create_app
    from heron.server.settings import ServerSettings
    from heron.store.sql.governance import GovernanceStore

    uri = f"sqlite:///{folder}/heron.db"
    settings = ServerSettings(
        backend_store_uri=uri,
        artifacts_uri=str(folder / "artifacts"),
        auth=True,
        default_role=default_role,
        reap_interval=0,
        access_log=False,
    )
    app = create_app(settings)
    governance = GovernanceStore(uri)
    for project in ("alpha", "beta"):
        governance.create_project(project)
    tokens = {}
    for name in ("admin", "viewer", "editor", "maintainer", "other", "dummy"):
        governance.create_user(name, PASSWORD, admin=name == "admin")
        tokens[name] = governance.create_token(name, "tests")[1]
    for name in ("viewer", "editor", "maintainer"):
        governance.grant("alpha", name, name)
    governance.grant("alpha", "dummy", "viewer")
    governance.grant("beta", "other", "editor")
    alpha = _project_data(app.store, app.blobs, "alpha")
    beta = _project_data(app.store, app.blobs, "beta")
    return World(app, uri, tokens, alpha, beta)


def template_values(world: World, data: ProjectData) -> dict[str, str]:
    """A value for each ``{field}`` a route template may have, naming ``data``'s objects."""
    return {
        "experiment_id": data.experiment_id,
        "run_id": data.run_id,
        "artifact_id": data.artifact_id,
        "name": data.model,
        "version": "1",
        "alias": "champion",
        "hash": data.content_hash,
        "version_id": data.pipeline_version_id,
        "project": "alpha" if data is world.alpha else "beta",
        "user": "dummy",
        "token": "no-such-token",
        "upload_id": new_id(),
        "schedule_id": "no-such-schedule",
        "name_or_id": "no-such-schedule",
        "tick_id": "1",
        "backfill_id": "no-such-backfill",
        "path": f"{data.experiment_id}/{data.run_id}/artifacts/{data.model}.txt",
        "model_id": "m-" + new_id(),
    }


def arguments(world: World, data: ProjectData) -> dict[str, Any]:
    """Body / query fields naming ``data``'s objects under the names routes use."""
    return {
        "experiment_id": data.experiment_id,
        "experiment_ids": [data.experiment_id],
        "run_id": data.run_id,
        "run_uuid": data.run_id,
        "run_ids": [data.run_id],
        "artifact_id": data.artifact_id,
        "producer_run_id": data.run_id,
        "name": data.model,
        "version": 1,
        "alias": "champion",
        "key": "k",
        "value": "v",
        "user": "dummy",
        "role": "viewer",
        "version_id": data.pipeline_version_id,
        "source_run_id": data.run_id,
        "project": "alpha" if data is world.alpha else "beta",
    }


def fill(template: str, values: dict[str, str]) -> str:
    import re
    from urllib.parse import quote

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        value = values.get(key, "x")
        return value if key == "path" else quote(value, safe="")

    return re.sub(r"\{([^}]+)\}", one, template)
