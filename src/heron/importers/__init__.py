"""Importers: bring data that other tools stored into Heron's store (``heron import``).

Each importer reads its source directly (files, database tables, REST API) and writes only
through :class:`heron.store.base.Store` and the artifact store, so it imports into an embedded
store and into a ``heron server`` alike. :mod:`heron.importers.mlflow` brings MLflow over.
"""
