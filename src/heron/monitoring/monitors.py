"""Monitors: a model URI, a window, a schedule, thresholds and actions (DESIGN §1).

A monitor is stored as a schedule of the scheduler (so it runs on any store, through a
server too, exactly once per interval) whose target is :data:`MONITOR_TARGET` and whose params
hold the monitor's definition. ``heron scheduler`` starts each evaluation in a process of its
own (:mod:`heron.monitoring.evaluation`), as it starts pipeline runs.

Retraining goes through the scheduler's artifact triggers: a monitor with ``retrain=`` also
owns the schedule ``<name>-retrain``, started by each new version of the monitor's alert
artifact ``monitors/<name>/drift``. An evaluation that finds drift writes that version, so the
retraining run records, in its lineage, the evaluation that triggered it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from heron.core import schedules as s
from heron.core.errors import InvalidArgument, NotFound

# the target of a monitor's schedule: the scheduler starts an evaluation for it
from heron.scheduling.child import MONITOR_TARGET as MONITOR_TARGET

#: the version of the definition stored in the schedule's params
SPEC_VERSION = 1
DEFAULT_CRON = "@hourly"
DEFAULT_WINDOW = 3600.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


@dataclass
class MonitorSpec:
    """What a monitor evaluates and what it does on drift.

    ``model`` is a model URI (``models:/NAME@ALIAS`` is followed as the alias moves);
    ``window`` the seconds of logged inferences each evaluation reads (ending at its logical
    time); ``reference`` an artifact (``NAME[:VERSION]``) to use instead of the training data
    lineage finds; ``retrain`` a pipeline reference to start on drift; ``webhook`` a URL that
    gets a JSON POST on drift."""

    name: str
    model: str
    window: float = DEFAULT_WINDOW
    reference: str | None = None
    columns: list[str] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    drift_share: float = 0.5
    min_rows: int = 30
    retrain: str | None = None
    webhook: str | None = None
    inference_log_uri: str | None = None
    experiment: str | None = None

    @property
    def alert_artifact(self) -> str:
        """The artifact an evaluation that found drift writes a version of."""
        return f"monitors/{self.name}/drift"

    @property
    def retrain_schedule(self) -> str:
        return f"{self.name}-retrain"

    @property
    def experiment_name(self) -> str:
        return self.experiment or f"monitor-{self.name}"

    def to_params(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("name")
        return {"monitor": SPEC_VERSION, **data}

    @classmethod
    def from_schedule(cls, schedule: s.Schedule) -> MonitorSpec:
        if schedule.pipeline != MONITOR_TARGET:
            raise NotFound(
                f"Schedule {schedule.name!r} runs a pipeline, not a monitor: see "
                "`heron schedules show`."
            )
        params = {k: v for k, v in schedule.params.items() if k != "monitor"}
        known = set(cls.__dataclass_fields__) - {"name"}
        return cls(name=schedule.name, **{k: v for k, v in params.items() if k in known})


@dataclass
class Monitor:
    """A stored monitor: its definition and the schedule that runs it."""

    spec: MonitorSpec
    schedule: s.Schedule

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **{k: v for k, v in self.spec.to_params().items() if k != "monitor"},
            "cron": self.schedule.cron,
            "timezone": self.schedule.timezone,
            "paused": self.schedule.paused,
            "next_due_at": self.schedule.next_due_at,
            "schedule_id": self.schedule.id,
        }


def parse_window(value: Any) -> float:
    """Seconds from ``3600``, ``"90s"``, ``"30m"``, ``"1h"``, ``"2d"``, ``"1w"`` or a
    timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise InvalidArgument(
            f"A window is a duration such as 30m, 1h, 2d (or seconds), not {value!r}."
        )
    if seconds <= 0:
        raise InvalidArgument(f"A window must be longer than zero, not {value!r}.")
    return seconds


def _check_spec(spec: MonitorSpec) -> None:
    from heron.core import validation
    from heron.models.uris import FORMS

    validation.check_artifact_name(spec.name, "Monitor")
    if "/" in spec.name:
        raise InvalidArgument(f"A monitor name has no '/': {spec.name!r}.")
    if not isinstance(spec.model, str) or not spec.model.strip():
        raise InvalidArgument(f"A monitor watches a model URI: {FORMS}.")
    spec.model = spec.model.strip()
    if not spec.model.startswith(("models:/", "runs:/")) and not re.fullmatch(
        r"[0-9a-f]{32}", spec.model
    ):
        raise InvalidArgument(f"{spec.model!r} is not a model URI: use {FORMS}.")
    spec.window = parse_window(spec.window)
    if not 0 < spec.drift_share <= 1:
        raise InvalidArgument(f"drift_share is a share in (0, 1], not {spec.drift_share!r}.")
    if not isinstance(spec.min_rows, int) or isinstance(spec.min_rows, bool) or spec.min_rows < 1:
        raise InvalidArgument(f"min_rows must be a positive integer, not {spec.min_rows!r}.")
    for column, threshold in spec.thresholds.items():
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise InvalidArgument(f"The threshold of {column!r} must be a number: {threshold!r}.")
    if spec.webhook is not None and not re.match(r"^https?://[^\s/]+", spec.webhook):
        raise InvalidArgument(f"A webhook is an http:// or https:// URL, not {spec.webhook!r}.")


def _store(store: Any = None) -> Any:
    from heron.scheduling.definitions import schedule_store

    return schedule_store(store)


