"""The HTML report of a drift comparison: the table of columns and, per column, the
distribution of the reference beside the current window as a chart.

One self-contained file (inline SVG and CSS, no script, nothing fetched), so it opens from an
artifact store, a mail or a CI page alike.
"""

from __future__ import annotations

import html
from typing import Any

from heron.monitoring.comparison import (
    ColumnDrift,
    DriftReport,
    as_columns,
    numbers_or_none,
    value_counts,
)

BINS = 20
MAX_CATEGORIES = 15
_WIDTH, _HEIGHT = 360, 120

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}.yes{color:#b00020;font-weight:600}.no{color:#1b7f3b}
.dim{color:#888}.verdict{font-size:1.2em;font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:1.5em}
figure{margin:0}figcaption{font-weight:600}.ref{fill:#7a8ca3}.cur{fill:#e07b39}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}
</style></head><body>
<h1>{{ title }}</h1>
{% for line in facts %}<div>{{ line }}</div>{% endfor %}
<p class="verdict {{ 'yes' if report.drifted else 'no' }}">{{ verdict }}</p>
{% if issues %}<h2>Data quality</h2><table><tr><th>column</th><th>check</th><th>severity</th>
<th>finding</th></tr>{% for i in issues %}<tr><td>{{ i.column }}</td><td>{{ i.check }}</td>
<td>{{ i.severity }}</td><td>{{ i.message }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Columns</h2>
<table><tr><th>column</th><th>kind</th><th>method</th><th>statistic</th><th>threshold</th>
<th>drift</th><th>PSI</th><th>missing</th><th>note</th></tr>
{% for c in rows %}<tr><td>{{ c.name }}</td><td>{{ c.kind }}</td><td>{{ c.method or '-' }}</td>
<td>{{ c.statistic }}</td><td>{{ c.threshold }}</td><td class="{{ c.css }}">{{ c.drift }}</td>
<td>{{ c.psi }}</td><td>{{ c.missing }}</td><td>{{ c.note }}</td></tr>{% endfor %}</table>
<h2>Distributions</h2>
<div class="legend"><span class="ref" style="background:#7a8ca3"></span>reference
<span style="background:#e07b39"></span>current</div>
<div class="grid">{% for c in charts %}<figure><figcaption>{{ c.name }}</figcaption>
{{ c.svg }}</figure>{% endfor %}</div>
</body></html>
"""


def render(
    report: DriftReport,
    reference: Any,
    current: Any,
    *,
    title: str = "Drift report",
    facts: list[str] | None = None,
    issues: list[Any] | None = None,
) -> str:
    """The report as an HTML page; ``reference`` and ``current`` are the data compared."""
    import jinja2
    from markupsafe import Markup

    every = list(report.columns.values()) + ([report.prediction] if report.prediction else [])
    ref, _ = as_columns(reference, "reference")
    cur, _ = as_columns(current, "current")
    charts = []
    for column in every:
        if column.name in ref and column.name in cur and column.kind != "unknown":
            svg = _chart(column, ref[column.name], cur[column.name])
            if svg:
                charts.append({"name": column.name, "svg": svg})
    if not report.evaluated:
        verdict = f"Not evaluated: {report.reason}."
    else:
        verdict = (
            f"{'Drift detected' if report.drifted else 'No drift'}: "
            f"{len(report.drifted_columns)} of {report._evaluated_count()} columns drifted "
            f"({report.share_drifted:.0%}; the threshold is {report.drift_share:.0%})."
        )
    environment = jinja2.Environment(autoescape=True)
    page = environment.from_string(_TEMPLATE)
    return page.render(
        title=title,
        facts=facts or [],
        report=report,
        verdict=verdict,
        issues=issues or [],
        rows=[_row(c, c is report.prediction) for c in every],
        charts=[{"name": c["name"], "svg": Markup(c["svg"])} for c in charts],
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _row(column: ColumnDrift, prediction: bool) -> dict[str, Any]:
    if not column.evaluated:
        drift, css, note = "-", "dim", column.reason or ""
    else:
        drift, css = ("yes", "yes") if column.drifted else ("no", "no")
        notes = []
        if column.out_of_range_share:
            notes.append(f"{column.out_of_range_share:.1%} out of range")
        if column.unseen_share:
            notes.append(f"{column.unseen_share:.1%} unseen")
        note = ", ".join(notes)
    return {
        "name": column.name + (" (prediction)" if prediction else ""),
        "kind": column.kind,
        "method": column.method,
        "statistic": _number(column.statistic),
        "threshold": _number(column.threshold),
        "drift": drift,
        "css": css,
        "psi": _number(column.psi),
        "missing": f"{column.missing_share_current:.1%}" if column.missing_share_current else "",
        "note": note,
    }


def _chart(column: ColumnDrift, reference: Any, current: Any) -> str | None:
    import numpy as np

    if column.kind == "numeric":
        ref = _finite(reference)
        cur = _finite(current)  # the chart's bins need finite bounds
        if ref is None or cur is None or not len(ref) or not len(cur):
            return None
        low, high = float(min(ref.min(), cur.min())), float(max(ref.max(), cur.max()))
        if low == high:
            high = low + 1.0
        edges = np.linspace(low, high, BINS + 1)
        ref_share = np.histogram(ref, edges)[0] / len(ref)
        cur_share = np.histogram(cur, edges)[0] / len(cur)
        labels = (f"{low:.4g}", f"{high:.4g}")
        return _bars(list(ref_share), list(cur_share), labels)
    ref_counts = value_counts(np.asarray(reference))
    cur_counts = value_counts(np.asarray(current))
    if not ref_counts or not cur_counts:
        return None
    ref_total, cur_total = sum(ref_counts.values()), sum(cur_counts.values())
    everything = {**{k: 0 for k in cur_counts}, **ref_counts}
    top = sorted(everything, key=lambda k: -(ref_counts.get(k, 0) + cur_counts.get(k, 0)))
    top = top[:MAX_CATEGORIES]
    ref_share = [ref_counts.get(k, 0) / ref_total for k in top]
    cur_share = [cur_counts.get(k, 0) / cur_total for k in top]
    return _bars(ref_share, cur_share, None, [str(k) for k in top])


def _finite(values: Any) -> Any:
    import numpy as np

    numbers = numbers_or_none(np.asarray(values))
    return None if numbers is None else numbers[np.isfinite(numbers)]


def _bars(
    ref: list[float],
    cur: list[float],
    range_labels: tuple[str, str] | None,
    names: list[str] | None = None,
) -> str:
    n = len(ref)
    top = max(max(ref), max(cur), 1e-12)
    slot = _WIDTH / n
    bar = max(slot / 2 - 1, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT + 20}" '
        f'role="img">'
    ]
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = i * slot
        for offset, share, css in ((0, r, "ref"), (bar, c, "cur")):
            height = share / top * _HEIGHT
            title = (names[i] + ": " if names else "") + f"{share:.1%}"
            parts.append(
                f'<rect class="{css}" x="{x + offset:.1f}" y="{_HEIGHT - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}"><title>{html.escape(title)}'
                "</title></rect>"
            )
    if range_labels:
        parts.append(f'<text x="0" y="{_HEIGHT + 15}" font-size="11">{range_labels[0]}</text>')
        parts.append(
            f'<text x="{_WIDTH}" y="{_HEIGHT + 15}" font-size="11" text-anchor="end">'
            f"{range_labels[1]}</text>"
        )
    elif names:
        for i, name in enumerate(names):
            parts.append(
                f'<text x="{i * slot + 1:.1f}" y="{_HEIGHT + 15}" font-size="10">'
                f"{html.escape(name[:8])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
