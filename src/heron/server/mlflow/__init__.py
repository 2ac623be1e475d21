"""MLflow's REST API on Heron's data: unchanged MLflow clients log to ``heron server``.

The routes MLflow's Python client calls (``/api/2.0/mlflow/...``, the artifact proxy
``/api/2.0/mlflow-artifacts/...`` and the few ``/api/3.0/mlflow/...`` routes of MLflow 3), mapped
onto the server's ``SqlStore`` and artifact store: one data model, no second database.

- :mod:`.face`: the dispatcher (:class:`~heron.server.mlflow.face.MlflowFace`) and the
  request every handler gets;
- :mod:`.errors`: MLflow's error shape (``{"error_code", "message"}``) and status codes;
- :mod:`.paths`: how MLflow's artifact URIs name Heron's runs and logged models;
- one module per group of routes, each with a ``register(face)`` function: the face finds
  them in this package (every module but the three above), so adding routes touches no other
  file.
"""
