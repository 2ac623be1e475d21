"""The model pages of `heron server`'s dashboard, over a real server on 127.0.0.1.

The store holds a pipeline run with a step that read a training set and produced a model
artifact (flavor and signature in its metadata), a model ``iris`` whose alias ``champion`` was
set, moved, rolled back and whose ``staging`` version was deleted, a model with 120 versions
(paged), and a model whose name, description, tags and signature hold hostile text.
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import quote

import httpx
import pytest

from tests.support.server import running_server
from tests.support.stores import open_sql_store, sqlite_uri

pytestmark = pytest.mark.integration

HOSTILE = "<script>window.__pwned=1</script> \"double\" 'single' ünïcødé ✓"
# a model name cannot hold "/": an attribute-borne script, a query and a fragment instead
HOSTILE_MODEL = "<img src=x onerror=alert(1)> \"q\" 'q' ü ?x=1#frag %2F"
LONG = "L" * 8000


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Links(HTMLParser):
    """Every href of a page, and whether any <script> other than static files appears."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if "href" in values:
            self.hrefs.append(values["href"])
        if tag == "script" and not (values.get("src") or "").startswith("/static/"):
            self.inline_scripts += 1


def links(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard-models")
    uri = sqlite_uri(root / "heron.db")
    ids: dict[str, str] = {}
    with open_sql_store(uri) as store:
        experiment = store.create_experiment("models-it")
        pipeline = store.create_run(
            experiment.id, name="train-pipeline", kind="pipeline", status="completed"
        )
        step = store.create_run(
            experiment.id, name="train", kind="step", parent_id=pipeline.id, status="completed"
        )
        data = store.create_artifact_version(
            "split.train",
            content_hash=digest("data"),
            type="pandas.DataFrame",
            materializer="pandas.parquet",
            size=2048,
            uri=str(root / "data"),
            producer_run_id=pipeline.id,
            metadata={"rows": 120},
        )
        store.link_artifact(step.id, data.id, "input", "train")
        signature = {
            "inputs": {
                "type": "columns",
                "columns": [
                    {"name": "sepal_length", "dtype": "float64"},
                    {"name": HOSTILE, "dtype": "float32"},
                ],
            },
            "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]},
        }
        artifacts = []
        for i in range(3):
            artifacts.append(
                store.create_artifact_version(
                    "model",
                    content_hash=digest(f"model {i}"),
                    type="sklearn.linear_model.LogisticRegression",
                    materializer="sklearn.joblib",
                    size=1000 + i,
                    uri=str(root / f"model{i}"),
                    producer_run_id=step.id,
                    link_name="model",
                    metadata={
                        "model": {
                            "flavor": "sklearn",
                            "class": "sklearn.linear_model.LogisticRegression",
                            "libraries": {"scikit-learn": "1.9.1"},
                            "signature": signature,
                        }
                    },
                )
            )
        plain = store.create_artifact_version(
            "weights.bin",
            content_hash=digest("plain"),
            type="bytes",
            materializer="file",
            size=5,
            uri=str(root / "plain"),
        )
        store.create_registered_model("iris", description="Iris classifier", tags={"team": "ml"})
        for i, artifact in enumerate(artifacts):
            store.create_model_version(
                "iris", artifact.id, tags={"round": str(i + 1)}, user=f"user{i + 1}"
            )
        store.set_model_alias("iris", "champion", 1, user="ana")
        store.set_model_alias("iris", "champion", 2, user="bo")
        store.rollback_model_alias("iris", "champion", user="cy")
        store.set_model_alias("iris", "staging", 3, user="ana")
        store.delete_model_version("iris", 3, user="dee")

        store.create_registered_model(
            HOSTILE_MODEL, description=HOSTILE, tags={"note": HOSTILE, "long": LONG}
        )
        store.create_model_version(HOSTILE_MODEL, artifacts[0].id, tags={"t": HOSTILE})
        store.create_model_version(HOSTILE_MODEL, plain.id)
        store.set_model_alias(HOSTILE_MODEL, "champion", 1)

        for _ in range(120):
            store.create_model_version("paged", plain.id)
        ids.update(
            pipeline=pipeline.id,
            step=step.id,
            data=data.id,
            model1=artifacts[0].id,
            model3=artifacts[2].id,
            plain=plain.id,
        )
    with (
        running_server(uri, str(root / "artifacts"), root / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client, ids


def get(client, path, status=200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.text[-2000:]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_models_list_shows_latest_version_aliases_tags(site):
    client, _ = site
    html = get(client, "/models")
    assert ">iris</a>" in html
    assert 'href="/models/iris/versions/2">v2</a>' in html  # v3 was deleted: v2 is the latest
    assert "@champion → v1" in html
    assert "team</span>=ml" in html
    assert "Iris classifier" in html
    assert ">paged</a>" in html and ">v120</a>" in html


def test_models_list_filters_by_name_and_says_when_nothing_matches(site):
    client, _ = site
    html = get(client, "/models?q=pag")
    assert ">paged</a>" in html and ">iris</a>" not in html
    html = get(client, "/models?q=%25zz_")  # wildcards are literal
    assert "No registered model has" in html and "Clear the filter" in html


def test_model_page_shows_versions_with_their_links(site):
    client, ids = site
    html = get(client, "/models/iris")
    assert "Iris classifier" in html
    found = links(html).hrefs
    assert f"/runs/{ids['step']}" in found
    assert f"/pipelines/runs/{ids['pipeline']}" in found  # the step's pipeline run, inferred
    assert f"/artifacts/{ids['model1']}" in found
    assert "/models/iris/versions/1" in found and "/models/iris/versions/2" in found
    assert "user2" in html and "round</span>=2" in html
    assert "Read-only" in html


def test_model_page_alias_history_table_and_timelines(site):
    client, _ = site
    html = get(client, "/models/iris")
    history = html.split('<table class="history">', 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", history, re.S)[1:]
    actions = [re.search(r'badge action-([a-z_]+)"', r).group(1) for r in rows]
    # newest first: staging removed with its version, set, champion rolled back, moved, set
    assert actions == ["version_deleted", "set", "rollback", "set", "set"]
    assert ">dee</td>" in rows[0] and ">cy</td>" in rows[2] and ">bo</td>" in rows[3]
    assert html.count('<svg class="tl"') == 2  # champion and staging
    assert (
        "@champion</span> now on" in html
        and '@staging</span> <span class="muted">not set now' in html
    )
    assert "rollback at" in html  # the mark of the rollback, with its tooltip
    assert 'class="tl-v1"' in html and 'class="tl-v2"' in html


def test_model_versions_are_paged_by_version_number(site):
    client, _ = site
    html = get(client, "/models/paged")
    shown = [int(v) for v in re.findall(r'/models/paged/versions/(\d+)">v\d+</a></td>', html)]
    assert shown == list(range(120, 70, -1))
    assert "before=71" in html
    html = get(client, "/models/paged?before=71")
    shown = [int(v) for v in re.findall(r'/models/paged/versions/(\d+)">v\d+</a></td>', html)]
    assert shown == list(range(70, 20, -1))
    html = get(client, "/models/paged?before=21")
    shown = [int(v) for v in re.findall(r'/models/paged/versions/(\d+)">v\d+</a></td>', html)]
    assert shown == list(range(20, 0, -1))
    assert "Older versions" not in html and "Newest versions" in html
    assert "No alias has been set on this model." in html


def test_model_version_page_shows_run_pipeline_training_data_and_signature(site):
    client, ids = site
    html = get(client, "/models/iris/versions/1")
    found = links(html).hrefs
    assert f"/runs/{ids['step']}" in found and ">train</a>" in html
    assert f"/pipelines/runs/{ids['pipeline']}" in found and ">train-pipeline</a>" in html
    assert f"/artifacts/{ids['data']}" in found and "split.train v1" in html
    assert "sklearn.linear_model.LogisticRegression" in html
    assert "scikit-learn</span> 1.9.1" in html
    assert "sepal_length" in html and "float32" in html
    assert "tensor int64 (-1)" in html
    assert "@champion" in html
    moves = html.split("Alias moves", 1)[1]
    assert moves.count("<tr>") == 4  # header + set v1, moved off, rolled back to


def test_model_version_of_a_plain_artifact_says_what_is_missing(site):
    client, _ = site
    html = get(client, "/models/" + quote(HOSTILE_MODEL, safe="") + "/versions/2")
    assert "records no model flavor" in html and "No signature recorded" in html
    assert "No run is recorded for this version" in html


def test_unknown_deleted_and_malformed_versions_are_error_pages(site):
    client, _ = site
    assert "No registered model named" in get(client, "/models/nope", 404)
    assert "was deleted" in get(client, "/models/iris/versions/3", 404)
    assert "has no version 9" in get(client, "/models/iris/versions/9", 404)
    assert "whole number" in get(client, "/models/iris/versions/x", 400)
    assert "before must be" in get(client, "/models/iris?before=-1", 400)


def test_hostile_values_are_escaped_on_every_model_page(site):
    client, _ = site
    path = "/models/" + quote(HOSTILE_MODEL, safe="")
    for page in ("/models", path, path + "/versions/1", path + "/versions/2"):
        html = get(client, page)
        assert "<script>window" not in html and "<img src=x" not in html, page
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, page
        assert links(html).inline_scripts == 0, page
    html = get(client, path)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&#34;double&#34;" in html and "&#39;single&#39;" in html and "ünïcødé ✓" in html
    assert LONG in html
    # every link to the model keeps its name in one path segment
    assert path + "/versions/1" in links(get(client, "/models")).hrefs
    html = get(client, path + "/versions/1")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # the signature column
