"""The process of one scheduled run: ``python -m heron.scheduling.child SPEC``.

``SPEC`` is JSON: the pipeline reference, its params, the run id the tick derived, the run's
tags and the artifact versions it records as inputs. The interval is in the environment (see
:mod:`heron.scheduling.context`), set before the pipeline's module is imported so parameter
defaults such as ``heron.logical_date()`` see it. Exit codes: 0 the run completed, 1 it
failed, 2 it could not start (the reason is on stderr, which the scheduler keeps in the
tick), 3 a run with this id exists already (a relaunch after a crash found it started).
"""

from __future__ import annotations

import sys
from typing import Any

EXIT_COMPLETED, EXIT_FAILED, EXIT_NOT_STARTED, EXIT_DUPLICATE = 0, 1, 2, 3
#: the target of a monitor's schedule (heron.monitoring.monitors.MONITOR_TARGET)
MONITOR_TARGET = "heron:monitor"


def run_spec(spec: dict[str, Any]) -> int:
    """Run the scheduled pipeline ``spec`` describes; the exit code."""
    from heron.core import status
    from heron.core.errors import AlreadyExists, HeronError
    from heron.pipelines.loader import import_from_working_directory, load_pipeline

    if spec["pipeline"] == MONITOR_TARGET:  # a monitor's schedule: one evaluation
        from heron.monitoring.evaluation import run_scheduled

        return run_scheduled(spec)
    try:
        import_from_working_directory()
        pipeline = load_pipeline(spec["pipeline"])
        params = pipeline.bind(**spec["params"])
    except (HeronError, ImportError, OSError, SyntaxError) as e:
        print(f"cannot start {spec['pipeline']}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_NOT_STARTED
    try:
        result = pipeline.run(
            params, run_id=spec["run_id"], extra_tags=spec["tags"], inputs=spec["inputs"] or None
        )
    except AlreadyExists:
        print(f"run {spec['run_id']} exists already: not started twice", file=sys.stderr)
        return EXIT_DUPLICATE
    return EXIT_COMPLETED if result.status == status.COMPLETED else EXIT_FAILED


def main(argv: list[str]) -> int:
    import orjson

    return run_spec(orjson.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
