"""The model pages' pure parts: links, filters, alias timelines, model metadata, and the
empty state of /models rendered through the dashboard's own templates."""

from __future__ import annotations

from types import SimpleNamespace

from heron.core.entities import AliasEvent
from heron.server.dashboard.face import DashboardFace, Request
from heron.server.dashboard.pages import models


def event(alias, frm, to, action, ts, user="ana"):
    return AliasEvent("m", alias, frm, to, action, user, ts)


def test_model_links_keep_a_name_inside_its_path_segment():
    assert models.model_href("iris") == "/models/iris"
    assert models.model_href("a b/c?d#e%f") == "/models/a%20b%2Fc%3Fd%23e%25f"
    assert models.model_version_href("<x>", 3) == "/models/%3Cx%3E/versions/3"


def test_like_pattern_takes_wildcards_literally():
    assert models.like_pattern("iris") == "%iris%"
    assert models.like_pattern("a%b_c\\d") == "%a\\%b\\_c\\\\d%"


def test_versions_filter_quotes_the_name_for_the_grammar():
    from heron.store import filters

    name = "it's a \\ name"
    text = models.versions_filter(name, 7)
    assert text == "name = 'it''s a \\\\ name' and version < 7"
    parsed = filters.parse_filter(text, filters.MODEL_VERSION_FIELDS)
    assert [(c.key, c.value) for c in parsed] == [("name", name), ("version", 7)]
    assert models.versions_filter("iris", None) == "name = 'iris'"


def test_alias_timeline_spans_follow_the_moves():
    events = [
        event("champion", None, 1, "set", 1000),
        event("champion", 1, 2, "set", 2000),
        event("champion", 2, 1, "rollback", 3000),
        event("staging", None, 3, "set", 1500),
        event("staging", 3, None, "version_deleted", 2500),
    ]
    timelines, start, end = models.alias_timelines(events, now=5000, width=400)
    assert (start, end) == (1000, 5000)
    champion, staging = timelines
    assert champion.alias == "champion" and champion.current == 1
    assert [(s.version, s.start, s.end, s.action) for s in champion.spans] == [
        (1, 1000, 2000, "set"),
        (2, 2000, 3000, "set"),
        (1, 3000, None, "rollback"),
    ]
    assert [(s.x, s.width) for s in champion.spans] == [
        (0.0, 100.0),
        (100.0, 100.0),
        (200.0, 200.0),
    ]
    assert [(m.action, m.x) for m in champion.marks] == [("rollback", 200.0)]
    assert staging.current is None
    assert [(s.version, s.end) for s in staging.spans] == [(3, 2500)]
    assert [m.action for m in staging.marks] == ["version_deleted"]
    assert champion.spans[0].colour == "tl-v1"


def test_alias_timeline_draws_instant_moves_visibly_and_handles_no_history():
    timelines, _, _ = models.alias_timelines(
        [event("a", None, 1, "set", 10), event("a", 1, 2, "set", 10)], now=10
    )
    assert all(s.width >= 2 for s in timelines[0].spans)
    assert models.alias_timelines([], now=99) == ([], 99, 99)


def test_model_facts_read_flavor_libraries_and_signature():
    metadata = {
        "model": {
            "flavor": "sklearn",
            "class": "sklearn.linear_model.LogisticRegression",
            "libraries": {"scikit-learn": "1.9"},
            "signature": {
                "inputs": {"type": "columns", "columns": [{"name": "a", "dtype": "float64"}]},
                "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]},
            },
        }
    }
    facts = models.model_facts(metadata)
    assert facts["flavor"] == "sklearn"
    assert facts["libraries"] == {"scikit-learn": "1.9"}
    assert facts["inputs"]["columns"] == [("a", "float64")]
    assert facts["outputs"]["shape"] == "(-1)" and facts["outputs"]["dtype"] == "int64"


def test_model_facts_of_a_plain_artifact_are_empty():
    for metadata in (None, {}, {"model": "not a dict"}, {"model": {"signature": "x"}}):
        facts = models.model_facts(metadata)
        assert facts["inputs"] is None and facts["outputs"] is None


def render(template, **context):
    face = DashboardFace(SimpleNamespace(store=None, blobs=None))
    face._load()  # the pages register their template helpers
    request = Request("GET", "/models", {}, {}, {}, face)
    return face.render(template, {"request": request, **context}).decode()


def test_empty_models_page_names_the_command_that_creates_a_model():
    html = render("models.html", models=[], more=False, q="")
    assert "No registered models yet." in html
    assert "heron quickstart" in html
    assert "registered_model_name=" in html


def test_filtered_models_page_escapes_the_filter():
    html = render("models.html", models=[], more=False, q="<b>x</b>")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
