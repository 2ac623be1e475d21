"""Where data goes: the tracking and artifact URIs resolved as DESIGN §3 says."""

from __future__ import annotations

import pytest

from heron.core import config, uris
from heron.core.errors import ConfigError


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    monkeypatch.delenv("HERON_TRACKING_URI", raising=False)
    monkeypatch.delenv("HERON_ARTIFACT_URI", raising=False)
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    yield
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)


def test_default_is_heron_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.get_tracking_uri() == uris.sqlite_uri(tmp_path / "home" / "heron.db")
    assert config.get_artifact_uri() == str(tmp_path / "home" / "artifacts")


def test_nearest_workspace_upward_wins_over_home(tmp_path, monkeypatch):
    (tmp_path / "proj" / ".heron").mkdir(parents=True)
    deep = tmp_path / "proj" / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    expected = tmp_path / "proj" / ".heron"
    assert config.get_tracking_uri() == uris.sqlite_uri(expected / "heron.db")
    assert config.get_artifact_uri() == str(expected / "artifacts")


def test_environment_wins_over_workspace(tmp_path, monkeypatch):
    (tmp_path / ".heron").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HERON_TRACKING_URI", "postgresql://u:p@localhost:5432/heron")
    assert config.get_tracking_uri() == "postgresql://u:p@localhost:5432/heron"


def test_explicit_setting_wins_over_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_TRACKING_URI", "sqlite:///" + str(tmp_path / "env.db"))
    config.set_tracking_uri("sqlite:///" + str(tmp_path / "explicit.db"))
    assert config.get_tracking_uri().endswith("explicit.db")
    config.set_tracking_uri(None)
    assert config.get_tracking_uri().endswith("env.db")


def test_plain_paths_mean_sqlite(tmp_path):
    config.set_tracking_uri(tmp_path / "store")
    assert config.get_tracking_uri() == uris.sqlite_uri(tmp_path / "store" / "heron.db")
    config.set_tracking_uri(str(tmp_path / "x.db"))
    assert config.get_tracking_uri() == uris.sqlite_uri(tmp_path / "x.db")


def test_artifact_uri_from_environment(monkeypatch):
    monkeypatch.setenv("HERON_ARTIFACT_URI", "s3://bucket/heron")
    assert config.get_artifact_uri() == "s3://bucket/heron"


def test_unsupported_scheme_is_a_clear_error():
    with pytest.raises(ConfigError, match="Unsupported tracking URI"):
        config.set_tracking_uri("mysql://x")


def test_redact_hides_passwords():
    assert uris.redact("postgresql://bob:secret@h:5/db") == "postgresql://bob:***@h:5/db"
    assert uris.redact("sqlite:///a.db") == "sqlite:///a.db"
