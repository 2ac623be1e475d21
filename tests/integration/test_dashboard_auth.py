"""The dashboard under governance: the app of `heron server --auth`, in-process (httpx's ASGI
transport), over a SQLite store holding two projects.

Signing in and out (the session cookie, the login form's double-submit token, failures
rate-limited), CSRF on forms, the project switcher, pages of one project hidden from viewers of
another (404, and not one name or id of it in any list, lineage or link), and the audit page.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from urllib.parse import quote

import httpx
import pytest

from heron.core.entities import Metric
from heron.server.app import create_app
from heron.server.auth.identity import csrf_token
from heron.server.runner import prepare
from heron.server.settings import ServerSettings
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
BETA_SECRETS = ("beta-secret-exp", "beta-secret-run", "beta-secret-model", "beta-secret-data")


class Loop:
    """One event loop in a thread, driving every client of the module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Browser:
    """A synchronous face of an ``httpx.AsyncClient`` over the app (with its cookie jar), from
    one client address."""

    def __init__(self, site: Site, address: str = "127.0.0.1") -> None:
        self.site = site
        transport = httpx.ASGITransport(app=site.app, client=(address, 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://dash.test")

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.site.loop.run(self.client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def sign_in(self, name: str, password: str = PASSWORD, **fields) -> httpx.Response:
        form = self.get("/login")
        assert form.status_code == 200, form.text[:500]
        data = {"username": name, "password": password, "form_token": form_token(form.text)}
        return self.post("/login", data={**data, **fields})

    def session(self) -> str | None:
        return self.client.cookies.get("heron_session")


def form_token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def page_csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', html).group(1)


def options(html: str) -> list[str]:
    switch = re.search(r'<select id="project-switch".*?</select>', html, re.S)
    return re.findall(r'<option value="([^"]+)"', switch.group(0)) if switch else []


@dataclass
class Site:
    app: object
    loop: Loop
    ids: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("dashboard-auth")
    settings = ServerSettings(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        auth=True,
        access_log=False,
        reap_interval=0,
    )
    prepare(settings)
    app = create_app(settings)
    governance = app.guard.governance
    for name, admin in (("ana", True), ("vic", False), ("bea", False), ("max", False)):
        governance.create_user(name, PASSWORD, admin=admin)
    governance.create_user("lockme", PASSWORD)
    governance.create_user("ned", PASSWORD)
    for project in ("alpha", "beta"):
        governance.create_project(project)
    governance.grant("alpha", "vic", "viewer")
    governance.grant("beta", "bea", "viewer")
    governance.grant("alpha", "max", "maintainer")
    loop = Loop()
    try:
        yield Site(app, loop, _fill(app))
    finally:
        loop.close()
        app.pool.shutdown(wait=False)


def _fill(app) -> dict[str, str]:
    """Runs, models, an artifact and a pipeline in each project; alpha's artifact is read by
    a run of beta (a lineage edge across projects)."""
    ids: dict[str, str] = {}
    for project, prefix in (("alpha", "alpha-visible"), ("beta", "beta-secret")):
        store = app.store.in_project(project)
        experiment = store.create_experiment(f"{prefix}-exp")
        ids[f"{project}_exp"] = experiment.id
        runs = []
        for i in range(2):
            run = store.create_run(experiment.id, name=f"{prefix}-run-{i}")
            store.log_batch(run.id, [Metric("acc", 0.5 + i / 10, 0, 0)], {"lr": str(i)})
            runs.append(run.id)
        ids[f"{project}_run"], ids[f"{project}_run2"] = runs
        stored = app.blobs.put_bytes(f"{prefix} bytes".encode())
        artifact = store.create_artifact_version(
            f"{prefix}-data",
            content_hash=stored.content_hash,
            type="text",
            materializer="file.text",
            size=stored.size,
            uri=stored.uri,
            producer_run_id=runs[0],
        )
        ids[f"{project}_artifact"] = artifact.id
        store.create_registered_model(f"{prefix}-model")
        store.create_model_version(f"{prefix}-model", artifact.id, run_id=runs[0])
        version = f"{project}-pipeline-version".ljust(32, "0")
        store.create_pipeline_version(version, f"{prefix}-pipeline", {"nodes": []})
        pipeline_run = store.create_run(
            experiment.id,
            name=f"{prefix}-pipeline-run",
            kind="pipeline",
            pipeline_version_id=version,
            tags={"heron.pipeline": f"{prefix}-pipeline"},
        )
        store.update_run(pipeline_run.id, status="completed")
    beta = app.store.in_project("beta")
    beta.link_artifact(ids["beta_run2"], ids["alpha_artifact"], "input", "borrowed")
    return ids


@pytest.fixture
def vic(site) -> Browser:
    browser = Browser(site)
    assert browser.sign_in("vic").status_code == 303
    return browser


def assert_no_beta(html: str) -> None:
    for secret in BETA_SECRETS:
        assert secret not in html


# --- signing in --------------------------------------------------------------------------
def test_a_page_without_sign_in_redirects_to_the_login_form(site):
    browser = Browser(site)
    answer = browser.get("/experiments?q=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=" + quote("/experiments?q=x", safe="")
    assert browser.get("/runs/" + site.ids["alpha_run"]).status_code == 303
    assert browser.get("/audit").status_code == 303
    # the form, which goes back there afterwards; static files need no sign-in
    form = browser.get(answer.headers["location"])
    assert form.status_code == 200 and 'name="password"' in form.text
    assert 'value="/experiments?q=x"' in unescape(form.text)
    assert browser.get("/static/heron.css").status_code == 200
    signed = browser.sign_in("vic", next="/experiments?q=x")
    assert signed.status_code == 303 and signed.headers["location"] == "/experiments?q=x"


def test_only_same_site_next_values_are_followed(site):
    browser = Browser(site)
    form = browser.get("/login?next=https://evil.example/x")
    assert 'name="next" value="/"' in form.text
    for bad in ("//evil.example", "https://evil.example", "/\\evil.example", "javascript:x"):
        browser.client.cookies.clear()
        answer = browser.sign_in("vic", next=bad)
        assert answer.status_code == 303 and answer.headers["location"] == "/", bad


def test_sign_in_sets_an_http_only_same_site_session_cookie(site):
    browser = Browser(site)
    answer = browser.sign_in("vic")
    assert answer.status_code == 303
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("heron_session="))
    parts = [p.strip() for p in session.split(";")]
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= set(parts)
    assert "Secure" not in parts
    page = browser.get("/experiments")
    assert page.status_code == 200
    assert 'data-signed-in="vic"' in page.text and 'action="/logout"' in page.text
    # behind a TLS-terminating proxy the cookie is Secure
    proxied = Browser(site)
    form = proxied.get("/login")
    secure = proxied.post(
        "/login",
        data={"username": "vic", "password": PASSWORD, "form_token": form_token(form.text)},
        headers={"x-forwarded-proto": "https"},
    )
    session = next(c for c in secure.headers.get_list("set-cookie") if "heron_session=" in c)
    assert "Secure" in [p.strip() for p in session.split(";")]


def test_the_login_form_needs_its_double_submit_token(site):
    browser = Browser(site)
    browser.get("/login")  # the token's cookie is set
    answer = browser.post(
        "/login", data={"username": "vic", "password": PASSWORD, "form_token": "forged"}
    )
    assert answer.status_code == 400 and browser.session() is None
    fresh = Browser(site)  # a cross-site post: no token cookie at all
    answer = fresh.post("/login", data={"username": "vic", "password": PASSWORD})
    assert answer.status_code == 400 and fresh.session() is None


def test_a_wrong_password_is_a_401_page_and_many_are_refused_with_429(site):
    browser = Browser(site, address="10.20.30.40")  # its own address: the limit counts it
    answer = browser.sign_in("lockme", "wrong")
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text and browser.session() is None
    statuses = [browser.sign_in("lockme", f"wrong-{i}").status_code for i in range(12)]
    assert statuses[-1] == 429 and set(statuses) <= {401, 429}
    assert "Too many failed sign-ins" in browser.sign_in("lockme", "again").text
    # while refused, even the right password does not sign in
    assert browser.sign_in("lockme").status_code == 429 and browser.session() is None


def test_sign_out_ends_the_session(site):
    browser = Browser(site)
    browser.sign_in("vic")
    old = browser.session()
    page = browser.get("/experiments")
    csrf = page_csrf(page.text)
    assert csrf == csrf_token(old)
    answer = browser.post("/logout", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert any(
        c.startswith("heron_session=;") and "Max-Age=0" in c
        for c in answer.headers.get_list("set-cookie")
    )
    assert browser.session() is None
    # the old cookie signs nobody in any more: not the dashboard, not the API
    stale = Browser(site)
    stale.client.cookies.set("heron_session", old, domain="dash.test")
    again = stale.get("/experiments")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    api = stale.get("/api/v1/experiments")
    assert api.status_code == 401


def test_a_form_posted_without_its_csrf_token_is_403(site, vic):
    assert vic.post("/logout").status_code == 403
    assert vic.post("/logout", data={"csrf": "0" * 40}).status_code == 403
    # the session still stands: the forged post changed nothing
    assert vic.get("/experiments").status_code == 200
    denied = site.app.guard.governance.search_audit(user="vic", outcome="denied")
    assert any(e.route == "/logout" and e.status == 403 for e in denied)


# --- projects ----------------------------------------------------------------------------
def test_the_project_switcher_lists_only_readable_projects(site, vic):
    page = vic.get("/experiments")
    assert page.status_code == 200
    assert options(page.text) == ["alpha"]  # vic's only project is chosen by default
    assert "alpha-visible-exp" in page.text
    admin = Browser(site)
    admin.sign_in("ana")
    listed = admin.get("/experiments")
    assert options(listed.text) == ["alpha", "beta", "default"]
    # the chosen project: ?project= then remembered in a cookie
    chosen = admin.get("/experiments?project=beta")
    assert "beta-secret-exp" in chosen.text and "alpha-visible-exp" not in chosen.text
    assert "beta-secret-exp" in admin.get("/experiments").text
    assert "beta-secret-model" in admin.get("/models").text


def test_a_viewer_of_one_project_never_sees_another(site, vic):
    ids = site.ids
    for path in (
        f"/runs/{ids['beta_run']}",
        f"/experiments/{ids['beta_exp']}",
        f"/experiments/{ids['beta_exp']}/columns",
        f"/artifacts/{ids['beta_artifact']}",
        f"/artifacts/{ids['beta_artifact']}/raw",
        f"/compare?runs={ids['alpha_run']}&runs={ids['beta_run']}",
    ):
        answer = vic.get(path)
        assert answer.status_code == 404, path
        assert_no_beta(answer.text)
        assert options(answer.text) == ["alpha"]
    refused = vic.get("/experiments?project=beta")
    assert refused.status_code == 403
    assert_no_beta(refused.text)
    for path in ("/experiments", "/models", "/artifacts", "/pipelines"):
        answer = vic.get(path)
        assert answer.status_code == 200, path
        assert_no_beta(answer.text)
        assert ids["beta_run"] not in answer.text and ids["beta_exp"] not in answer.text
    assert "alpha-visible-pipeline" in vic.get("/pipelines").text
    assert "alpha-visible-model" in vic.get("/models").text
    # alpha's artifact was read by a beta run: its page and lineage leave that run out
    artifact = vic.get(f"/artifacts/{ids['alpha_artifact']}")
    assert artifact.status_code == 200 and "alpha-visible-run-0" in artifact.text
    assert ids["beta_run2"] not in artifact.text and "beta-secret-run-1" not in artifact.text
    compare = vic.get(f"/compare?runs={ids['alpha_run']}&runs={ids['alpha_run2']}")
    assert compare.status_code == 200 and "alpha-visible-run-1" in compare.text
    run = vic.get(f"/runs/{ids['alpha_run']}")
    assert run.status_code == 200 and "alpha-visible-data" in run.text
    # a viewer of beta sees beta's run with alpha's input, and its lineage
    bea = Browser(site)
    bea.sign_in("bea")
    mixed = bea.get(f"/runs/{ids['beta_run2']}")
    assert mixed.status_code == 200 and "beta-secret-run-1" in mixed.text
    assert "alpha-visible-data" not in mixed.text and ids["alpha_artifact"] not in mixed.text
    assert bea.get(f"/runs/{ids['alpha_run']}").status_code == 404


def test_a_signed_in_user_without_a_role_gets_403_not_data(site):
    ned = Browser(site)
    ned.sign_in("ned")
    answer = ned.get("/experiments")
    assert answer.status_code == 403
    assert "alpha-visible" not in answer.text and options(answer.text) == []
    assert ned.get(f"/runs/{site.ids['alpha_run']}").status_code == 404


# --- the audit trail ---------------------------------------------------------------------
def test_the_audit_page_is_for_admins_and_maintainers(site, vic):
    vic.get(f"/runs/{site.ids['beta_run']}")  # a denial, audited
    refused = vic.get("/audit")
    assert refused.status_code == 403 and "audit trail is shown to" in refused.text
    assert "/audit" not in vic.get("/experiments").text.split("<main")[0]
    admin = Browser(site)
    admin.sign_in("ana")
    header = admin.get("/experiments").text.split("<main")[0]
    assert 'href="/audit"' in header
    page = admin.get("/audit?user=vic&outcome=denied")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-audit-id="(\d+)"', page.text)
    assert rows and site.ids["beta_run"] in page.text
    ordered = [int(r) for r in rows]
    assert ordered == sorted(ordered, reverse=True)  # newest first
    assert admin.get("/audit?user=nobody-at-all").text.count("data-audit-id") == 0
    assert admin.get("/audit?user=vic&since=1d").text.count("data-audit-id") == len(rows)
    assert admin.get("/audit?user=vic&since=2999-01-01").text.count("data-audit-id") == 0
    assert admin.get("/audit?since=bogus").status_code == 400
    assert admin.get("/audit?outcome=maybe").status_code == 400
    # a maintainer of alpha sees alpha's entries only
    maintainer = Browser(site)
    maintainer.sign_in("max")
    theirs = maintainer.get("/audit?outcome=denied")
    assert theirs.status_code == 200 and "dashboard.sign_out" in theirs.text  # alpha's
    beta_run = f"/audit?object={site.ids['beta_run']}"
    assert admin.get(beta_run).text.count("data-audit-id") >= 1
    assert maintainer.get(beta_run).text.count("data-audit-id") == 0
    assert maintainer.get("/audit?project=beta").text.count("data-audit-id") == 0


def test_the_audit_page_pages_without_repeating_entries(site):
    from heron.store.sql import audit

    engine = site.app.store.engine
    for i in range(120):
        record = audit.AuditRecord(
            user="pager", address=None, method="GET", route="/x", action=f"paging.{i}"
        )
        audit.write_denied(engine, record)
    admin = Browser(site)
    admin.sign_in("ana")
    seen: list[str] = []
    path = "/audit?user=pager"
    while path:
        page = admin.get(path)
        assert page.status_code == 200
        seen += re.findall(r'<tr data-audit-id="(\d+)"', page.text)
        older = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        path = unescape(older.group(1)) if older else None
    assert len(seen) == 120 and len(set(seen)) == 120


def test_since_takes_spans_and_dates():
    from heron.server.dashboard.face import PageError
    from heron.server.dashboard.pages.audit import parse_since

    now = 1_000_000_000_000
    assert parse_since("12h", now) == now - 12 * 3600 * 1000
    assert parse_since("7d", now) == now - 7 * 86400 * 1000
    assert parse_since("2026-05-01", now) == 1777593600000
    assert parse_since("2026-05-01T02:00:00+02:00", now) == 1777593600000
    assert parse_since("", now) is None
    with pytest.raises(PageError):
        parse_since("yesterday", now)
