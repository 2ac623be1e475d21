"""``heron.autolog()``: log every scikit-learn fit (params, training metrics, the fitted
model) without changing the training code; ``heron.autolog(disable=True)`` stops it.

Nothing here imports scikit-learn until :func:`autolog` is called. The implementation lives
in :mod:`heron.autologging.sklearn`; ``docs/autolog.md`` lists what gets logged.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any

from heron.autologging._config import AutologConfig, current, logger, set_current

_lock = threading.Lock()


def autolog(
    disable: bool = False,
    *,
    log_models: bool = True,
    log_input_examples: bool = False,
    max_tuning_runs: int | None = 5,
    exclusive: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    silent: bool = False,
) -> None:
    """Log scikit-learn fits from now on (XGBoost's and LightGBM's scikit-learn wrappers
    too, when installed).

    Each ``fit`` (``fit_transform``, ``fit_predict``) of an estimator, a ``Pipeline`` or a
    search logs its params, tags ``estimator_name``/``estimator_class``, its ``training_*``
    metrics and the fitted model (artifact ``model``) into the active run (a step's run
    inside a pipeline step), or into a new run named after the estimator, which ends with
    the fit. Fits inside a fit (pipeline steps, search candidates) are not logged again;
    a search logs its best candidates as child runs. Autologging never breaks a ``fit``:
    what cannot be logged is a warning on the ``heron.autolog`` logger.

    - ``disable``: restore the original methods (the other options are then ignored).
    - ``log_models``: store the fitted model (``load_model("runs:/<run_id>/model")``).
    - ``log_input_examples``: keep the first 5 training rows with the model.
    - ``max_tuning_runs``: child runs for the best N candidates of a search; ``None``: all.
    - ``exclusive``: log nothing for fits inside a run that is already active.
    - ``registered_model_name``: register each logged model as a version of that name.
    - ``extra_tags``: tags for the runs autologging starts.
    - ``silent``: no warnings from autologging (they go to the debug level).

    Calling it again changes the options; calling it twice patches once.

    >>> import heron
    >>> heron.autolog()  # doctest: +SKIP
    >>> LogisticRegression().fit(X, y)  # doctest: +SKIP  (a new run "LogisticRegression")
    >>> heron.autolog(disable=True)  # doctest: +SKIP
    """
    _carry_to_workers()
    if disable:
        with _lock:
            set_current(None)
            if "heron.autologging.sklearn" in sys.modules:
                sys.modules["heron.autologging.sklearn"].unpatch_all()
        return
    config = AutologConfig.build(
        log_models=log_models,
        log_input_examples=log_input_examples,
        max_tuning_runs=max_tuning_runs,
        exclusive=exclusive,
        registered_model_name=registered_model_name,
        extra_tags=extra_tags,
        silent=silent,
    )
    try:
        import sklearn  # noqa: F401
    except ImportError:
        config.warn(
            "heron.autolog() found no scikit-learn, so there is nothing to log. Install it "
            "(pip install 'heron-ml[sklearn]') and call heron.autolog() again."
        )
        return
    from heron.autologging import sklearn as sklearn_autolog

    with _lock:
        patched, problems = sklearn_autolog.patch_all()
        set_current(config)
    for problem in problems:
        config.warn("Autologging skips a library that failed to import: %s", problem)
    logger.debug("autologging on: %d methods patched now", patched)


def _carry_to_workers() -> None:
    """Pipeline steps run in worker processes (``parallelism=N``) autolog as this process
    does: each step takes over the options in force when it is sent."""
    from heron.orchestrators.local import carry_to_workers

    carry_to_workers("autolog", _snapshot)


def _snapshot() -> Any:
    import functools

    return functools.partial(_apply_in_worker, current())


def _apply_in_worker(config: AutologConfig | None) -> None:
    if current() == config:
        return
    if config is None:
        autolog(disable=True)
        return
    from heron.autologging import sklearn as sklearn_autolog

    with _lock:
        sklearn_autolog.patch_all()
        set_current(config)


def is_enabled() -> bool:
    """Whether autologging is on."""
    return current() is not None


__all__ = ["AutologConfig", "autolog", "is_enabled"]
