"""What a tracking-server client sends with every request (its project, its credentials) and
how it reads a refusal."""

from __future__ import annotations

import base64

import pytest

from heron.core import config
from heron.core.errors import InvalidArgument, PermissionDenied, Unauthenticated
from heron.store.rest import protocol
from heron.store.rest.http import HttpSession


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in (config.PROJECT_ENV, config.TOKEN_ENV, config.USERNAME_ENV, config.PASSWORD_ENV):
        monkeypatch.setenv(name, "x")  # recorded, so that the test leaves it as it was
        monkeypatch.delenv(name)
    yield
    config.set_tracking_credentials()
    config.set_project(None)


class Answer:
    def __init__(self, status: int, content: bytes) -> None:
        self.status_code = status
        self.content = content
        self.text = content.decode()


def test_every_request_names_the_project_and_carries_the_credentials(monkeypatch):
    session = HttpSession("http://127.0.0.1:9")
    headers = session.headers()
    assert headers[protocol.PROJECT_HEADER] == "default"
    assert "authorization" not in headers
    monkeypatch.setenv("HERON_PROJECT", "fraud")
    monkeypatch.setenv("HERON_TRACKING_USERNAME", "ada")
    monkeypatch.setenv("HERON_TRACKING_PASSWORD", "pa:ss")
    headers = session.headers()
    assert headers[protocol.PROJECT_HEADER] == "fraud"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"ada:pa:ss").decode()
    monkeypatch.setenv("HERON_TRACKING_TOKEN", "t0ken")  # a token wins over a password
    assert session.headers()["authorization"] == "Bearer t0ken"
    config.set_tracking_credentials(token="in-process")  # and the process's over both
    assert session.headers()["authorization"] == "Bearer in-process"
    config.set_tracking_credentials()
    monkeypatch.delenv("HERON_TRACKING_TOKEN")
    monkeypatch.delenv("HERON_TRACKING_PASSWORD")
    assert "authorization" not in session.headers()
    with pytest.raises(InvalidArgument, match="username together with a password"):
        config.set_tracking_credentials(username="ada")


def test_a_view_sends_its_own_project():
    from heron.store.rest.store import RestStore

    store = RestStore.__new__(RestStore)  # no server needed to build the headers
    store._project = None
    assert store._headers() is None  # the session sends the process's project
    assert store.in_project("fraud")._headers() == {protocol.PROJECT_HEADER: "fraud"}


@pytest.mark.parametrize(
    ("status", "body", "error", "said"),
    [
        (
            401,
            b'{"error": {"code": "UNAUTHENTICATED", "message": "who?"}}',
            Unauthenticated,
            "who?",
        ),
        (403, b'{"error": {"code": "PERMISSION_DENIED", "message": "no"}}', PermissionDenied, "no"),
        (
            403,
            b'{"error": {"code": "SOMETHING_ELSE", "message": "nope"}}',
            PermissionDenied,
            "nope",
        ),
        (401, b"Authorization Required", Unauthenticated, "HERON_TRACKING_TOKEN"),
        (403, b"<html>Forbidden</html>", PermissionDenied, "Forbidden"),
    ],
)
def test_refusals_are_raised_as_their_errors_with_the_servers_words(status, body, error, said):
    made = HttpSession("http://127.0.0.1:9")._error(Answer(status, body), "GET", "/api/v1/x")
    assert type(made) is error
    assert said in made.message
