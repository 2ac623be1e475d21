"""The run page, artifact downloads and previews, and compare, on a real `heron server`.

The store is filled through heron's own API (tracked runs with hostile names, a pipeline
whose steps print), then the pages are fetched with httpx and the values they show checked.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

import heron
from heron.store.sql.store import SqlStore
from tests.support.server import running_server

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
LONG = "x" * 6000  # the longest param value
LONG_TAG = "y" * 8000  # the longest tag value
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><script>alert(1)</script></svg>'
)
REPORT = b"<html><body><h1>Report</h1><script>alert(1)</script></body></html>"


@heron.step
def make_numbers(n: int) -> list[int]:
    print("making", n, "numbers")
    return list(range(n))


@heron.step
def make_frame(xs: list[int]):
    import pandas as pd

    print("frame of", len(xs), "rows <b>bold</b>")
    return pd.DataFrame({"x": xs, "y": [v * 0.5 for v in xs], "name": [f"n{v}" for v in xs]})


@heron.pipeline(name="dash-pipe")
def dash_pipe(n: int = 30):
    make_frame(make_numbers(n))


def _fill(root: Path) -> dict[str, str]:
    db = root / "heron.db"
    heron.set_tracking_uri(f"sqlite:///{db}")
    heron.set_experiment("dash-exp")
    ids: dict[str, str] = {}
    files = root / "files"
    (files / "folder" / "sub").mkdir(parents=True)
    (files / "plot.png").write_bytes(PNG)
    (files / "drawing.svg").write_bytes(SVG)
    (files / "report.html").write_bytes(REPORT)
    (files / "data.csv").write_text("a,b,c\n1,2.5,x\n3,,y\n5,4.5,z\n")
    (files / "folder" / "one.txt").write_text("one")
    (files / "folder" / "sub" / "two é.txt").write_text("two")
    with heron.start_run(
        name=EVIL, tags={"team": EVIL, "note": "ünïcødé \"q\" 'q'", "long": LONG_TAG}
    ) as run:
        heron.log_params({"lr": 0.1, "depth": 3, "evil": EVIL, "long": LONG})
        for i in range(50):
            heron.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 50}, step=i)
        heron.log_text("hello " + EVIL, "notes.txt")
        heron.log_dict({"k": EVIL, "n": 1}, "config.json")
        for name in ("plot.png", "drawing.svg", "report.html", "data.csv"):
            heron.log_artifact(str(files / name))
        heron.log_artifact(str(files / "folder"))
        ids["evil"] = run.id
    with heron.start_run(name="second") as run:
        heron.log_params({"lr": 0.2, "depth": 3})
        heron.log_metrics({"loss": 0.25, "acc": 0.75}, step=0)
        heron.log_artifact(str(files / "plot.png"))
        ids["second"] = run.id
    with heron.start_run(name="parent") as parent:
        with heron.start_run(name="child-run", nested=True) as child:
            ids["child"] = child.id
        ids["parent"] = parent.id
    pipe = dash_pipe(n=30)
    ids["pipeline"] = pipe.id
    ids["frame_step"] = pipe.steps["make_frame"].id
    store = SqlStore(f"sqlite:///{db}")
    failed = store.create_run(store.get_experiment_by_name("dash-exp").id, name="broken")
    store.update_run(failed.id, status="failed", status_reason="ValueError: bad <input>")
    ids["failed"] = failed.id
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash-run")
    ids = _fill(root)
    with (
        running_server(
            f"sqlite:///{root / 'heron.db'}", str(root / "artifacts"), root / "server.log"
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client, ids
    heron.set_tracking_uri(None)


class _Text(HTMLParser):
    """The visible text and the tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def page(client: httpx.Client, url: str, status: int = 200) -> str:
    response = client.get(url, headers={"accept": "text/html"})
    assert response.status_code == status, response.text[:2000]
    return response.text


def test_run_page_shows_overview_params_metrics_and_tags(site):
    client, ids = site
    html = page(client, f"/runs/{ids['evil']}")
    assert EVIL not in html  # escaped everywhere
    assert EVIL_ESCAPED in html
    text = " ".join(parse(html).text)
    assert "dash-exp" in text
    assert ids["evil"] in text
    assert "completed" in text
    assert "0.1" in text and "depth" in text
    assert LONG in text and LONG_TAG in text  # long values are shown whole
    assert "ünïcødé" in text
    assert "0.02" in text  # loss at step 49: 1/50
    assert "heron.logs" not in text  # a tracked run has no logs


