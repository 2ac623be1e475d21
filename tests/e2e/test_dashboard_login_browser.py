"""Signing in to the dashboard of `heron server --auth` in a real browser (Debian's chromium
through Playwright): open ``/``, land on the sign-in form, sign in, see the runs of the
project the user may read (and not another project's), sign out, and be asked to sign in
again. The pages run clean: no console error, which is also where a Content-Security-Policy
violation (an inline script or style) would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from heron.core.entities import Metric
from heron.server.runner import prepare
from heron.server.settings import ServerSettings
from heron.store.sql.governance import GovernanceStore
from heron.store.sql.store import SqlStore
from tests.support.browser import PageWatch
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.e2e

PASSWORD = "a long enough password"


@dataclass
class Site:
    url: str
    experiment: str
    runs: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("dashboard-login")
    uri = sqlite_uri(folder / "heron.db")
    artifacts = str(folder / "artifacts")
    prepare(ServerSettings(uri, artifacts))
    governance = GovernanceStore(uri)
    governance.create_user("rita", PASSWORD)
    for project in ("fraud", "hidden"):
        governance.create_project(project)
    governance.grant("fraud", "rita", "viewer")
    store = SqlStore(uri)
    fraud = store.in_project("fraud")
    experiment = fraud.create_experiment("fraud-detection")
    runs = []
    for i in range(3):
        run = fraud.create_run(experiment.id, name=f"fraud-run-{i}")
        fraud.log_batch(run.id, [Metric("auc", 0.9 + i / 100, 0, 0)], status="completed")
        runs.append(run.id)
    hidden = store.in_project("hidden")
    other = hidden.create_experiment("hidden-experiment")
    hidden.create_run(other.id, name="hidden-run")
    with running_server(uri, artifacts, folder / "server.log", extra_args=("--auth",)) as server:
        yield Site(server.url, experiment.id, runs)


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page, PageWatch(page)
    context.close()


def test_sign_in_see_the_projects_runs_and_sign_out(tab, site):
    page, watch = tab
    page.goto(site.url + "/")
    assert page.url == site.url + "/login?next=" + quote("/experiments", safe="")
    assert page.locator("h1").inner_text() == "Sign in"
    # a wrong password first: the form says so, and keeps the name
    page.fill("#username", "rita")
    page.fill("#password", "not it")
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    assert "Wrong user name or password." in page.locator(".login-error").inner_text()
    assert page.input_value("#username") == "rita"
    # the 401 page's own status is the one console line it may cause
    errors = [e for e in watch.take() if "status of 401" not in e]
    assert errors == []
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    assert page.url == site.url + "/experiments"
    assert page.locator("[data-signed-in]").inner_text().strip() == "rita"
    text = page.locator("main").inner_text()
    assert "fraud-detection" in text and "hidden-experiment" not in text
    # rita may read one project: it is the one shown, and the only one offered
    assert page.locator("#project-switch option").all_inner_texts() == ["fraud"]
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["heron_session"]["httpOnly"] and cookies["heron_session"]["sameSite"] == "Lax"
    with page.expect_navigation():
        page.click(f'a[href="/experiments/{site.experiment}"]')
    table = page.locator("main").inner_text()
    for i in range(3):
        assert f"fraud-run-{i}" in table
    with page.expect_navigation():
        page.click(f'a[href="/runs/{site.runs[0]}"]')
    assert "fraud-run-0" in page.locator("main").inner_text()
    # sign out: back at the form, and the pages ask to sign in again
    with page.expect_navigation():
        page.click("form.sign-out button")
    assert page.url == site.url + "/login"
    assert "heron_session" not in {c["name"] for c in page.context.cookies()}
    page.goto(site.url + f"/runs/{site.runs[0]}")
    assert page.url.startswith(site.url + "/login?next=")
    assert watch.take() == []
