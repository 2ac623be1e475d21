"""Evidently's drift figures beside Heron's (``benchmarks/monitoring.py``, whose first half
builds the same tables and times the same way):
``Report([DataDriftPreset()]).run(current, reference)`` (Evidently 0.7).

    bash benchmarks/run_peers.sh --monitoring [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import monitoring as shared  # benchmarks/monitoring.py: the shared half


def main() -> None:
    args = shared.parse_args("Evidently's drift figures")
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    def compare(reference: Any, current: Any) -> Any:
        return Report([DataDriftPreset()]).run(current, reference)

    def found(snapshot: Any) -> Any:
        metrics = snapshot.dict()["metrics"]
        count = metrics[0]["value"]
        drifted = []
        for m in metrics[1:]:
            config = m["config"]
            if "column" not in config:
                continue
            value, threshold = float(m["value"]), config["threshold"]
            test = "p_value" in config["method"]  # drifted below; a distance at or above
            if (value < threshold) if test else (value >= threshold):
                drifted.append(config["column"])
        return {"drifted_share": float(count["share"]), "columns": drifted}

    shared.measure(
        "evidently",
        f"evidently {evidently.__version__}: Report([DataDriftPreset()]).run(current, reference)",
        compare,
        found,
        args.quick,
    )


if __name__ == "__main__":
    main()