def test_run_page_puts_one_chart_per_metric_key_without_loading_history(site):
    client, ids = site
    html = page(client, f"/runs/{ids['evil']}?x=time&smooth=0.5&log=1")
    tags = parse(html).tags
    keys = [a["data-metric-key"] for t, a in tags if "data-metric-key" in a]
    assert keys == ["acc", "loss"]
    checked = {a.get("value") for t, a in tags if t == "input" and "checked" in a}
    assert {"time", "1"} <= checked
    assert any(t == "script" and a.get("src", "").endswith("chart.js") for t, a in tags)
    assert "<script>" not in html.replace('<script src="', "")  # no inline script


def test_history_api_thins_and_windows_a_long_metric(site):
    client, ids = site
    url = f"/api/v1/runs/{ids['evil']}/metrics/history"
    rows = client.get(url, params={"key": "loss", "max_points": 8}).json()["result"]
    assert len(rows) <= 8 and rows[0][2] == 0 and rows[-1][2] == 49
    rows = client.get(url, params={"key": "loss", "min_step": 10, "max_step": 12}).json()["result"]
    assert [r[2] for r in rows] == [10, 11, 12]


def test_bad_chart_settings_are_a_400_page(site):
    client, ids = site
    html = page(client, f"/runs/{ids['evil']}?smooth=lots", 400)
    assert "smooth must be a number" in html
    page(client, f"/runs/{ids['evil']}?x=sideways", 400)


def test_unknown_run_is_a_404_page(site):
    client, _ = site
    html = page(client, "/runs/nope-not-a-run", 404)
    assert "nope-not-a-run" in html


def test_previews_of_text_json_images_tables_reports_and_folders(site):
    client, ids = site
    html = page(client, f"/runs/{ids['evil']}")
    parsed = parse(html)
    text = " ".join(parsed.text)
    assert "hello " + EVIL in text  # the text preview, as text
    assert '"k": "' + EVIL + '"' in text  # JSON pretty-printed
    images = [a["src"] for t, a in parsed.tags if t == "img"]
    assert any("inline=1" in src for src in images)
    assert len(images) == 2  # plot.png and drawing.svg, both as <img>
    assert "<svg" not in html  # an SVG artifact is never inlined
    frames = [a for t, a in parsed.tags if t == "iframe"]
    assert len(frames) == 1 and frames[0]["sandbox"] == "" and "frame=1" in frames[0]["src"]
    # the CSV table: rows and stats
    assert "a" in text and "2.5" in text and "4.5" in text
    assert "3.5" in text  # mean of b
    # the folder: its files, with download links of members
    assert "one.txt" in text and "sub/two é.txt" in text
    assert any("member=sub/two%20%C3%A9.txt" in a.get("href", "") for t, a in parsed.tags)


def test_raw_downloads_with_names_types_and_a_sandbox(site):
    client, ids = site
    html = page(client, f"/runs/{ids['evil']}")
    hrefs = {a.get("href", "") for t, a in parse(html).tags if t == "a"}
    raw = sorted(h for h in hrefs if h.endswith("/raw"))
    answers = {h: client.get(h) for h in raw}
    by_name = {}
    for h, r in answers.items():
        assert r.status_code == 200, h
        match = re.search(r'filename="([^"]+)"', r.headers["content-disposition"])
        by_name[match.group(1)] = r
        assert r.headers["content-disposition"].startswith("attachment")
        assert r.headers["content-security-policy"].startswith("sandbox")
    assert by_name["plot.png"].content == PNG
    assert by_name["plot.png"].headers["content-type"] == "image/png"
    assert by_name["report.html"].headers["content-type"].startswith("text/html")
    assert by_name["notes.txt"].text == "hello " + EVIL
    assert by_name["config.json"].headers["content-type"].startswith("application/json")
    # an HTML report inline only for the sandboxed frame, never with inline=1
    report = next(h for h, r in answers.items() if r.content == REPORT)
    assert client.get(report + "?inline=1").headers["content-disposition"].startswith("attach")
    framed = client.get(report + "?frame=1")
    assert framed.headers["content-disposition"].startswith("inline")
    assert "sandbox" in framed.headers["content-security-policy"]
    svg = next(h for h, r in answers.items() if r.content == SVG)
    inline_svg = client.get(svg + "?inline=1")
    assert inline_svg.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in inline_svg.headers["content-security-policy"]


