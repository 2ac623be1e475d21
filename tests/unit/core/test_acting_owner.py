"""The server writes runs on behalf of its clients: `acting_for` sets whose process they
belong to and with which heartbeat timeout, for the block only."""

from __future__ import annotations

from heron.core import owner


def test_acting_for_a_client_then_back_to_this_process(monkeypatch):
    monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "120")
    mine = owner.current_owner()
    with owner.acting_for("4242:99@elsewhere", 5_000):
        assert owner.current_owner() == "4242:99@elsewhere"
        assert owner.heartbeat_timeout_ms() == 5_000
    assert owner.current_owner() == mine
    assert owner.heartbeat_timeout_ms() == 120_000


def test_no_owner_header_changes_nothing():
    mine = owner.current_owner()
    with owner.acting_for(None, 10):
        assert owner.current_owner() == mine
