"""Which :class:`Store` serves a tracking URI (one instance per URI and process)."""

from __future__ import annotations

import threading

from heron.core import config, uris
from heron.core.errors import ConfigError
from heron.store.base import Store

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def get_store(uri: str | None = None) -> Store:
    """The store of ``uri`` (default: the active tracking URI), opened on first use."""
    uri = config.normalize_tracking_uri(uri) if uri else config.get_tracking_uri()
    store = _stores.get(uri)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(uri)
        if store is None:
            store = _stores[uri] = _open(uri)
    return store


def open_store(uri: str) -> Store:
    """A new store of ``uri``, not cached: for a look-up made while a cached store opens
    (the stack in force is read from the home store when a store asks for its settings)."""
    return _open(config.normalize_tracking_uri(uri))


def _open(uri: str) -> Store:
    kind = uris.tracking_uri_kind(uri)
    if kind in (uris.SQLITE, uris.POSTGRESQL):
        from heron.store.sql.store import SqlStore

        return SqlStore(uri)
    if kind == uris.HTTP:
        from heron.store.rest.store import RestStore

        return RestStore(uri)
    raise ConfigError(f"{uris.redact(uri)} is not a tracking URI Heron can open.")


def forget_stores() -> None:
    """Drop the cached stores and their connections (tests, and after changing databases)."""
    from heron.store.sql import engine

    with _lock:
        _stores.clear()
    engine.dispose_engines()
    from heron.artifacts import store as artifact_stores

    artifact_stores.forget_served_roots()
