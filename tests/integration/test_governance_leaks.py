"""Cross-project reads through Heron's API: a viewer of ``alpha`` never sees an id, a name or
the bytes of ``beta`` — not by id, not through search, lineage links, content hashes or model
names — and an editor of ``alpha`` cannot pull ``beta``'s objects into ``alpha``."""

from __future__ import annotations

import pytest

from heron.core.ids import now_ms
from tests.support import governance as gov


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    built = gov.build_world(tmp_path_factory.mktemp("leaks"))
    # an alpha run that consumed beta's artifact (linked by an admin, who may read both)
    admin = built.app.store.in_project("alpha")
    admin.link_artifact(built.alpha.run_id, built.beta.artifact_id, "input", "borrowed")
    yield built
    built.close()


def _beta_secrets(world) -> list[str]:
    b = world.beta
    return [
        b.experiment_id,
        b.experiment_name,
        b.run_id,
        "beta-run",
        b.artifact_id,
        "beta-data",
        b.content_hash,
        b.pipeline_version_id,
        "beta-pipeline",
    ]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/runs/{run}", {}),
        ("GET", "/api/v1/runs/{run}/metrics/history", {"params": {"key": "loss"}}),
        ("GET", "/api/v1/experiments/{experiment}", {}),
        ("GET", "/api/v1/artifact-versions/{artifact}", {}),
        ("GET", "/api/v1/artifact-links", {"params": {"run_id": "{run}"}}),
        ("GET", "/api/v1/artifact-versions", {"params": {"run_id": "{run}"}}),
        ("GET", "/api/v1/artifacts/objects/{hash}", {}),
        ("HEAD", "/api/v1/artifacts/objects/{hash}", {}),
        ("GET", "/api/v1/pipeline-versions/{pipeline}", {}),
        ("POST", "/api/v1/runs/search", {"json": {"experiment_ids": ["{experiment}"]}}),
    ],
)
def test_a_viewer_of_alpha_gets_404_for_betas_objects(world, method, path, kwargs):
    b = world.beta
    values = {
        "run": b.run_id,
        "experiment": b.experiment_id,
        "artifact": b.artifact_id,
        "hash": b.content_hash,
        "pipeline": b.pipeline_version_id,
    }

    def filled(value):
        if isinstance(value, str):
            return value.format(**values)
        if isinstance(value, list):
            return [filled(v) for v in value]
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        return value

    response = world.request("viewer", method, filled(path), project="alpha", **filled(kwargs))
    assert response.status_code == 404, response.text
    asked = set(values.values())  # the 404 may repeat the id asked for, nothing more
    for secret in _beta_secrets(world):
        if secret not in asked:
            assert secret not in response.text
    # the owner of the object reads it
    owner = world.request("other", method, filled(path), project="beta", **filled(kwargs))
    assert owner.status_code == 200, owner.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/experiments", {}),
        ("POST", "/api/v1/runs/search", {"json": {}}),
        ("GET", "/api/v1/artifact-versions", {}),
        ("GET", "/api/v1/artifact-versions/by-name", {"params": {"name": "beta-data"}}),
        ("GET", "/api/v1/models", {}),
        ("GET", "/api/v1/models/m", {}),
        ("GET", "/api/v1/models/m/aliases/champion", {}),
        ("POST", "/api/v1/model-versions/search", {"json": {}}),
        ("GET", "/api/v1/experiments/by-name", {"params": {"name": "beta-experiment"}}),
    ],
)
def test_a_viewer_of_alpha_cannot_work_in_beta(world, method, path, kwargs):
    response = world.request("viewer", method, path, project="beta", **kwargs)
    assert response.status_code == 403, response.text
    assert "beta-experiment" not in response.text and world.beta.run_id not in response.text


def test_lists_in_alpha_never_show_beta(world):
    requests = [
        ("GET", "/api/v1/experiments", {}),
        ("POST", "/api/v1/runs/search", {"json": {}}),
        ("GET", "/api/v1/artifact-versions", {}),
        ("GET", "/api/v1/models", {}),
        ("POST", "/api/v1/model-versions/search", {"json": {}}),
        ("GET", "/api/v1/pipeline-versions", {}),
        ("GET", "/api/v1/artifact-links", {"params": {"run_id": world.alpha.run_id}}),
        ("GET", f"/api/v1/runs/{world.alpha.run_id}", {}),
        ("GET", "/api/v1/models/m/aliases/champion", {}),
        ("GET", "/api/v1/artifact-versions/by-name", {"params": {"name": "alpha-data"}}),
    ]
    for method, path, kwargs in requests:
        response = world.request("viewer", method, path, project="alpha", **kwargs)
        assert response.status_code == 200, (path, response.text)
        for secret in _beta_secrets(world):
            assert secret not in response.text, (path, secret)
    # alpha's own things are there, so the lists are not simply empty
    runs = world.request("viewer", "POST", "/api/v1/runs/search", project="alpha", json={})
    assert world.alpha.run_id in runs.text
    # the admin sees the borrowed beta artifact in alpha's run's links; the viewer does not
    links = world.request(
        "admin", "GET", "/api/v1/artifact-links", params={"run_id": world.alpha.run_id}
    )
    assert world.beta.artifact_id in links.text


def test_an_editor_of_alpha_cannot_pull_beta_into_alpha(world):
    b = world.beta
    attempts = [
        # register beta's artifact as a model of alpha
        ("POST", "/api/v1/models/m/versions", {"json": {"artifact_id": b.artifact_id}}),
        # link beta's artifact to an alpha run
        (
            "POST",
            f"/api/v1/runs/{world.alpha.run_id}/artifact-links",
            {"json": {"artifact_id": b.artifact_id, "direction": "input", "name": "stolen"}},
        ),
        # write into beta's run, or start a child run under it
        ("POST", f"/api/v1/runs/{b.run_id}/batch", {"json": {"tags": {"x": "y"}}}),
        (
            "POST",
            "/api/v1/runs",
            {"json": {"experiment_id": world.alpha.experiment_id, "parent_id": b.run_id}},
        ),
        # an artifact of alpha claiming beta's run produced it
        (
            "POST",
            "/api/v1/artifact-versions",
            {
                "json": {
                    "name": "claimed",
                    "content_hash": b.content_hash,
                    "type": "bytes",
                    "materializer": "file",
                    "size": 1,
                    "uri": "x",
                    "producer_run_id": b.run_id,
                }
            },
        ),
    ]
    store = world.app.store.in_project("alpha")
    versions_before = len(store.search_model_versions("name = 'm'"))
    for method, path, kwargs in attempts:
        response = world.request("editor", method, path, project="alpha", **kwargs)
        assert response.status_code == 404, (path, response.text)
    assert len(store.search_model_versions("name = 'm'")) == versions_before
    run = world.app.store.get_run(b.run_id)
    assert "x" not in run.tags
    assert store.list_artifact_versions(name="claimed") == []
    links = store.list_artifact_links(run_id=world.alpha.run_id)
    assert "stolen" not in {link.name for link in links}


def test_other_projects_editor_gets_404_not_403_for_alphas_run(world):
    response = world.request(
        "other",
        "POST",
        f"/api/v1/runs/{world.alpha.run_id}/batch",
        json={"metrics": [["m", 1.0, 0, now_ms()]]},
    )
    assert response.status_code == 404
    assert "alpha" not in response.json()["error"]["message"]
    assert "m" not in world.app.store.get_run(world.alpha.run_id).metrics