def create_monitor(
    name: str,
    model: str,
    *,
    window: Any = DEFAULT_WINDOW,
    cron: str = DEFAULT_CRON,
    timezone: str = "UTC",
    reference: str | None = None,
    columns: list[str] | None = None,
    thresholds: dict[str, float] | None = None,
    methods: dict[str, str] | None = None,
    drift_share: float = 0.5,
    min_rows: int = 30,
    retrain: str | None = None,
    retrain_params: dict[str, Any] | None = None,
    webhook: str | None = None,
    inference_log_uri: str | None = None,
    experiment: str | None = None,
    paused: bool | None = None,
    store: Any = None,
) -> Monitor:
    """Create the monitor ``name`` of ``model``, or update the one of that name.

    An update replaces the whole definition (an option not given again takes its default:
    leave out ``retrain`` and the monitor no longer retrains), but keeps the monitor paused or
    active unless ``paused`` is given.

    Every ``cron`` interval it compares the last ``window`` of logged inferences with the
    model's reference data; on drift it starts ``retrain`` (a pipeline reference, through the
    schedule ``<name>-retrain``) and POSTs to ``webhook``. Its evaluations are runs of kind
    ``monitor`` in the experiment ``monitor-<name>``.

    >>> heron.monitoring.create_monitor("wine-drift", "models:/wine@champion", window="1h",
    ...     retrain="examples/wine_pipeline.py:training")  # doctest: +SKIP
    """
    from heron.scheduling import definitions

    spec = MonitorSpec(
        name=name,
        model=model,
        window=window,
        reference=reference,
        columns=list(columns) if columns else None,
        thresholds=dict(thresholds or {}),
        methods=dict(methods or {}),
        drift_share=drift_share,
        min_rows=min_rows,
        retrain=None,
        webhook=webhook,
        inference_log_uri=inference_log_uri,
        experiment=experiment,
    )
    _check_spec(spec)
    store = _store(store)
    if spec.reference:
        from heron.monitoring.reference import explicit_reference

        explicit_reference(store, spec.reference)  # named wrong, or not a table: say so now
    retrain_values = None
    if retrain:
        retrain_values = definitions.check_definition(
            name=spec.retrain_schedule,
            pipeline=retrain,
            params=retrain_params or {},
            cron=None,
            timezone="UTC",
            on_artifacts=[spec.alert_artifact],
            catchup="latest",
            max_active_runs=1,
            max_lateness=None,
        )
        spec.retrain = retrain_values["pipeline"]
    values = {
        "name": name,
        "pipeline": MONITOR_TARGET,
        "params": spec.to_params(),
        "cron": cron.strip() if isinstance(cron, str) else cron,
        "timezone": timezone,
        "on_artifacts": None,
        "catchup": "latest",
        "max_active_runs": 1,
        "max_lateness": None,
    }
    if not values["cron"]:
        raise InvalidArgument("A monitor runs on a cron schedule: give cron= (e.g. '0 * * * *').")
    s.check_schedule_values(values, partial=True)
    try:
        current = store.get_schedule(name)
    except NotFound:
        current = None
    if current is not None and current.pipeline != MONITOR_TARGET:
        raise InvalidArgument(
            f"{name!r} is a schedule of the pipeline {current.pipeline}: name the monitor "
            "otherwise."
        )
    if paused is None:
        paused = current.paused if current is not None else False
    schedule = (
        definitions.create(store, values, paused=paused)
        if current is None
        else definitions.change(store, current, {**values, "paused": paused})
    )
    _sync_retrain(store, spec, retrain_values, paused)
    return Monitor(spec, schedule)


def _sync_retrain(
    store: Any, spec: MonitorSpec, values: dict[str, Any] | None, paused: bool
) -> None:
    from heron.scheduling import definitions

    try:
        current = store.get_schedule(spec.retrain_schedule)
    except NotFound:
        current = None
    if values is None:
        if current is not None and current.on_artifacts == [spec.alert_artifact]:
            store.delete_schedule(current.id)  # the monitor no longer retrains
        return
    if current is None:
        definitions.create(store, values, paused=paused)
    else:
        definitions.change(store, current, {**values, "paused": paused})


def get_monitor(name: str, store: Any = None) -> Monitor:
    """The monitor ``name``; :class:`NotFound` (listing the known ones) otherwise."""
    store = _store(store)
    try:
        schedule = store.get_schedule(name)
    except NotFound:
        schedule = None
    if schedule is None or schedule.pipeline != MONITOR_TARGET:
        known = ", ".join(m.name for m in list_monitors(store)) or "none yet"
        raise NotFound(
            f"No monitor named {name!r} (monitors: {known}). Create one with "
            "`heron monitor create NAME MODEL_URI`."
        )
    return Monitor(MonitorSpec.from_schedule(schedule), schedule)


def list_monitors(store: Any = None) -> list[Monitor]:
    """Every monitor, by name."""
    store = _store(store)
    found = [
        Monitor(MonitorSpec.from_schedule(sch), sch)
        for sch in store.list_schedules()
        if sch.pipeline == MONITOR_TARGET
    ]
    return sorted(found, key=lambda m: m.name)


def delete_monitor(name: str, store: Any = None) -> None:
    """Delete a monitor and its retraining schedule (its evaluations stay, as runs)."""
    store = _store(store)
    monitor = get_monitor(name, store)
    store.delete_schedule(monitor.schedule.id)
    _sync_retrain(store, monitor.spec, None, False)


def set_monitor_paused(name: str, paused: bool, store: Any = None) -> Monitor:
    """Pause or resume a monitor's schedule, and its retraining schedule with it."""
    from heron.scheduling.definitions import set_paused

    store = _store(store)
    monitor = get_monitor(name, store)
    schedule = set_paused(name, paused, store)
    try:
        retrain = store.get_schedule(monitor.spec.retrain_schedule)
    except NotFound:
        retrain = None
    if retrain is not None and retrain.on_artifacts == [monitor.spec.alert_artifact]:
        set_paused(retrain.name, paused, store)
    return Monitor(MonitorSpec.from_schedule(schedule), schedule)
