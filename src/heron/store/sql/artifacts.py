"""The artifact-version and lineage-link methods of :class:`~heron.store.sql.store.SqlStore`
(``SqlArtifactsMixin``): versions numbered per (project, name), stored once per row, linked to
the runs that produced or consumed them. Names are looked up in the store's ``project``; ids
reach every project.

The mixin uses the store's engine, dialect and compiled raw statements (``_raw_*``), which
``SqlStore.__init__`` prepares.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, select

from heron.core import validation
from heron.core.entities import ACTIVE, INPUT, OUTPUT, ArtifactLink, ArtifactVersion
from heron.core.errors import InvalidArgument, NotFound
from heron.core.ids import new_id, now_ms
from heron.store.sql import schema as t
from heron.store.sql.projects import require_project_raw, where_phrase
from heron.store.sql.raw import run_raw_write


class SqlArtifactsMixin:
    """Artifact versions and run-artifact links on the store's SQL database."""

    engine: Any
    _dialect: str
    project: str

    def create_artifact_version(
        self,
        name: str,
        *,
        content_hash: str,
        type: str,
        materializer: str,
        size: int,
        uri: str,
        producer_run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        materializer_version: str = "1",
        link_name: str | None = None,
    ) -> ArtifactVersion:
        validation.check_artifact_name(name, "Artifact")
        if link_name is not None:
            validation.check_artifact_name(link_name, "Link")
        check_artifact_fields(content_hash, type, materializer, materializer_version, size)
        project = self.project
        art = ArtifactVersion(
            id=new_id(),
            name=name,
            version=0,
            content_hash=content_hash,
            type=type,
            materializer=materializer,
            materializer_version=materializer_version,
            size=size,
            uri=uri,
            producer_run_id=producer_run_id,
            created_at=now_ms(),
            metadata=dict(metadata or {}),
            project=project,
        )
        try:
            metadata_json = orjson.dumps(art.metadata, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        except TypeError as e:
            raise InvalidArgument(
                f"Metadata of artifact {name!r} is not JSON-serializable: {e}."
            ) from e

        row = {
            "id": art.id,
            "name": name,
            "content_hash": content_hash,
            "type": type,
            "materializer": materializer,
            "materializer_version": materializer_version,
            "size": size,
            "uri": uri,
            "metadata": metadata_json,
            "producer_run_id": producer_run_id,
            "created_at": art.created_at,
            "lifecycle": ACTIVE,
            "project": project,
        }

        def body(cur: Any) -> int:
            if (
                producer_run_id is not None
                and self._raw_run_exists.execute(cur, {"run_id": producer_run_id}).fetchone()
                is None
            ):
                raise NotFound(f"No run with id {producer_run_id!r} to link the artifact to.")
            if self._dialect == "postgresql":  # one numberer per (project, name) at a time
                key = name if project == t.DEFAULT_PROJECT else f"{project}/{name}"
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%(name)s))", {"name": key})
            numbered = {"name": name, "project": project}
            latest = self._raw_latest_version.execute(cur, numbered).fetchone()[0]
            if latest is None:  # the first version of a name: the project must exist
                require_project_raw(cur, self._raw_project_by_name, project)
            version = (latest or 0) + 1
            self._raw_insert_artifact.execute(cur, {**row, "version": version})
            if producer_run_id is not None:
                self._raw_upsert_links.execute(
                    cur,
                    {
                        "run_id": producer_run_id,
                        "artifact_id": art.id,
                        "direction": OUTPUT,
                        "name": link_name or name,
                    },
                )
            return version

        integrity_error = self.engine.dialect.loaded_dbapi.IntegrityError
        for attempt in range(8):
            try:
                art.version = run_raw_write(self.engine, body)
                return art
            except integrity_error:  # a concurrent writer took this version number
                if attempt == 7:
                    raise
        raise AssertionError("unreachable")

    def link_artifact(self, run_id: str, artifact_id: str, direction: str, name: str) -> None:
        check_link(direction, name)

        def body(cur: Any) -> None:
            if self._raw_run_exists.execute(cur, {"run_id": run_id}).fetchone() is None:
                raise NotFound(f"No run with id {run_id!r}.")
            if self._raw_artifact_exists.execute(cur, {"id": artifact_id}).fetchone() is None:
                raise NotFound(f"No artifact version with id {artifact_id!r}.")
            self._raw_upsert_links.execute(
                cur,
                {
                    "run_id": run_id,
                    "artifact_id": artifact_id,
                    "direction": direction,
                    "name": name,
                },
            )

        run_raw_write(self.engine, body)

    def _artifacts(self, conn: Connection, query: Any) -> list[ArtifactVersion]:
        return [
            ArtifactVersion(
                id=r.id,
                name=r.name,
                version=r.version,
                content_hash=r.content_hash,
                type=r.type,
                materializer=r.materializer,
                materializer_version=r.materializer_version,
                size=r.size,
                uri=r.uri,
                producer_run_id=r.producer_run_id,
                created_at=r.created_at,
                metadata=orjson.loads(r.metadata),
                lifecycle=r.lifecycle,
                project=r.project,
            )
            for r in conn.execute(query)
        ]

    def get_artifact_version(self, artifact_id: str) -> ArtifactVersion:
        av = t.artifact_versions
        with self._read() as conn:
            found = self._artifacts(conn, select(av).where(av.c.id == artifact_id))
        if not found:
            raise NotFound(f"No artifact version with id {artifact_id!r}.")
        return found[0]

    def get_artifact_version_by_name(
        self, name: str, version: int | None = None
    ) -> ArtifactVersion:
        av = t.artifact_versions
        project = self.project
        query = select(av).where(
            av.c.project == project, av.c.name == name, av.c.lifecycle == ACTIVE
        )
        query = query.where(av.c.version == version) if version is not None else query
        with self._read() as conn:
            found = self._artifacts(conn, query.order_by(av.c.version.desc()).limit(1))
        if not found:
            which = f"version {version} of " if version is not None else ""
            raise NotFound(
                f"No {which}artifact named {name!r}{where_phrase(project)}. List them with "
                "`heron artifacts list`."
            )
        return found[0]

    def list_artifact_versions(
        self, name: str | None = None, run_id: str | None = None, max_results: int = 1000
    ) -> list[ArtifactVersion]:
        av = t.artifact_versions
        query = select(av).where(av.c.lifecycle == ACTIVE)
        if name is not None or run_id is None:  # a run's links reach every project (by id)
            query = query.where(av.c.project == self.project)
        if name is not None:
            query = query.where(av.c.name == name)
        if run_id is not None:
            linked = select(t.run_artifacts.c.artifact_id).where(t.run_artifacts.c.run_id == run_id)
            query = query.where(av.c.id.in_(linked))
        query = query.order_by(av.c.created_at.desc(), av.c.version.desc()).limit(max_results)
        with self._read() as conn:
            return self._artifacts(conn, query)

    def list_artifact_links(
        self, run_id: str | None = None, artifact_id: str | None = None
    ) -> list[ArtifactLink]:
        ra = t.run_artifacts
        query = select(ra.c.run_id, ra.c.artifact_id, ra.c.direction, ra.c.name)
        if run_id is not None:
            query = query.where(ra.c.run_id == run_id)
        if artifact_id is not None:
            query = query.where(ra.c.artifact_id == artifact_id)
        with self._read() as conn:
            return [
                ArtifactLink(*r) for r in conn.execute(query.order_by(ra.c.direction, ra.c.name))
            ]


def check_link(direction: str, name: str) -> None:
    """A run-artifact link's direction and name, checked."""
    if direction not in (INPUT, OUTPUT):
        raise InvalidArgument(f"direction must be 'input' or 'output', got {direction!r}.")
    validation.check_artifact_name(name, "Link")


def check_artifact_fields(
    content_hash: str, type_: str, materializer: str, materializer_version: str, size: int
) -> None:
    """The fields of a new artifact version, checked before anything is written."""
    if (
        not isinstance(content_hash, str)
        or len(content_hash) != 64
        or any(c not in "0123456789abcdef" for c in content_hash)
    ):
        raise InvalidArgument(f"content_hash must be a sha256 hex digest, got {content_hash!r}.")
    validation.check_text(validation.check_length(type_, 256, "Artifact type"), "Artifact type")
    validation.check_text(
        validation.check_length(materializer, 128, "Materializer name"), "Materializer name"
    )
    validation.check_text(
        validation.check_length(materializer_version, 32, "Materializer version"),
        "Materializer version",
    )
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63:
        raise InvalidArgument(f"Artifact size must be an integer from 0 to 2**63-1, got {size!r}.")