def test_raw_members_of_a_folder_and_refusals(site):
    client, ids = site
    html = page(client, f"/runs/{ids['evil']}")
    member = next(a["href"] for t, a in parse(html).tags if "member=sub/two" in a.get("href", ""))
    answer = client.get(member)
    assert answer.status_code == 200 and answer.text == "two"
    assert "filename*=UTF-8''two%20%C3%A9.txt" in answer.headers["content-disposition"]
    folder_url = member.split("?")[0]
    assert client.get(folder_url, headers={"accept": "text/html"}).status_code == 400
    escape = client.get(folder_url + "?member=../../etc/passwd", headers={"accept": "text/html"})
    assert escape.status_code == 400
    missing = client.get(folder_url + "?member=nope.txt", headers={"accept": "text/html"})
    assert missing.status_code == 404
    assert (
        client.get("/artifacts/no-such-id/raw", headers={"accept": "text/html"}).status_code == 404
    )


def test_step_run_shows_logs_inputs_outputs_and_table_preview(site):
    client, ids = site
    html = page(client, f"/runs/{ids['frame_step']}")
    assert "frame of 30 rows &lt;b&gt;bold&lt;/b&gt;" in html  # the captured stdout, escaped
    parsed = parse(html)
    hrefs = [a.get("href", "") for t, a in parsed.tags if t == "a"]
    assert f"/pipelines/runs/{ids['pipeline']}" in hrefs  # the parent pipeline run
    assert sum(h.startswith("/artifacts/") and not h.endswith("/raw") for h in hrefs) >= 2
    text = " ".join(parsed.text)
    assert "Inputs (1)" in text and "Outputs (1)" in text
    assert "30 rows \N{MULTIPLICATION SIGN} 3 columns" in text
    assert "n19" in text  # a value of the first 20 rows
    assert "n25" not in text  # past the first 20 rows
    assert "14.5" in text  # mean of x over every row (the materializer's stats)


def test_pipeline_run_page_links_to_the_pipeline_view(site):
    client, ids = site
    html = page(client, f"/runs/{ids['pipeline']}")
    assert f'href="/pipelines/runs/{ids["pipeline"]}"' in html
    assert "make_frame" in html  # its step runs are listed as children


def test_parent_and_child_links(site):
    client, ids = site
    html = page(client, f"/runs/{ids['parent']}")
    assert f'href="/runs/{ids["child"]}"' in html
    html = page(client, f"/runs/{ids['child']}")
    assert f'href="/runs/{ids["parent"]}"' in html


def test_failed_run_shows_its_reason(site):
    client, ids = site
    html = page(client, f"/runs/{ids['failed']}")
    assert "ValueError: bad &lt;input&gt;" in html
    assert "Why it failed" in html
    assert "No artifacts yet" in html  # the empty state names the command


def test_compare_puts_params_side_by_side_and_marks_differences(site):
    client, ids = site
    url = f"/compare?runs={ids['evil']}&runs={ids['second']}"
    html = page(client, url)
    assert EVIL not in html.replace(EVIL_ESCAPED, "")
    parsed = parse(html)
    rows = [a for t, a in parsed.tags if t == "tr" and a.get("class") == "differs"]
    assert len(rows) >= 3  # lr, evil, long differ (depth does not)
    text = re.sub(r"\s+", " ", " ".join(parsed.text))
    assert "lr (differs)" in text and "depth (differs)" not in text
    assert "0.2" in text and "0.75" in text
    only = page(client, url + "&diff=1")
    shown = [a for t, a in parse(only).tags if t == "tr" and a.get("class") == "differs"]
    assert '<th scope="row">depth' not in only and '<th scope="row">lr' in only
    assert len(shown) == len(rows)
    # the data of the charts, escaped inside its JSON block
    assert '<script type="application/json" id="compare-data">' in html
    assert "\\u003cscript\\u003e" in html


def test_compare_draws_parallel_coordinates_and_images(site):
    client, ids = site
    html = page(client, f"/compare?runs={ids['evil']}&runs={ids['second']}&metric=loss&param=lr")
    parsed = parse(html)
    lines = [a for t, a in parsed.tags if t == "polyline"]
    assert len(lines) == 2 and all("," in a["points"] for a in lines)
    images = [a["src"] for t, a in parsed.tags if t == "img"]
    assert len(images) == 3  # plot.png of both runs side by side, drawing.svg of one
    assert all("inline=1" in src for src in images)
    assert html.count('<p class="muted">none</p>') == 1  # the run without drawing.svg


def test_compare_refuses_too_few_unknown_or_bad_choices(site):
    client, ids = site
    assert "Pick 2 to 50 runs" in page(client, f"/compare?runs={ids['evil']}", 400)
    page(client, f"/compare?runs={ids['evil']}&runs=missing-run", 404)
    page(client, "/compare?" + "&".join(f"runs=r{i}" for i in range(51)), 400)
    page(client, f"/compare?runs={ids['evil']}&runs={ids['second']}&metric=nope", 400)
