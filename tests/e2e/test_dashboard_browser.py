"""The dashboard in a real browser: Debian's chromium driven by Playwright for Python.

One `heron server` on 127.0.0.1 serves a store filled by the real quickstart pipeline
(`heron quickstart`) plus tracked runs (params, a metric history, tags, nested runs, text
artifacts) and a registered model whose name, tags, params and signature hold hostile text:
``<script>window.__pwned=1</script>``, quotes, unicode and long values. The test visits every
page of the dashboard's URL scheme and checks the values each shows, that the browser's
console has no errors, and that ``window.__pwned`` is never set; it clicks through
runs -> pipeline run -> step -> artifact -> lineage -> model; it saves a screenshot of each
page to tests/e2e/screenshots/ (git-ignored), light and dark for two of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support.browser import PageWatch
from tests.support.server import running_server

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PWNED = "<script>window.__pwned=1</script>"
HOSTILE = f"{PWNED} \"double\" 'single' ünïcødé ✓ 🦩"
EXPERIMENT = f"e2e {PWNED} \"q\" 'q' ünï"
# model names cannot hold "/" (models:/name/version): an attribute-borne script instead
MODEL = "hostile <img src=x onerror=window.__pwned=1> \"q\" 'q' ü"
NOTES = HOSTILE + "\n" + "z" * 10_240  # a 10 KB text artifact
METRIC = 0.8765  # the baseline's latest acc, shown as 0.8765

# Run in a fresh interpreter against the server (HERON_TRACKING_URI): the fluent API's
# global state stays out of the test process. Prints one JSON line of what it made.
SEED = r"""
import json, sys
import heron
import pandas as pd
from sklearn.linear_model import LogisticRegression

given = json.loads(sys.argv[1])
hostile, model_name = given["hostile"], given["model"]
heron.set_experiment(given["experiment"])
made = {"children": []}
tags = {"team": "a", "note": hostile, "long": "t" * 8000}
with heron.start_run(name="baseline", tags=tags) as run:
    made["baseline"] = run.id
    heron.log_params({"lr": 0.1, "depth": 3, "comment": hostile, "long": "p" * 6000})
    for step in range(300):
        heron.log_metric("loss", 1.0 / (1 + step), step=step)
    heron.log_metrics({"acc": given["metric"], "f1": 0.8123}, step=1)
    heron.log_text(given["notes"], "notes.txt")
    heron.log_dict({"note": hostile, "nested": {"k": [1, 2, 3]}}, "config.json")
    for i in (1, 2):
        with heron.start_run(name=f"child-{i}", nested=True) as child:
            made["children"].append(child.id)
            heron.log_param("fold", i)
            heron.log_metric("acc", 0.8 + i / 100)
frame = pd.DataFrame({hostile: [0.0, 1.0, 2.0, 3.0], "x": [1.0, 0.0, 1.0, 0.0]})
made["model_runs"] = []
for c in (0.5, 2.0):
    with heron.start_run(name=f"model C={c} {hostile}") as run:
        made["model_runs"].append(run.id)
        heron.log_param("C", c)
        model = LogisticRegression(C=c).fit(frame.to_numpy(), [0, 0, 1, 1])
        heron.log_model(model, "model", registered_model_name=model_name, input_example=frame)
