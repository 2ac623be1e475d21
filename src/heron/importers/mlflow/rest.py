"""A running MLflow server, read through its REST API with httpx.

Runs come from ``runs/search`` (params, tags), every metric point from
``metrics/get-history`` (one call per metric, paged), files through the artifact proxy
(``mlflow-artifacts``), the registry from ``registered-models/search`` and
``model-versions/search``, logged models from ``logged-models/search``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from heron.core.entities import Metric
from heron.core.uris import redact
from heron.importers.mlflow.locations import local_path, proxy_path
from heron.importers.mlflow.records import (
    ACTIVE,
    PARENT_TAG,
    MlflowSource,
    RunHeader,
    SourceError,
    SourceExperiment,
    SourceLoggedModel,
    SourceModelVersion,
    SourceRegisteredModel,
    SourceRun,
)

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {i["key"]: i.get("value", "") for i in items or []}


def _number(value: Any) -> float:
    return float(value)  # JSON numbers, and "NaN" / "Infinity" as MLflow writes them


class RestSource(MlflowSource):
    """The MLflow server at ``url`` (``MLFLOW_TRACKING_TOKEN`` / user and password in the
    environment are not read: put credentials in the URL if the server needs them)."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.label = f"mlflow:{redact(self.url)}"
        self.timeout = timeout
        self._client: Any = None
        self._runs: dict[str, dict[str, Any]] = {}

    # --- HTTP -------------------------------------------------------------------------------
    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(base_url=self.url, timeout=self.timeout)
        return self._client

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            response = self._http().request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise SourceError(
                f"cannot reach the MLflow server at {redact(self.url)} ({type(e).__name__}: {e}). "
                "Check the URL and that `mlflow server` is running there."
            ) from e
        if response.status_code >= 400:
            raise SourceError(
                f"the MLflow server at {redact(self.url)} answered {response.status_code} to "
                f"{method} {path}: {response.text[:300]}"
            )
        try:
            return response.json() if response.content else {}
        except ValueError:
            raise SourceError(
                f"{redact(self.url)} answered {method} {path} with something that is not JSON: "
                "is it an MLflow server (and not, say, its UI behind a proxy)?"
            ) from None

    def _pages(self, method: str, path: str, key: str, body: dict[str, Any]) -> Iterator[Any]:
        token = None
        while True:
            page = dict(body, **({"page_token": token} if token else {}))
            if method == "GET":
                answer = self._call("GET", path, params=page)
            else:
                answer = self._call("POST", path, json=page)
            yield from answer.get(key, [])
            token = answer.get("next_page_token")
            if not token:
                return

    def check(self) -> None:
        answer = self._call(
            "POST", f"{API}/experiments/search", json={"max_results": 1, "view_type": "ALL"}
        )
        if "experiments" not in answer:
            raise SourceError(
                f"{redact(self.url)} answered experiments/search without experiments: it is not "
                "an MLflow tracking server."
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # --- tracking -------------------------------------------------------------------------
    def experiments(self) -> list[SourceExperiment]:
        body = {"max_results": 1000, "view_type": "ALL"}
        return [
            SourceExperiment(
                str(e["experiment_id"]),
                e["name"],
                e.get("lifecycle_stage") or ACTIVE,
                _pairs(e.get("tags")),
            )
            for e in self._pages("POST", f"{API}/experiments/search", "experiments", body)
        ]

    def run_headers(self) -> list[RunHeader]:
        ids = [e.id for e in self.experiments()]
        headers = []
        for start in range(0, len(ids), 100):
            body = {
                "experiment_ids": ids[start : start + 100],
                "run_view_type": "ALL",
                "max_results": 1000,
            }
            for run in self._pages("POST", f"{API}/runs/search", "runs", body):
                info = run["info"]
                self._runs[info["run_id"]] = run
                tags = _pairs(run.get("data", {}).get("tags"))
                headers.append(
                    RunHeader(
                        info["run_id"],
                        str(info["experiment_id"]),
                        info.get("status") or "FINISHED",
                        info.get("lifecycle_stage") or ACTIVE,
                        tags.get(PARENT_TAG) or None,
                        int(info.get("start_time") or 0),
                    )
                )
        return headers

    def load_runs(self, headers: Sequence[RunHeader]) -> list[SourceRun]:
        runs = []
        for header in headers:
            found = (
                self._runs.get(header.id)
                or self._call("GET", f"{API}/runs/get", params={"run_id": header.id})["run"]
            )
            info, data = found["info"], found.get("data", {})
            run = SourceRun(
                id=info["run_id"],
                experiment_id=str(info["experiment_id"]),
                name=info.get("run_name"),
                status=info.get("status") or "FINISHED",
                start_time=int(info.get("start_time") or 0),
                end_time=int(info["end_time"]) if info.get("end_time") else None,
                user=info.get("user_id") or None,
                lifecycle=info.get("lifecycle_stage") or ACTIVE,
                artifact_uri=info.get("artifact_uri"),
                params=_pairs(data.get("params")),
                tags=_pairs(data.get("tags")),
            )
            for key in sorted({m["key"] for m in data.get("metrics", [])}):
                points = [
                    Metric(
                        key,
                        _number(m.get("value", 0)),
                        int(m.get("step", 0)),
                        int(m.get("timestamp", 0)),
                    )
                    for m in self._pages(
                        "GET",
                        f"{API}/metrics/get-history",
                        "metrics",
                        {"run_id": run.id, "metric_key": key, "max_results": 25000},
                    )
                ]
                run.metrics.extend(sorted(points, key=lambda m: (m.step, m.timestamp)))
            runs.append(run)
        return runs

    # --- files ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _tree(self, uri: str | None) -> Iterator[Path | None]:
        inner = proxy_path(uri) if uri else None
        if inner is None:
            path = local_path(uri) if uri else None  # a server writing to a local folder
            yield path if path is not None and path.is_dir() else None
            return
        tmp = Path(tempfile.mkdtemp(prefix="heron-import-"))
        try:
            count = self._download(inner, tmp)
            yield tmp if count else None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _download(self, inner: str, target: Path) -> int:
        count = 0
        listing = self._call("GET", ARTIFACTS, params={"path": inner}).get("files", [])
        for entry in listing:
            name = entry["path"].rsplit("/", 1)[-1]
            if name in ("", ".", ".."):
                continue
            if entry.get("is_dir"):
                (target / name).mkdir(parents=True, exist_ok=True)
                count += self._download(f"{inner}/{name}", target / name)
                continue
            target.mkdir(parents=True, exist_ok=True)
            self._fetch(f"{ARTIFACTS}/{quote(f'{inner}/{name}')}", target / name)
            count += 1
        return count

    def _fetch(self, path: str, dest: Path) -> None:
        import httpx

        try:
            with self._http().stream("GET", path) as response:
                if response.status_code >= 400:
                    raise SourceError(
                        f"the MLflow server answered {response.status_code} to GET {path}"
                    )
                with open(dest, "wb") as f:
                    for chunk in response.iter_bytes(1 << 20):
                        f.write(chunk)
        except httpx.HTTPError as e:
            raise SourceError(f"downloading {path} from {redact(self.url)} failed: {e}") from e

    def run_artifacts(self, run: SourceRun) -> contextlib.AbstractContextManager[Path | None]:
        return self._tree(run.artifact_uri)

    def model_artifacts(
        self, model: SourceLoggedModel
    ) -> contextlib.AbstractContextManager[Path | None]:
        return self._tree(model.artifact_location)

    # --- logged models and the registry ----------------------------------------------------
    def logged_models(self) -> list[SourceLoggedModel]:
        ids = [e.id for e in self.experiments()]
        models = []
        for start in range(0, len(ids), 100):
            body = {"experiment_ids": ids[start : start + 100], "max_results": 100}
            for found in self._pages("POST", f"{API}/logged-models/search", "models", body):
                info, data = found["info"], found.get("data", {})
                status = str(info.get("status", ""))
                models.append(
                    SourceLoggedModel(
                        id=info["model_id"],
                        experiment_id=str(info["experiment_id"]),
                        name=info.get("name") or "model",
                        source_run_id=info.get("source_run_id") or None,
                        artifact_location=info.get("artifact_uri"),
                        status="READY" if "READY" in status else status or "READY",
                        lifecycle=ACTIVE,
                        model_type=info.get("model_type"),
                        tags=_pairs(info.get("tags")),
                        params=_pairs(data.get("params")),
                    )
                )
        return models

    def registered_models(self) -> list[SourceRegisteredModel]:
        models = []
        for found in self._pages(
            "GET", f"{API}/registered-models/search", "registered_models", {"max_results": 1000}
        ):
            model = SourceRegisteredModel(
                name=found["name"],
                description=found.get("description") or None,
                tags=_pairs(found.get("tags")),
                aliases={a["alias"]: int(a["version"]) for a in found.get("aliases", [])},
            )
            name = model.name.replace("'", "\\'")
            for v in self._pages(
                "GET",
                f"{API}/model-versions/search",
                "model_versions",
                {"filter": f"name = '{name}'", "max_results": 10000},
            ):
                model.versions.append(
                    SourceModelVersion(
                        version=int(v["version"]),
                        source=v.get("source"),
                        run_id=v.get("run_id") or None,
                        description=v.get("description") or None,
                        user=v.get("user_id") or None,
                        stage=v.get("current_stage"),
                        storage_location=v.get("storage_location"),
                        model_id=v.get("model_id") or None,
                        status=v.get("status") or "READY",
                        tags=_pairs(v.get("tags")),
                    )
                )
            model.versions.sort(key=lambda mv: mv.version)
            models.append(model)
        return models
