"""`ServeSettings`: how ``heron serve`` runs. They travel to the serving process and to
``--workers`` processes as one environment variable (:data:`ENV`), together with the model
the URI resolved to, so that every worker serves the same version without opening the
metadata database."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from heron.core.errors import InvalidArgument

#: the environment variable that carries the settings to serving processes
ENV = "HERON_SERVE_SETTINGS"
#: "auto" batching is on for these flavors, whose predict scores each row on its own
ROW_WISE_FLAVORS = ("sklearn", "xgboost", "lightgbm")
BATCHING_MODES = ("auto", "on", "off")


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Options of ``heron serve`` (see ``heron serve --help`` and docs/serving.md).

    ``inference_log_uri`` is where ``log_inferences`` writes (resolved by ``heron serve``).
    ``artifact`` (the model's artifact version as a dict), ``registered_name`` and
    ``registered_version`` are what ``model_uri`` resolved to, once resolved.
    """

    model_uri: str
    tracking_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    batching: str = "auto"
    batch_max_size: int = 64
    batch_timeout_ms: float = 0.0
    max_body_mb: float = 100.0
    strict_params: bool = False
    log_inferences: bool = False
    inference_log_uri: str | None = None
    artifact: dict[str, Any] | None = None
    registered_name: str | None = None
    registered_version: int | None = None

    def __post_init__(self) -> None:
        if self.batching not in BATCHING_MODES:
            raise InvalidArgument(f"batching is one of {', '.join(BATCHING_MODES)}.")
        if self.workers < 1:
            raise InvalidArgument(f"workers must be at least 1; got {self.workers}.")
        if self.batch_max_size < 1:
            raise InvalidArgument(f"batch_max_size must be at least 1; got {self.batch_max_size}.")
        if not 0 <= self.batch_timeout_ms <= 10_000:
            raise InvalidArgument(
                f"batch_timeout_ms is between 0 and 10000; got {self.batch_timeout_ms}."
            )
        if self.max_body_mb <= 0:
            raise InvalidArgument(f"max_body_mb must be positive; got {self.max_body_mb}.")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def batching_for(self, flavor: str) -> bool:
        """Whether requests are batched for a model of ``flavor``: ``auto`` batches the flavors
        whose predictions are row by row; user code (``predict``, ``callable``) only when
        asked, since its predictions could depend on the other rows of a call."""
        on = flavor in ROW_WISE_FLAVORS if self.batching == "auto" else self.batching == "on"
        return on and self.batch_max_size > 1

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeSettings:
        text = (os.environ if environ is None else environ).get(ENV)
        if not text:
            raise InvalidArgument(f"{ENV} is not set: start the server with `heron serve`.")
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