client = heron.Client()
client.update_registered_model(model_name, "described as " + hostile)
client.set_registered_model_tag(model_name, "owner", hostile)
client.set_model_version_tag(model_name, 2, "note", hostile)
client.set_model_alias(model_name, "champion", 1)
client.set_model_alias(model_name, "champion", 2)
client.rollback_model_alias(model_name, "champion")
client.set_model_alias(model_name, "staging", 2)
logged = client.store.list_artifact_versions(run_id=made["baseline"])
made["notes"] = next(a.id for a in logged if "notes" in a.name)
print(json.dumps(made))
"""


@dataclass
class Site:
    """The running server and the ids of what the store holds."""

    url: str
    quickstart_experiment: str
    pipeline_run: str
    pipeline_run_name: str
    train_step: str  # the step run that produced the champion model
    train_step_name: str
    model_artifact: str
    train_input: str  # the artifact the champion was trained on (split.train)
    train_input_name: str
    e2e_experiment: str
    baseline: str
    children: list[str]
    notes: str
    step_names: list[str] = field(default_factory=list)


def model_path(name: str) -> str:
    return "/models/" + quote(name, safe="")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("dashboard-e2e")
    workspace = root / "qs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HOME"] = str(root)  # nothing reaches the real ~/.heron
    done = subprocess.run(
        [sys.executable, "-m", "heron", "quickstart", "--dir", str(workspace)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    heron_dir = workspace / ".heron"
    with running_server(
        f"sqlite:///{heron_dir / 'heron.db'}",
        str(heron_dir / "artifacts"),
        root / "server.log",
    ) as server:
        given = {
            "hostile": HOSTILE,
            "model": MODEL,
            "experiment": EXPERIMENT,
            "notes": NOTES,
            "metric": METRIC,
        }
        seeded = subprocess.run(
            [sys.executable, "-c", SEED, json.dumps(given)],
            capture_output=True,
            text=True,
            env={**env, "HERON_TRACKING_URI": server.url},
            cwd=root,
            timeout=300,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        made = json.loads(seeded.stdout.strip().splitlines()[-1])

        import heron

        client = heron.Client(server.url)
        store = client.store
        champion = store.get_model_version_by_alias("quickstart", "champion")
        step = store.get_run(champion.run_id)
        pipeline_run = store.get_run(champion.pipeline_run_id)
        inputs = [link for link in store.list_artifact_links(run_id=step.id)]
        train_input = next(link for link in inputs if link.direction == "input")
        steps = store.search_runs(
            [pipeline_run.experiment_id], filter_string="attributes.kind = 'step'"
        )
        yield Site(
            url=server.url,
            quickstart_experiment=pipeline_run.experiment_id,
            pipeline_run=pipeline_run.id,
            pipeline_run_name=pipeline_run.name,
            train_step=step.id,
            train_step_name=step.name,
            model_artifact=champion.artifact_id,
            train_input=train_input.artifact_id,
            train_input_name=store.get_artifact_version(train_input.artifact_id).name,
            e2e_experiment=store.get_run(made["baseline"]).experiment_id,
            baseline=made["baseline"],
            children=made["children"],
            notes=made["notes"],
            step_names=sorted(r.name for r in steps),
        )


@pytest.fixture(scope="module")
def tab(browser):
    """One page of a fresh light-themed browser context, with its console watched."""
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = PageWatch(page)
    yield page, watch
    context.close()


# --- what each page must show ----------------------------------------------------------------
@dataclass
class Expect:
    """A page of the URL scheme: where it is, what its text holds, what it links to."""

    url: Callable[[Site], str]
    texts: Callable[[Site], list[str]]
    links: Callable[[Site], list[str]] = lambda s: []
    selectors: list[str] = field(default_factory=list)  # elements that must be there
    status: int = 200


PAGES: dict[str, Expect] = {
    "experiments": Expect(
        lambda s: "/experiments",
        lambda s: ["quickstart", EXPERIMENT],
        lambda s: [f"/experiments/{s.quickstart_experiment}", f"/experiments/{s.e2e_experiment}"],
    ),
    "experiment": Expect(
        lambda s: f"/experiments/{s.quickstart_experiment}",
        lambda s: [s.pipeline_run_name],
    ),
    "experiment-hostile": Expect(
        lambda s: f"/experiments/{s.e2e_experiment}",
        lambda s: ["baseline", EXPERIMENT],
        lambda s: [f"/runs/{s.baseline}"],
    ),
    "run": Expect(
        lambda s: f"/runs/{s.baseline}",
        lambda s: ["baseline", "0.8765", "0.1", HOSTILE, "child-1", "child-2", "loss"],
        lambda s: [f"/runs/{c}" for c in s.children],
    ),
    "run-step": Expect(
        lambda s: f"/runs/{s.train_step}",
        lambda s: [s.train_step_name, s.train_input_name],
        lambda s: [f"/pipelines/runs/{s.pipeline_run}", f"/artifacts/{s.model_artifact}"],
    ),
    "run-pipeline": Expect(
        lambda s: f"/runs/{s.pipeline_run}",
        lambda s: [s.pipeline_run_name],
        lambda s: [f"/pipelines/runs/{s.pipeline_run}"],
    ),
    "compare": Expect(
        lambda s: f"/compare?runs={s.baseline}&runs={s.children[0]}&runs={s.children[1]}",
        lambda s: ["baseline", "child-1", "child-2", "0.8765"],
    ),
    "pipelines": Expect(
        lambda s: "/pipelines",
        lambda s: ["quickstart"],
        lambda s: [f"/pipelines/runs/{s.pipeline_run}"],
    ),
    "pipeline-run": Expect(
        lambda s: f"/pipelines/runs/{s.pipeline_run}",
        lambda s: s.step_names,
        lambda s: [f"/runs/{s.train_step}"],
        selectors=["svg"],
    ),
    "artifacts": Expect(
        lambda s: "/artifacts",
        lambda s: ["split.train", "model", "notes.txt"],
    ),
    "artifact": Expect(
        lambda s: f"/artifacts/{s.model_artifact}",
        lambda s: ["model", "sklearn", s.train_step_name, s.train_input_name],
        lambda s: [f"/runs/{s.train_step}", f"/artifacts/{s.train_input}"],
        selectors=["svg"],
    ),
    "artifact-hostile": Expect(
        lambda s: f"/artifacts/{s.notes}",
        lambda s: ["notes.txt", PWNED],
        lambda s: [f"/runs/{s.baseline}"],
    ),
    "models": Expect(
        lambda s: "/models",
        lambda s: ["quickstart", "@champion", MODEL],
        lambda s: ["/models/quickstart", model_path(MODEL)],
    ),
    "model": Expect(
        lambda s: "/models/quickstart",
        lambda s: ["@champion", "v1", "Alias history", "Read-only"],
        lambda s: [
            "/models/quickstart/versions/1",
            f"/runs/{s.train_step}",
            f"/pipelines/runs/{s.pipeline_run}",
            f"/artifacts/{s.model_artifact}",
        ],
        selectors=["svg.tl rect"],
    ),
    "model-hostile": Expect(
        lambda s: model_path(MODEL),
        lambda s: [MODEL, "described as " + HOSTILE, "rollback", "@champion", "@staging"],
        lambda s: [model_path(MODEL) + "/versions/1", model_path(MODEL) + "/versions/2"],
        selectors=["svg.tl rect"],
    ),
    "model-version": Expect(
        lambda s: "/models/quickstart/versions/1",
        lambda s: ["@champion", "sklearn", "alcohol", s.train_input_name, s.train_step_name],
        lambda s: [
            f"/runs/{s.train_step}",
            f"/pipelines/runs/{s.pipeline_run}",
            f"/artifacts/{s.model_artifact}",
            f"/artifacts/{s.train_input}",
        ],
    ),
    "model-version-hostile": Expect(
        lambda s: model_path(MODEL) + "/versions/2",
        lambda s: [MODEL, HOSTILE, "@staging"],
    ),
    "not-found": Expect(
        lambda s: "/models/no-such-model",
        lambda s: ["no-such-model"],
        status=404,
    ),
}


def visit(tab, site: Site, path: str):
    """Open ``path``; the response. Waits for the page's own requests (charts) to settle."""
    page, _ = tab
    response = page.goto(site.url + path, wait_until="load")
    with contextlib.suppress(Exception):  # a live page may keep polling: settle, not idle
        page.wait_for_load_state("networkidle", timeout=3_000)
    return response


