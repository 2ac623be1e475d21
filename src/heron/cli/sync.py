"""``heron sync``: send the points a server outage left on disk (see docs/server.md)."""

from __future__ import annotations

import click

from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import echo, print_json


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else ('es' if word.endswith('ch') else 's')}"


@click.command()
@click.option("--all", "all_servers", is_flag=True, help="Send the pending data of every server.")
@click.option("--dry-run", is_flag=True, help="Only list what is pending; send nothing.")
@tracking_uri_option
@json_option
def sync(all_servers: bool, dry_run: bool, as_json: bool) -> None:
    """Send the metrics, params, tags and run ends kept on disk while the server was away.

    Each batch is sent once with its request id (sending it again never doubles a point) and
    its file is deleted only after the server took it. A batch the server refuses is moved
    to the folder's rejected/ with the error beside it.
    """
    from heron.cli.main import CliError
    from heron.core import config, uris
    from heron.store import pending

    targets = pending.servers() if all_servers else [config.get_tracking_uri()]
    if dry_run:
        rows = []
        for uri in targets:
            batches, corrupt = pending.list_batches(uri)
            rows.append(
                {
                    "tracking_uri": uris.redact(uri),
                    "folder": str(pending.folder_for(uri)),
                    "batches": len(batches),
                    "points": sum(b.points for b in batches),
                    "runs": sorted({b.run_id for b in batches}),
                    "run_ends": sum(1 for b in batches if b.status is not None),
                    "corrupt": [str(p) for p, _ in corrupt],
                }
            )
        if as_json:
            print_json({"dry_run": True, "servers": rows})
            return
        if not any(r["batches"] or r["corrupt"] for r in rows):
            echo("Nothing pending.")
            return
        for r in rows:
            echo(
                f"{_plural(r['points'], 'point')} in {_plural(r['batches'], 'batch')} "
                f"({_plural(len(r['runs']), 'run')}, {r['run_ends']} run end(s)) pending for "
                f"{r['tracking_uri']}, in {r['folder']}."
            )
        echo("Dry run: nothing was sent. Run `heron sync` to send them.", dim=True)
        return
    from heron.store.registry import get_store

    reports = []
    for uri in targets:
        if not pending.batch_files(uri):
            reports.append(pending.SyncReport(uri, pending.folder_for(uri)))
            continue
        reports.append(pending.sync(get_store(uri), uri))
    if as_json:
        print_json({"dry_run": False, "servers": [r.to_dict() for r in reports]})
    else:
        if not any(r.sent_batches or r.remaining_batches or r.rejected for r in reports):
            echo("Nothing pending.")
        for r in reports:
            if not (r.sent_batches or r.remaining_batches or r.rejected):
                continue
            echo(
                f"Sent {_plural(r.sent_points, 'point')} in {_plural(r.sent_batches, 'batch')} "
                f"to {uris.redact(r.tracking_uri)}; {r.remaining_points:,} pending."
            )
            for path, error in r.rejected:
                echo(f"Refused, moved to {path}: {error}")
    down = [r for r in reports if r.unavailable]
    if down:
        r = down[0]
        raise CliError(
            f"the server at {uris.redact(r.tracking_uri)} cannot be reached, so "
            f"{_plural(r.remaining_points, 'point')} in {_plural(r.remaining_batches, 'batch')} "
            f"are still pending in {r.folder} ({r.unavailable}). Start the server (or fix "
            "HERON_TRACKING_URI), then run `heron sync` again."
        )
