"""Data-quality checks of a window of logged inferences against the model's signature.

The signature (stored with a logged model) says which input columns the model takes and of
which type. A window is checked for columns missing, of the wrong type, or entirely missing
values; the drift report adds values out of the training range and unseen categories.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from heron.monitoring.comparison import DriftReport

#: signature dtypes by the group of values they hold
_GROUPS = {
    "float64": "number",
    "float32": "number",
    "int64": "number",
    "int32": "number",
    "uint8": "number",
    "bool": "boolean",
    "str": "text",
    "object": "any",
    "datetime64[ns]": "datetime",
}


@dataclass(frozen=True)
class QualityIssue:
    """One finding: ``check`` is ``missing_column``, ``type_mismatch``, ``all_missing``,
    ``out_of_range``, ``unseen_categories`` or ``unexpected_column``; ``severity`` is
    ``error`` (the model cannot score such rows as trained) or ``warning``."""

    column: str
    check: str
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def arrow_group(data_type: Any) -> str:
    """The group (number, boolean, text, datetime, other) of an Arrow type."""
    import pyarrow as pa

    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        return "number"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "text"
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return "datetime"
    if pa.types.is_null(data_type):
        return "null"
    return "other"


def check_window(
    signature: Any, current: Any, report: DriftReport, *, inputs: list[str]
) -> list[QualityIssue]:
    """The issues of the Arrow table ``current`` (its input columns ``inputs``) against the
    model ``signature`` (``None``: no signature checks) and its drift ``report``."""
    issues: list[QualityIssue] = []
    if current.num_rows == 0:
        return issues
    specs = (
        signature.inputs if signature is not None and isinstance(signature.inputs, tuple) else ()
    )
    present = set(inputs)
    for spec in specs:
        if spec.name not in present:
            issues.append(
                QualityIssue(
                    spec.name,
                    "missing_column",
                    "error",
                    f"the model takes {spec.name!r} ({spec.dtype}); the logged rows have no "
                    "such column",
                )
            )
            continue
        expected = _GROUPS.get(spec.dtype, "any")
        found = arrow_group(current.schema.field(spec.name).type)
        if expected != "any" and found not in (expected, "null"):
            compared = report.columns.get(spec.name)
            read_as = (
                "; they read as numbers, so drift is computed on those"
                if compared is not None and compared.evaluated and compared.kind == "numeric"
                else ""
            )
            issues.append(
                QualityIssue(
                    spec.name,
                    "type_mismatch",
                    "error",
                    f"the model takes {spec.dtype} values; the logged rows hold "
                    f"{current.schema.field(spec.name).type}{read_as}",
                )
            )
    if specs:
        known = {spec.name for spec in specs}
        for name in inputs:
            if name not in known:
                issues.append(
                    QualityIssue(
                        name,
                        "unexpected_column",
                        "warning",
                        "not an input of the model's signature",
                    )
                )
    for name, column in report.columns.items():
        if column.n_current and column.missing_share_current >= 1.0:
            issues.append(
                QualityIssue(name, "all_missing", "error", "every logged value is missing")
            )
        if column.out_of_range_share:
            issues.append(
                QualityIssue(
                    name,
                    "out_of_range",
                    "warning",
                    f"{column.out_of_range_share:.1%} of the values lie outside the training range",
                )
            )
        if column.unseen_share:
            shown = ", ".join(map(str, column.unseen_categories[:5]))
            issues.append(
                QualityIssue(
                    name,
                    "unseen_categories",
                    "warning",
                    f"{column.unseen_share:.1%} of the values are categories training never "
                    f"saw ({shown})",
                )
            )
    return issues
