"""`drift(reference, current)`: per-column drift and data-quality figures, and whether the
data set as a whole drifted.

Each column of the reference is compared with the same column of the current data, in a
thread each (NumPy's sorts and SciPy's tests release the GIL). A column is numeric when its
values are numbers with more than 5 distinct values in the reference, else categorical; the
method follows the reference's size (:mod:`heron.monitoring.statistics`). The data set drifted
when the share of drifted columns is at least ``drift_share`` (0.5). Missing values (None,
NaN) are left out of the statistics and reported as shares. A column that cannot be compared
is reported as not evaluated, with the reason, and never counts as drifted: missing from the
current data, of another type there, or without values on one side. A current window with
fewer than ``min_rows`` rows is not evaluated at all (too few rows to say anything), so that a
monitor never alerts on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from heron.core.errors import InvalidArgument
from heron.monitoring import statistics as st

#: reference rows up to which the tests (KS, chi-squared, Z) are used, distances above
SMALL_REFERENCE = 1000
#: numeric columns with at most this many distinct reference values are categorical
MAX_CATEGORICAL_NUMBERS = 5
DRIFT_SHARE = 0.5
MIN_ROWS = 30
#: current rows from which the columns are compared in parallel threads
PARALLEL_ROWS = 100_000


@dataclass(frozen=True)
class ColumnDrift:
    """One column's comparison. ``statistic`` is a p-value for the tests (``ks``,
    ``chisquare``, ``z``: drifted below ``threshold``) and a distance for the others
    (``wasserstein``, ``jensenshannon``, ``psi``: drifted at or above it). ``psi`` is reported
    beside every method. ``evaluated`` is False (with ``reason``) for a column that could not
    be compared; its ``drifted`` is then False."""

    name: str
    kind: str  # "numeric" | "categorical" | "unknown"
    method: str | None
    statistic: float | None
    threshold: float | None
    drifted: bool
    psi: float | None = None
    p_value: float | None = None
    evaluated: bool = True
    reason: str | None = None
    n_reference: int = 0
    n_current: int = 0
    missing_share_reference: float = 0.0
    missing_share_current: float = 0.0
    #: numeric: the share of current values outside the reference's [min, max]
    out_of_range_share: float | None = None
    #: categorical: the share of current values of categories the reference never had
    unseen_share: float | None = None
    unseen_categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    """The comparison of a current data set with its reference.

    ``drifted`` is True when at least ``drift_share`` of the evaluated columns drifted;
    ``columns`` holds every column by name (including those not evaluated), ``prediction``
    the model output's column when one was named (it does not count towards the share).
    """

    drifted: bool
    share_drifted: float
    drift_share: float
    columns: dict[str, ColumnDrift]
    n_reference: int
    n_current: int
    evaluated: bool = True
    reason: str | None = None
    prediction: ColumnDrift | None = None
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.drifted]

    @property
    def not_evaluated(self) -> dict[str, str]:
        """Columns that could not be compared, with the reason."""
        return {n: c.reason or "" for n, c in self.columns.items() if not c.evaluated}

    def metrics(self) -> dict[str, float]:
        """Flat figures to log on a run: ``drift.share_drifted``, ``drift.<column>.statistic``,
        ``….drifted`` (0/1), ``….psi``, ``….p_value`` and the quality shares."""
        out: dict[str, float] = {
            "drift.drifted": float(self.drifted),
            "drift.share_drifted": self.share_drifted,
            "drift.n_drifted": float(len(self.drifted_columns)),
            "drift.n_current": float(self.n_current),
            "drift.n_reference": float(self.n_reference),
        }
        every = list(self.columns.values()) + ([self.prediction] if self.prediction else [])
        for column in every:
            if not column.evaluated:
                continue
            prefix = f"drift.{column.name}."
            out[prefix + "drifted"] = float(column.drifted)
            out[prefix + "missing_share"] = column.missing_share_current
            for key in ("statistic", "psi", "p_value", "out_of_range_share", "unseen_share"):
                value = getattr(column, key)
                if value is not None:
                    out[prefix + key] = float(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drifted_columns"] = self.drifted_columns
        return data

    def __repr__(self) -> str:
        state = (
            f"drifted ({len(self.drifted_columns)} of {self._evaluated_count()} columns)"
            if self.drifted
            else f"no drift ({len(self.drifted_columns)} of {self._evaluated_count()} columns)"
        )
        if not self.evaluated:
            state = f"not evaluated: {self.reason}"
        return f"<DriftReport {state}, {self.n_current:,} rows against {self.n_reference:,}>"

    def _evaluated_count(self) -> int:
        return sum(1 for column in self.columns.values() if column.evaluated)


def drift(
    reference: Any,
    current: Any,
    columns: Sequence[str] | None = None,
    *,
    prediction: str | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    categorical: Sequence[str] | None = None,
    drift_share: float = DRIFT_SHARE,
    min_rows: int = MIN_ROWS,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    Both may be pandas DataFrames, pyarrow Tables, 2-D NumPy arrays (columns ``"0"``,
    ``"1"``, …) or mappings of column name to a 1-D sequence. ``columns`` limits the
    comparison (each must be in the reference); by default every column of the reference is
    compared, and current columns the reference lacks are listed in ``ignored_columns``.
    ``prediction`` names the model output's column, reported as ``report.prediction``.
    ``methods`` and ``thresholds`` override the defaults per column (methods: ``ks``,
    ``wasserstein``, ``chisquare``, ``z``, ``jensenshannon``, ``psi``); ``categorical`` forces
    columns of numbers to be treated as categories.
    """
    _check_share(drift_share)
    if not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1:
        raise InvalidArgument(f"min_rows must be a positive integer, not {min_rows!r}.")
    ref, n_ref = as_columns(reference, "reference")
    cur, n_cur = as_columns(current, "current")
    if n_ref == 0:
        raise InvalidArgument(
            "The reference has no rows: drift is measured against the data the model was "
            "trained on; pass a reference with rows."
        )
    names = _chosen_columns(ref, columns, prediction)
    methods = dict(methods or {})
    thresholds = dict(thresholds or {})
    forced = set(categorical or ())
    _check_overrides(names + ([prediction] if prediction else []), methods, thresholds, forced)
    ignored = [name for name in cur if name not in ref and name != prediction]
    if n_cur < min_rows:
        reason = (
            f"the current data has {n_cur:,} row{'s' if n_cur != 1 else ''}; at least "
            f"{min_rows:,} are needed to say whether it drifted"
        )
        skipped = {name: _not_evaluated(name, reason, n_ref, n_cur) for name in names}
        return DriftReport(
            drifted=False,
            share_drifted=0.0,
            drift_share=drift_share,
            columns=skipped,
            n_reference=n_ref,
            n_current=n_cur,
            evaluated=False,
            reason=reason,
            prediction=(_not_evaluated(prediction, reason, n_ref, n_cur) if prediction else None),
            ignored_columns=ignored,
        )

    def compare(name: str) -> ColumnDrift:
        return compare_column(
            name,
            ref[name],
            cur.get(name),
            n_ref,
            n_cur,
            method=methods.get(name),
            threshold=thresholds.get(name),
            categorical=name in forced,
        )

    every = names + ([prediction] if prediction else [])
    # a thread per column pays off on big tables only (the GIL is held between the calls)
    workers = min(len(every), os.cpu_count() or 1) if n_cur >= PARALLEL_ROWS else 1
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="heron-drift") as pool:
            results = list(pool.map(compare, every))
    else:
        results = [compare(name) for name in every]
    by_name = dict(zip(every, results, strict=True))
    predicted = by_name.pop(prediction) if prediction else None
    evaluated = [column for column in by_name.values() if column.evaluated]
    share = sum(column.drifted for column in evaluated) / len(evaluated) if evaluated else 0.0
    reason = None if evaluated else "no column could be compared (see each column's reason)"
    return DriftReport(
        drifted=bool(evaluated) and share >= drift_share,
        share_drifted=share,
        drift_share=drift_share,
        columns=by_name,
        n_reference=n_ref,
        n_current=n_cur,
        evaluated=bool(evaluated),
        reason=reason,
        prediction=predicted,
        ignored_columns=ignored,
    )