def assert_clean(tab, where: str, status: int = 200) -> None:
    """No console error, no uncaught exception, no script of the store's data ran (an error
    page's own status is the one console line it may cause)."""
    page, watch = tab
    assert page.evaluate("typeof window.__pwned") == "undefined", f"a script ran on {where}"
    own = f"console error at {page.url}: Failed to load resource: the server responded with a "
    own += f"status of {status} "
    errors = [e for e in watch.take() if status == 200 or not e.startswith(own)]
    assert not errors, f"{where}: " + "\n".join(errors)


def shown_text(page) -> str:
    return page.inner_text("main") if page.locator("main").count() else page.inner_text("body")


@pytest.mark.parametrize("name", list(PAGES))
def test_page_shows_its_values(tab, site, name):
    expect = PAGES[name]
    page, watch = tab
    watch.take()
    path = expect.url(site)
    response = visit(tab, site, path)
    assert response is not None
    assert response.status == expect.status, f"{path}: {response.status}\n{shown_text(page)}"
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    text = shown_text(page)
    missing = [t for t in expect.texts(site) if t not in text]
    assert not missing, f"{path} does not show {missing}"
    for href in expect.links(site):
        assert page.locator(f'a[href="{href}"]').count() >= 1, f"{path} has no link to {href}"
    for selector in expect.selectors:
        assert page.locator(selector).count() >= 1, f"{path} has no {selector}"
    assert_clean(tab, path, expect.status)


