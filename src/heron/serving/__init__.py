"""The scoring server (``heron serve``): a stored model behind HTTP, answering MLflow's
scoring formats with ``{"predictions": [...]}`` and batching concurrent small requests.

- :mod:`heron.serving.formats`: request bodies (JSON forms, CSV, Parquet) into plain data;
- :mod:`heron.serving.scoring`: prepare, predict, answer, errors as HTTP statuses;
- :mod:`heron.serving.batching`: the adaptive micro-batcher;
- :mod:`heron.serving.app`: the FastAPI app; :mod:`heron.serving.server`: uvicorn.

See docs/serving.md.
"""