# --- one column ----------------------------------------------------------------------------
def compare_column(
    name: str,
    reference: np.ndarray,
    current: np.ndarray | None,
    n_ref: int,
    n_cur: int,
    *,
    method: str | None = None,
    threshold: float | None = None,
    categorical: bool = False,
) -> ColumnDrift:
    if current is None:
        return _not_evaluated(name, "missing from the current data", n_ref, n_cur)
    if _is_number(reference) and not _is_bool(reference):
        cur_values = numbers_or_none(current)
        if cur_values is None:
            return _not_evaluated(
                name,
                f"numbers in the reference, {_kind_of(current)} in the current data",
                n_ref,
                n_cur,
            )
        ref_values = _sorted_numbers(reference)
        distinct = int(np.count_nonzero(np.diff(ref_values))) + 1 if len(ref_values) else 0
        numeric = not categorical and (
            distinct > MAX_CATEGORICAL_NUMBERS or method in {"ks", "wasserstein"}
        )
        if numeric:
            return _numeric(name, ref_values, np.sort(cur_values), n_ref, n_cur, method, threshold)
    elif _is_number(current) and not _is_bool(current) and numbers_or_none(reference) is None:
        return _not_evaluated(
            name,
            f"{_kind_of(reference)} in the reference, numbers in the current data",
            n_ref,
            n_cur,
        )
    return _categorical(name, reference, current, n_ref, n_cur, method, threshold)


