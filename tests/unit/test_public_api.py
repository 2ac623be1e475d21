"""The public surface: exactly the names DESIGN §2 promises, and a light `import heron`."""

from __future__ import annotations

import subprocess
import sys

import heron

# DESIGN §2 names this release implements, plus deliberate additions (MLflow users expect
# them: get_tracking_uri, active_run, end_run, log_param, set_tags, delete_tag, HeronError).
IMPLEMENTED = {
    "Client",
    "HeronError",
    "PipelineRunFailed",
    "active_run",
    "autolog",
    "delete_tag",
    "end_run",
    "get_tracking_uri",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_model",
    "load_model",
    "log_param",
    "log_params",
    "log_text",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "step",
    "pipeline",
    # scheduling (issue 10): a schedule, and the interval of a scheduled run
    "schedule",
    "context",
    "logical_date",
    "logical_time",
    # stacks (issue 11): choose the stack in force
    "use_stack",
    # projects: the namespace of experiments, registered models and artifacts
    "set_project",
    "get_project",
}
# DESIGN §2 names not exported yet (none left); a name must not be exported before it
# works.
PLANNED: set[str] = set()


def test_all_is_pinned():
    assert set(heron.__all__) == IMPLEMENTED
    assert len(heron.__all__) == len(IMPLEMENTED)
    assert not PLANNED & set(heron.__all__)


def test_every_exported_name_resolves_and_is_documented():
    for name in heron.__all__:
        obj = getattr(heron, name)
        assert obj.__doc__, f"heron.{name} has no docstring"


def test_monitoring_is_reached_from_heron_and_loads_on_first_use():
    code = (
        "import sys, heron; before = 'numpy' in sys.modules or 'heron.monitoring' in sys.modules; "
        "drift = heron.monitoring.drift; "
        "print(before, drift.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "heron.monitoring.comparison"]


def test_unknown_attribute_is_an_attribute_error():
    try:
        heron.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_import_heron_loads_no_heavy_module():
    code = (
        "import sys, heron; "
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'numpy', 'fastapi', 'pydantic', 'alembic',"
        " 'fsspec', 'httpx', 'rich', 'click', 'orjson') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_is_exposed():
    assert heron.__version__.count(".") == 2
