"""Stacks through `heron server`: kept in the team's store, seen by every client, chosen by
HERON_STACK and recorded on the runs made through the server."""

from __future__ import annotations

import pytest

import heron
from heron.core import config
from heron.stacks.manage import create_stack, current_stack, list_stacks
from heron.store import registry
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack-server")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--no-access-log",),
    ) as running:
        yield running


def test_stacks_kept_by_the_server_are_chosen_and_recorded(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HERON_TRACKING_URI", server.url)
    monkeypatch.delenv("HERON_STACK", raising=False)
    config.select_stack(None)
    try:
        create_stack("team-pair", parallelism=2, description="shared")
        registry.forget_stores()  # another client of the same server
        assert [s.name for s in list_stacks()] == ["default", "team-pair"]
        monkeypatch.setenv("HERON_STACK", "team-pair")
        assert current_stack().parallelism == 2
        assert config.get_tracking_uri() == server.url

        @heron.step
        def one() -> int:
            return 1

        @heron.pipeline
        def tiny():
            one()

        run = tiny()
        tags = heron.Client().get_run(run.id).tags
        assert tags["heron.stack"] == "team-pair"
        assert tags["heron.orchestrator.parallelism"] == "2"
        assert tags["heron.stack.tracking_uri"] == server.url
    finally:
        config.select_stack(None)
        registry.forget_stores()