def click(tab, href: str) -> None:
    """Click the first link to ``href`` and wait for its page."""
    page, _ = tab
    link = page.locator(f'a[href="{href}"]').first
    link.scroll_into_view_if_needed()
    with page.expect_navigation(wait_until="load"):
        link.click()
    assert page.url.endswith(href), f"clicked {href}, landed on {page.url}"


def test_click_through_runs_pipeline_step_artifact_lineage_model(tab, site):
    page, watch = tab
    watch.take()
    visit(tab, site, "/experiments")
    click(tab, f"/experiments/{site.quickstart_experiment}")
    assert site.pipeline_run_name in shown_text(page)
    # the pipeline run, from the runs table: its run page links to the DAG page
    direct = page.locator(f'a[href="/pipelines/runs/{site.pipeline_run}"]')
    if direct.count():
        click(tab, f"/pipelines/runs/{site.pipeline_run}")
    else:
        click(tab, f"/runs/{site.pipeline_run}")
        click(tab, f"/pipelines/runs/{site.pipeline_run}")
    assert site.train_step_name in shown_text(page)
    click(tab, f"/runs/{site.train_step}")  # a node of the DAG
    assert site.train_step_name in shown_text(page)
    click(tab, f"/artifacts/{site.model_artifact}")  # the step's output: the model
    click(tab, f"/artifacts/{site.train_input}")  # upstream in the lineage graph
    assert site.train_input_name in shown_text(page)
    click(tab, "/models")  # the nav
    click(tab, "/models/quickstart")
    assert "@champion" in shown_text(page)
    click(tab, "/models/quickstart/versions/1")
    assert page.locator(f'a[href="/runs/{site.train_step}"]').count() >= 1
    click(tab, f"/artifacts/{site.train_input}")  # its training data
    assert_clean(tab, "the click-through")


def test_keyboard_reaches_the_models_links(tab, site):
    page, watch = tab
    watch.take()
    visit(tab, site, "/models")
    hrefs = []
    for _ in range(30):
        page.keyboard.press("Tab")
        hrefs.append(page.evaluate("document.activeElement.getAttribute('href')"))
    assert "/models/quickstart" in hrefs
    assert_clean(tab, "/models, by keyboard")


@pytest.mark.parametrize("name", ["run", "model"])
def test_light_and_dark(tab, site, name):
    page, watch = tab
    watch.take()
    visit(tab, site, PAGES[name].url(site))
    background = "getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-light.png"), full_page=True)
    page.click("[data-theme-toggle]")
    try:
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        dark = page.evaluate(background)
        assert dark != light, "the dark theme keeps the light background"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-dark.png"), full_page=True)
        visit(tab, site, PAGES[name].url(site))  # the choice is kept across pages
        assert page.evaluate(background) == dark
    finally:
        page.evaluate("localStorage.removeItem('heron-theme')")
    assert_clean(tab, f"{name}, dark")


def test_raw_artifact_bytes_are_served_inert(site):
    response = httpx.get(f"{site.url}/artifacts/{site.notes}/raw", timeout=30)
    assert response.status_code == 200, response.text[:500]
    assert response.content == NOTES.encode()
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/html"):
        assert "sandbox" in response.headers.get("content-security-policy", "")
