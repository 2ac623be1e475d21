"""Everything the CLI prints: tables (rich, imported on first use), JSON, times and numbers.

Library code never prints; commands print through these helpers so that human output stays
consistent and ``--json`` output stays pure JSON on stdout.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

STATUS_STYLES = {
    "completed": "green",
    "failed": "bold red",
    "running": "cyan",
    "pending": "dim",
    "cancelled": "yellow",
    "skipped": "dim",
    "cached": "green",
}
SHORT_ID = 8
PIPED_WIDTH = 200
#: a column that holds free text (names): at most this wide, cut with an ellipsis
NAME_COLUMN = {"max_width": 32, "overflow": "ellipsis"}

_console: Console | None = None


def console() -> Console:
    """The rich console writing to stdout (created on first use).

    On a terminal tables fit its width; piped output gets a wide page (or ``$COLUMNS``) so
    that tables are not squeezed.
    """
    global _console
    if _console is None:
        from rich.console import Console

        tty = sys.stdout.isatty()
        piped = not tty and "COLUMNS" not in os.environ
        _console = Console(
            file=None if tty else _Stdout(),
            highlight=False,
            soft_wrap=False,
            width=PIPED_WIDTH if piped else None,
        )
    return _console


#: blanks that end a line (before any closing style codes), as rich pads table cells
_TRAILING_BLANKS = re.compile(r"[ \t]+(?=(?:\x1b\[[0-9;]*m)*\n)")


class _Stdout:
    """The current ``sys.stdout`` without the blanks rich leaves at the end of table lines,
    so that piped output (``| grep``, ``| diff``, files) has no trailing whitespace."""

    def write(self, text: str) -> int:
        return sys.stdout.write(_TRAILING_BLANKS.sub("", text))

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (NaN and infinities become null)."""
    import orjson

    text = orjson.dumps(data, option=orjson.OPT_INDENT_2, default=_jsonable).decode()
    click.echo(text)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


Column = str | tuple[str, dict[str, Any]]


def make_table(columns: Iterable[Column], title: str | None = None) -> Table:
    """A rich table in the CLI's style. A column is a header, or ``(header, options)`` with
    options for :meth:`rich.table.Table.add_column`; cells do not wrap unless told to.
    """
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        title_justify="left",
    )
    for column in columns:
        header, options = (column, {}) if isinstance(column, str) else column
        table.add_column(header, **{"no_wrap": True, **options})
    return table


def print_table(
    columns: Iterable[Column], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    """Print rows (str, numbers, None, or rich ``Text``) under ``columns`` (see make_table)."""
    table = make_table(columns, title)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    console().print(table)


def cell(value: Any) -> Text:
    """A table cell: rich Text as is, None as "-", numbers formatted, other text not markup."""
    from rich.text import Text

    if isinstance(value, Text):
        return value
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, float):
        return Text(format_number(value))
    return Text(str(value))


def echo(message: str = "", **style: Any) -> None:
    """Print one line of human output on stdout (``fg=``, ``bold=``, … as click.style)."""
    click.secho(message, **style)


def status_text(status: str) -> Text:
    """A run status, coloured."""
    from rich.text import Text

    return Text(status, style=STATUS_STYLES.get(status, ""))


def short_id(run_id: str) -> str:
    """The first characters of an id, enough to tell runs apart and to type back."""
    return run_id[:SHORT_ID]


def format_time(ms: int | None, seconds: bool = True) -> str | None:
    """Epoch milliseconds as local time ``YYYY-MM-DD HH:MM[:SS]`` (``None`` stays ``None``)."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_duration(ms: int | None) -> str | None:
    """A duration in ms as ``850ms``, ``12.3s``, ``4m 05s``, ``2h 07m`` or ``3d 04h``.

    >>> [format_duration(v) for v in (850, 12_345, 245_000, 7_620_000)]
    ['850ms', '12.3s', '4m 05s', '2h 07m']
    """
    if ms is None:
        return None
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(ms // 1000, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_number(value: float) -> str:
    """A metric value with up to 6 significant digits (``nan``, ``inf`` as such).

    >>> [format_number(v) for v in (0.123456789, 3.0, 1e-7, float("nan"))]
    ['0.123457', '3', '1e-07', 'nan']
    """
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}"


def format_size(size: int | None) -> str | None:
    """A byte count as ``812 B``, ``1.2 KB``, ``3.4 MB``, …

    >>> [format_size(v) for v in (812, 1234, 3_500_000)]
    ['812 B', '1.2 KB', '3.3 MB']
    """
    if size is None:
        return None
    if size < 1024:
        return f"{size} B"
    amount = size / 1024
    units = ["KB", "MB", "GB", "TB"]
    while amount >= 1024 and len(units) > 1:
        amount /= 1024
        units.pop(0)
    return f"{amount:.1f} {units[0]}"


def print_fields(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    """Print ``label  value`` lines aligned in two columns, under an optional bold title."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in pairs:
        grid.add_row(label, cell(value))
    if title:
        console().print(title, style="bold", markup=False)
    console().print(grid)
