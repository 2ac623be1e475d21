"""Parameter searches (``GridSearchCV``, ``RandomizedSearchCV``, the halving searches).

The search's run gets the search's params, ``best_<param>`` for each best param, the metric
``best_cv_score``, the training metrics of the refitted best estimator, ``cv_results.csv``,
and the models ``model`` (the search) and ``best_estimator``. Each of the best
``max_tuning_runs`` candidates (by rank; ``None``: all) becomes a completed child run with
the seed estimator's params updated by the candidate's, and as metrics the numeric columns
of ``cv_results_`` other than per-split scores (``mean_test_score``, ``std_test_score``,
``rank_test_score``, ``mean_fit_time``, …).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from heron.autologging._runs import RunWriter, attempt, metric_number


def is_search(estimator: Any) -> bool:
    """Whether ``estimator`` is a scikit-learn parameter search."""
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:  # a future scikit-learn that moved it
        from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

        return isinstance(estimator, GridSearchCV | RandomizedSearchCV)
    return isinstance(estimator, BaseSearchCV)


def best_results(search: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``best_<param>`` params and the ``best_cv_score`` metric of a fitted search."""
    params = {f"best_{k}": v for k, v in (getattr(search, "best_params_", None) or {}).items()}
    score = getattr(search, "best_score_", None)
    return params, ({"best_cv_score": score} if metric_number(score) is not None else {})


def log_candidates(writer: RunWriter, search: Any) -> list[str]:
    """One child run per best-ranked candidate (see the module doc); their ids."""
    results = search.cv_results_
    rank_column = _rank_column(search, results)
    candidates = list(range(len(results["params"])))
    if rank_column is not None:
        ranks = results[rank_column]
        candidates.sort(key=lambda i: (ranks[i], i))
    limit = writer.config.max_tuning_runs
    chosen = candidates if limit is None else candidates[:limit]
    seed = search.estimator
    base = seed.get_params(deep=not is_search(seed))
    tags = {
        "estimator_name": type(seed).__name__,
        "estimator_class": f"{type(seed).__module__}.{type(seed).__qualname__}",
    }
    numeric = [
        key
        for key in results
        if not key.startswith(("param", "split")) and _numeric_column(results[key])
    ]
    ids = []
    for i in chosen:
        child = attempt(
            writer.config,
            f"log candidate {i} of {type(search).__name__}",
            lambda i=i: writer.child_run(
                f"{type(seed).__name__}-candidate-{i}",
                {**base, **results["params"][i]},
                {key: results[key][i] for key in numeric},
                {**tags, "candidate_index": i},
            ),
        )
        if child is not None:
            ids.append(child)
    return ids


def results_csv(search: Any) -> str:
    """``cv_results_`` as CSV: a header row, then one row per candidate."""
    results = search.cv_results_
    columns = list(results)
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    table.writerow(columns)
    for i in range(len(results["params"])):
        table.writerow([_cell(results[c], i) for c in columns])
    return out.getvalue()


def _rank_column(search: Any, results: dict[str, Any]) -> str | None:
    refit = getattr(search, "refit", None)
    preferred = [f"rank_test_{refit}"] if isinstance(refit, str) else []
    for name in [*preferred, "rank_test_score"]:
        if name in results:
            return name
    return next((name for name in results if name.startswith("rank_test_")), None)


def _numeric_column(values: Any) -> bool:
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    return kind in ("i", "u", "f")


def _cell(values: Any, i: int) -> Any:
    mask = getattr(values, "mask", None)
    if mask is not None and getattr(mask, "ndim", 0) and mask[i]:
        return ""
    value = values[i]
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
