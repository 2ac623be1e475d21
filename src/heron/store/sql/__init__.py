"""The SQL implementation of :class:`heron.store.base.Store` (SQLite and PostgreSQL)."""
