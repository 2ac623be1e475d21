"""Where an autologged fit logs, and the writes it makes there.

A fit logs into the active run of its thread (a step's run inside a pipeline step); with no
active run it starts one named after the estimator and ends it when the fit returns
(``failed`` with the error if the fit raises). Nothing here may break the user's ``fit``:
every logging step runs through :func:`attempt`, which turns an error into a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from heron.autologging._config import AutologConfig
from heron.core import validation
from heron.core.entities import Metric
from heron.core.ids import now_ms
from heron.store.active_run import ActiveRun, own_current

T = TypeVar("T")

#: the tag naming the library whose fit was autologged (``sklearn``, ``xgboost``, …)
AUTOLOG_TAG = "heron.autolog"


def attempt(config: AutologConfig, what: str, action: Callable[[], T]) -> T | None:
    """``action()``, or ``None`` and a warning (never an error) when it fails."""
    try:
        if config.silent:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return action()
        return action()
    except Exception as e:
        config.warn("Autologging could not %s: %s: %s", what, type(e).__name__, e)
        return None


def fit_in_run(
    config: AutologConfig,
    run_name: str,
    fit: Callable[[], T],
    before: Callable[[RunWriter], None],
    after: Callable[[RunWriter, T], None],
) -> T:
    """``fit()`` inside the active run or a new one, with ``before`` and ``after`` logging
    around it. Errors of ``fit`` propagate unchanged; errors of logging become warnings."""
    from heron.tracking import fluent

    # The thread's own run, not the main thread's one other threads log to: parallel fits in
    # threads would otherwise mix their params in one run (docs/autolog.md).
    run = own_current()
    if run is not None and config.exclusive:
        return fit()
    started: ActiveRun | None = None
    if run is None:
        started = attempt(
            config,
            f"start a run for {run_name}",
            lambda: fluent.start_run(name=run_name, tags=config.extra_tags),
        )
        if started is None:
            return fit()
        run = started
    writer = RunWriter(run, config, own=started is not None)
    try:
        attempt(config, "log the params of " + run_name, lambda: before(writer))
        result = fit()
        attempt(config, "log the results of " + run_name, lambda: after(writer, result))
    except BaseException as e:  # the fit's error, or Ctrl-C while logging
        if started is not None:
            attempt(config, f"end run {started.id}", lambda e=e: started.end_with(e))
        raise
    if started is not None:
        attempt(config, f"end run {started.id}", lambda: started.end_with(None))
    return result


def param_text(value: Any) -> str:
    """A param value as stored: ``str(value)``, cut to the longest value a param may have."""
    text = validation.storable_text(value if isinstance(value, str) else str(value)) or ""
    limit = validation.MAX_PARAM_VALUE_LENGTH
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checked_params(params: Mapping[str, Any]) -> dict[str, str]:
    """``params`` as stored (see :func:`param_text`), leaving out keys no param may have
    (not a string, empty, or too long)."""
    return {
        validation.check_key(k, "Param"): param_text(v)
        for k, v in params.items()
        if isinstance(k, str) and 0 < len(k) <= validation.MAX_KEY_LENGTH
    }


def metric_number(value: Any) -> float | None:
    """``value`` as a metric value, or ``None`` when it is no number (a string, an array)."""
    if isinstance(value, bool | str | bytes):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


class RunWriter:
    """Writes of one autologged fit to ``run`` (through its log buffer, as
    ``heron.log_params`` would)."""

    def __init__(self, run: ActiveRun, config: AutologConfig, own: bool) -> None:
        self.run = run
        self.config = config
        self.own = own  # started by autologging (so it has no params but ours)

    def tags(self, tags: Mapping[str, Any]) -> None:
        self.run.buffer.add_tags(self.run.id, validation.check_tags(dict(tags)))

    def params(self, params: Mapping[str, Any]) -> None:
        """Log ``params``, leaving out keys the run already has with another value (a
        param is written once) with a warning that says how to keep both."""
        checked = checked_params(params)
        known = dict(self.run.params)
        if not self.own:
            # a user's or a step's run may have params logged outside this process's view
            known = {**self.run.info.params, **known}
        clashes = sorted(k for k, v in checked.items() if k in known and known[k] != v)
        if clashes:
            self.config.warn(
                "Run %s already has param(s) %s with other values; autologging keeps the "
                "first values. Fit each model in its own run (heron.start_run(nested=True)) "
                "to keep both.",
                self.run.id,
                ", ".join(clashes),
            )
        new = {k: v for k, v in checked.items() if k not in known}
        if new:
            self.run.params.update(new)
            self.run.buffer.add_params(self.run.id, new)

    def metrics(self, metrics: Mapping[str, Any], step: int = 0) -> None:
        """Log the numbers among ``metrics`` at ``step``."""
        now = now_ms()
        rows = []
        for key, value in metrics.items():
            number = metric_number(value)
            if number is not None:
                rows.append((self.run.id, validation.check_key(key, "Metric"), number, step, now))
        if rows:
            self.run.buffer.add_metrics(rows)

    def history(self, key: str, values: Iterable[Any]) -> None:
        """Log ``values`` as the points of metric ``key`` at steps 0, 1, 2, …"""
        key = validation.check_key(key, "Metric")
        now = now_ms()
        rows = [
            (self.run.id, key, number, step, now)
            for step, value in enumerate(values)
            if (number := metric_number(value)) is not None
        ]
        if rows:
            self.run.buffer.add_metrics(rows)

    def text(self, text: str, artifact_file: str) -> None:
        from heron.tracking import run_artifacts

        run_artifacts.log_text(self.run.store, self.run.id, text, artifact_file)

    def model(self, model: Any, name: str, rows: Any, register: bool = True) -> Any:
        """Store ``model`` as artifact ``name`` of the run, with the signature inferred from
        ``rows`` (the first training rows) and, with ``log_input_examples``, those rows."""
        from heron.models.saving import save_model

        signature = None
        if rows is not None:
            signature = attempt(
                self.config, f"infer the signature of {name}", lambda: _signature(model, rows)
            )

        def save(example: Any) -> Any:
            return save_model(
                self.run.store,
                self.run.id,
                model,
                name,
                registered_model_name=self.config.registered_model_name if register else None,
                input_example=example,
                signature=signature,
            )

        if rows is None or not self.config.log_input_examples:
            return save(None)
        try:
            return save(rows)
        except Exception as e:
            self.config.warn(
                "Could not log %s with an input example (%s: %s); logging it without one.",
                name,
                type(e).__name__,
                e,
            )
            return save(None)

    def child_run(
        self,
        name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        tags: Mapping[str, Any],
    ) -> str:
        """Record a completed child run of this run with ``params``, ``metrics`` and
        ``tags`` (two writes: the run, then its data and status)."""
        from heron.tracking.run_context import run_facts

        store = self.run.store
        child = store.create_run(
            self.run.experiment_id,
            name=validation.storable_text(name, validation.MAX_NAME_LENGTH),
            parent_id=self.run.id,
            tags=validation.check_tags({**self.config.extra_tags, **tags}),
            **run_facts(),
        )
        now = now_ms()
        points = [
            Metric(validation.check_key(k, "Metric"), number, 0, now)
            for k, v in metrics.items()
            if (number := metric_number(v)) is not None
        ]
        store.log_batch(child.id, points, checked_params(params), status="completed")
        return child.id


def _signature(model: Any, example: Any) -> Any:
    from heron.models.signature import Signature, infer_signature

    inputs = infer_signature(example).inputs
    outputs = None
    predict = getattr(model, "predict", None)
    if callable(predict):
        try:
            outputs = infer_signature(predict(example)).inputs
        except Exception:  # the output's signature is a nicety
            outputs = None
    return Signature(inputs, outputs)
