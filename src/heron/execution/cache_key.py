"""The cache key of a step execution.

Two executions share a key exactly when they run the same step definition (code, outputs,
materializer choices) on the same parameters and on inputs with the same content read by the
same materializer versions. The versions of the materializers that *wrote* a cached run's
outputs are checked when the cached run is reused (see the executor).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from heron.core.entities import ArtifactVersion


def _input_identity(value: ArtifactVersion | list[ArtifactVersion]) -> Any:
    if isinstance(value, list):
        return [_input_identity(v) for v in value]
    return [value.content_hash, value.materializer, value.materializer_version]


def cache_key(
    definition_hash: str,
    params: dict[str, Any],
    inputs: dict[str, ArtifactVersion | list[ArtifactVersion]],
) -> str:
    """sha256 hex of the step definition, parameters and input contents."""
    payload = {
        "step": definition_hash,
        "params": params,
        "inputs": {arg: _input_identity(v) for arg, v in inputs.items()},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