def _kind_of(values: np.ndarray) -> str:
    if _is_bool(values):
        return "booleans"
    if _is_number(values):
        return "numbers"
    return "text" if values.dtype.kind in "OUS" else f"{values.dtype} values"


def _numeric(
    name: str,
    ref: np.ndarray,
    cur: np.ndarray,
    n_ref: int,
    n_cur: int,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    missing = _missing_shares(n_ref - len(ref), n_ref, n_cur - len(cur), n_cur)
    if len(ref) == 0 or len(cur) == 0:
        side = "reference" if len(ref) == 0 else "current data"
        return _not_evaluated(
            name, f"no values in the {side} (all missing)", n_ref, n_cur, **missing
        )
    if method is None:
        method = "ks" if len(ref) <= SMALL_REFERENCE else "wasserstein"
    if method not in st.NUMERIC_METHODS:
        raise InvalidArgument(
            f"Column {name!r} is numeric: use one of {sorted(st.NUMERIC_METHODS)}, not {method!r}."
        )
    statistic = st.numeric_statistic(method, ref, cur)
    psi = statistic if method == "psi" else st.psi_numeric(ref, cur)
    below = np.searchsorted(cur, ref[0], side="left")
    above = len(cur) - np.searchsorted(cur, ref[-1], side="right")
    return _judged(
        name,
        "numeric",
        method,
        statistic,
        psi,
        threshold,
        n_reference=len(ref),
        n_current=len(cur),
        out_of_range_share=float((below + above) / len(cur)),
        **missing,
    )


def _judged(
    name: str,
    kind: str,
    method: str,
    statistic: float,
    psi: float,
    threshold: float | None,
    **figures: Any,
) -> ColumnDrift:
    """A compared column: drifted or not by ``method``'s rule at ``threshold`` (or its
    default)."""
    limit = st.default_threshold(method) if threshold is None else threshold
    return ColumnDrift(
        name=name,
        kind=kind,
        method=method,
        statistic=st.finite(statistic),
        threshold=limit,
        drifted=st.is_drifted(method, statistic, limit),
        psi=st.finite(psi),
        p_value=st.finite(statistic) if method in st.TESTS else None,
        **figures,
    )


def _categorical(
    name: str,
    reference: np.ndarray,
    current: np.ndarray,
    n_ref: int,
    n_cur: int,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    ref_counts = value_counts(reference)
    cur_counts = value_counts(current)
    n_ref_values, n_cur_values = sum(ref_counts.values()), sum(cur_counts.values())
    missing = _missing_shares(n_ref - n_ref_values, n_ref, n_cur - n_cur_values, n_cur)
    if n_ref_values == 0 or n_cur_values == 0:
        side = "reference" if n_ref_values == 0 else "current data"
        return _not_evaluated(
            name, f"no values in the {side} (all missing)", n_ref, n_cur, **missing
        )
    categories = list(ref_counts) + [k for k in cur_counts if k not in ref_counts]
    ref_array = np.array([ref_counts.get(k, 0) for k in categories], dtype=np.float64)
    cur_array = np.array([cur_counts.get(k, 0) for k in categories], dtype=np.float64)
    if method is None:
        if n_ref_values > SMALL_REFERENCE:
            method = "jensenshannon"
        else:
            method = "z" if len(categories) == 2 else "chisquare"
    if method not in st.CATEGORICAL_METHODS:
        raise InvalidArgument(
            f"Column {name!r} is categorical: use one of {sorted(st.CATEGORICAL_METHODS)}, "
            f"not {method!r}."
        )
    if method == "z" and len(categories) != 2:
        raise InvalidArgument(
            f"Column {name!r} has {len(categories)} categories: the z test compares two; use "
            "chisquare or jensenshannon."
        )
    statistic = st.categorical_statistic(method, ref_array, cur_array)
    psi = statistic if method == "psi" else st.psi_of_counts(ref_array, cur_array)
    unseen = [k for k in cur_counts if k not in ref_counts]
    return _judged(
        name,
        "categorical",
        method,
        statistic,
        psi,
        threshold,
        n_reference=n_ref_values,
        n_current=n_cur_values,
        unseen_share=sum(cur_counts[k] for k in unseen) / n_cur_values,
        unseen_categories=[str(k) for k in unseen[:20]],
        **missing,
    )


def _not_evaluated(name: str, reason: str, n_ref: int, n_cur: int, **missing: float) -> ColumnDrift:
    return ColumnDrift(
        name=name,
        kind="unknown",
        method=None,
        statistic=None,
        threshold=None,
        drifted=False,
        evaluated=False,
        reason=reason,
        n_reference=n_ref,
        n_current=n_cur,
        **missing,
    )


def _missing_shares(ref_missing: int, n_ref: int, cur_missing: int, n_cur: int) -> dict[str, float]:
    return {
        "missing_share_reference": ref_missing / n_ref if n_ref else 0.0,
        "missing_share_current": cur_missing / n_cur if n_cur else 0.0,
    }


# --- values ---------------------------------------------------------------------------------
def _is_number(values: np.ndarray) -> bool:
    return values.dtype.kind in "iufb"


def _is_bool(values: np.ndarray) -> bool:
    return values.dtype.kind == "b"


def _sorted_numbers(values: np.ndarray) -> np.ndarray:
    numbers = values.astype(np.float64, copy=False)
    numbers = np.sort(numbers)
    if len(numbers) and np.isnan(numbers[-1]):  # NaNs sort last
        numbers = numbers[: np.searchsorted(numbers, np.nan, side="left")]
    return numbers


def numbers_or_none(values: np.ndarray) -> np.ndarray | None:
    """The values as floats without NaNs, or ``None`` if they are not numbers (an object
    column of numbers and None counts as numbers)."""
    if values.dtype == object:
        try:
            values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            return None
    elif not _is_number(values):
        return None
    numbers = values.astype(np.float64, copy=False)
    return numbers[~np.isnan(numbers)]


def value_counts(values: np.ndarray) -> dict[Any, int]:
    """Counts per category, missing values left out, most frequent first."""
    import pandas as pd

    # object, not inferred: pandas would convert text to Arrow strings first (twice the time)
    dtype = object if values.dtype == object else None
    counts = pd.Series(values, dtype=dtype, copy=False).value_counts(dropna=True)
    return {_plain(k): int(v) for k, v in counts.items()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- inputs ---------------------------------------------------------------------------------
def as_columns(data: Any, what: str) -> tuple[dict[str, np.ndarray], int]:
    """Column name -> 1-D array of a DataFrame, Table, 2-D array or mapping; and the rows."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with the monitoring extra
        pd = None
    if pd is not None and isinstance(data, pd.Series):
        data = data.to_frame()
    if pd is not None and isinstance(data, pd.DataFrame):
        columns = {str(name): _column_array(data[name]) for name in data.columns}
        return columns, len(data)
    if type(data).__module__.startswith("pyarrow") and hasattr(data, "column_names"):
        columns = {
            str(name): _column_array(data.column(name).to_pandas()) for name in data.column_names
        }
        return columns, data.num_rows
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            return {"0": data}, len(data)
        if data.ndim != 2:
            raise InvalidArgument(
                f"The {what} is a {data.ndim}-D array: pass a 2-D array (rows by columns), a "
                "DataFrame or a mapping of column name to values."
            )
        return {str(i): data[:, i] for i in range(data.shape[1])}, data.shape[0]
    if isinstance(data, Mapping):
        columns = {str(name): np.asarray(values) for name, values in data.items()}
        flat = [name for name, values in columns.items() if values.ndim != 1]
        if flat:
            raise InvalidArgument(
                f"Cannot read the {what} as a table: its value {flat[0]!r} is not a list of "
                "values (a mapping must give each column name its values, one per row)."
            )
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise InvalidArgument(
                f"The columns of the {what} have different lengths ({sorted(lengths)}): "
                "every column needs one value per row."
            )
        return columns, lengths.pop() if lengths else 0
    raise InvalidArgument(
        f"Cannot read the {what} as a table: got {type(data).__name__}. Pass a pandas "
        "DataFrame, a pyarrow Table, a 2-D NumPy array or a mapping of column name to values."
    )


def _column_array(series: Any) -> np.ndarray:
    """A pandas column as NumPy: numbers (nullable ones with NaN for missing), else objects."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return series.astype(object).to_numpy()
    if pd.api.types.is_bool_dtype(dtype) and not series.hasnans:
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy(dtype=object, na_value=None)


def _chosen_columns(
    ref: dict[str, np.ndarray], columns: Sequence[str] | None, prediction: str | None
) -> list[str]:
    if prediction is not None and prediction not in ref:
        raise InvalidArgument(
            f"The prediction column {prediction!r} is not in the reference (its columns: "
            f"{', '.join(sorted(ref)) or 'none'})."
        )
    if columns is None:
        return [name for name in ref if name != prediction]
    if isinstance(columns, str):
        raise InvalidArgument(f"columns must be a list of names, not the text {columns!r}.")
    unknown = [name for name in columns if name not in ref]
    if unknown:
        raise InvalidArgument(
            f"Column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"{'are' if len(unknown) > 1 else 'is'} not in the reference (its columns: "
            f"{', '.join(sorted(ref))})."
        )
    return [name for name in dict.fromkeys(columns) if name != prediction]


def _check_overrides(
    names: list[str], methods: dict[str, str], thresholds: dict[str, float], forced: set[str]
) -> None:
    for label, keys in (("methods", methods), ("thresholds", thresholds), ("categorical", forced)):
        unknown = [key for key in keys if key not in names]
        if unknown:
            raise InvalidArgument(
                f"{label} names column{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))} that {'are' if len(unknown) > 1 else 'is'} "
                "not compared."
            )
    for name, method in methods.items():
        if method not in st.METHODS:
            raise InvalidArgument(
                f"Unknown drift method {method!r} for column {name!r}: use one of "
                f"{', '.join(sorted(st.METHODS))}."
            )
    for name, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InvalidArgument(
                f"The threshold of column {name!r} must be a positive number, not {value!r}."
            )


def _check_share(drift_share: float) -> None:
    if (
        isinstance(drift_share, bool)
        or not isinstance(drift_share, (int, float))
        or not 0 < drift_share <= 1
    ):
        raise InvalidArgument(
            f"drift_share must be a number in (0, 1], not {drift_share!r}: the share of "
            "columns that must drift for the data set to count as drifted."
        )


def report_from_dict(data: Mapping[str, Any]) -> DriftReport:
    """The :class:`DriftReport` that :meth:`DriftReport.to_dict` wrote (a stored report read
    back)."""
    fields = {k: v for k, v in data.items() if k in DriftReport.__dataclass_fields__}
    fields["columns"] = {n: ColumnDrift(**c) for n, c in (data.get("columns") or {}).items()}
    if data.get("prediction"):
        fields["prediction"] = ColumnDrift(**data["prediction"])
    return DriftReport(**fields)
