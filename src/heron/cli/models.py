"""``heron models``: the model registry from the command line.

A version is named ``NAME VERSION``, or in one word as ``NAME@ALIAS`` / ``models:/NAME/3``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from heron.cli.options import in_project, json_option, open_client
from heron.cli.output import (
    NAME_COLUMN,
    echo,
    format_time,
    print_fields,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from heron.core.entities import AliasEvent, ModelVersion, RegisteredModel
    from heron.tracking.client import Client


def _resolve_version(client: Client, reference: str, version: str | None) -> ModelVersion:
    """``NAME VERSION``, ``NAME@ALIAS``, ``NAME`` (latest) or a ``models:/`` URI."""
    from heron.models.uris import model_version_of

    if version is not None:
        if version.startswith("@"):
            return client.get_model_version_by_alias(reference, version[1:])
        return client.get_model_version(reference, version)
    uri = reference if reference.startswith("models:/") else f"models:/{reference}"
    return model_version_of(client.store, uri)


@click.group()
def models() -> None:
    """Register models, move aliases (with history) and roll them back."""


@models.command("list")
@click.option("--name", "name_like", metavar="PATTERN", help="Only names LIKE PATTERN (iris%).")
@click.option("--limit", "-n", default=100, show_default=True, type=click.IntRange(min=1))
@json_option
def list_(name_like: str | None, limit: int, as_json: bool) -> None:
    """List the registered models of the project (--project, $HERON_PROJECT, else 'default')
    with their latest version and aliases."""
    client = open_client()
    found = client.list_models(name_like, max_results=limit)
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    if not found:
        echo(
            f"No registered models{in_project(client.project)}. Register one with "
            "`heron models register NAME SOURCE`."
        )
        return
    print_table(
        [("name", NAME_COLUMN), ("latest", {"justify": "right"}), "aliases", "updated"],
        ([m.name, m.latest_version, _aliases(m), format_time(m.updated_at)] for m in found),
    )


@models.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option(
    "--at",
    metavar="DATETIME",
    help="With NAME @ALIAS: the version the alias pointed at then (2026-11-01 or "
    "2026-11-01T14:30).",
)
@json_option
def show(name: str, version: str | None, at: str | None, as_json: bool) -> None:
    """Show a model (NAME) or one version (NAME VERSION, NAME @ALIAS, NAME@ALIAS).

    A version shows its artifact, the run and pipeline run that made it, its signature and
    the data it was trained on (the artifacts upstream of it).
    """
    client = open_client()
    if at is not None and "@" not in name and not (version or "").startswith("@"):
        raise click.BadParameter("--at needs an alias: NAME@ALIAS or NAME @ALIAS.")
    if version is None and "@" not in name and not name.startswith("models:/"):
        _show_model(client, client.get_registered_model(name), as_json)
        return
    if at is not None:
        model, _, alias = name.partition("@") if version is None else (name, "@", version)
        mv = client.get_model_version_by_alias(model, alias.lstrip("@"), at=_parse_time(at))
    else:
        mv = _resolve_version(client, name, version)
    _show_version(client, mv, as_json)


def _show_model(client: Client, model: RegisteredModel, as_json: bool) -> None:
    versions = client.search_model_versions(f"name = '{_quoted(model.name)}'", max_results=20)
    if as_json:
        print_json({**model.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    print_fields(
        [
            ("description", model.description),
            ("aliases", _aliases(model)),
            ("latest version", model.latest_version),
            ("created", format_time(model.created_at)),
            ("updated", format_time(model.updated_at)),
            *((f"tag {k}", v) for k, v in sorted(model.tags.items())),
        ],
        title=f"model {model.name}",
    )
    if versions:
        print_table(
            [("version", {"justify": "right"}), "aliases", "run", "created", "user"],
            (
                [v.version, ", ".join(v.aliases), v.run_id, format_time(v.created_at), v.user]
                for v in versions
            ),
        )


def _show_version(client: Client, mv: ModelVersion, as_json: bool) -> None:
    artifact = client.store.get_artifact_version(mv.artifact_id)
    facts = (artifact.metadata or {}).get("model") or {}
    data = _training_data(client, mv)
    if as_json:
        print_json(
            {
                **mv.to_dict(),
                "artifact": artifact.to_dict(),
                "trained_on": [a.to_dict() for a in data],
            }
        )
        return
    signature = facts.get("signature") or {}
    print_fields(
        [
            ("aliases", ", ".join(mv.aliases) or None),
            ("description", mv.description),
            ("artifact", f"{artifact.name}:{artifact.version} ({artifact.id})"),
            ("flavor", facts.get("flavor") or artifact.materializer),
            ("class", facts.get("class") or artifact.type),
            ("inputs", _spec_text(signature.get("inputs"))),
            ("outputs", _spec_text(signature.get("outputs"))),
            ("run", mv.run_id),
            ("pipeline run", mv.pipeline_run_id),
            ("trained on", ", ".join(f"{a.name}:{a.version}" for a in data) or None),
            ("registered", f"{format_time(mv.created_at)} by {mv.user or '?'}"),
            *((f"tag {k}", v) for k, v in sorted(mv.tags.items())),
            ("load", f"heron.load_model('models:/{mv.name}/{mv.version}')"),
        ],
        title=f"model {mv.name} version {mv.version}",
    )


def _training_data(client: Client, mv: ModelVersion) -> list[Any]:
    """The artifacts upstream of the model in its lineage: the data (and intermediate
    artifacts) it was made from."""
    graph = client.lineage(mv.artifact_id, direction="upstream")
    return [a for a_id, a in graph.artifacts.items() if a_id != mv.artifact_id]


def _spec_text(spec: dict[str, Any] | None) -> str | None:
    if not spec:
        return None
    if spec.get("type") == "tensor":
        shape = ", ".join("any" if n < 0 else str(n) for n in spec["shape"])
        return f"{spec['dtype']} [{shape}]"
    columns = spec.get("columns") or []
    shown = ", ".join(f"{c['name']} ({c['dtype']})" for c in columns[:8])
    return shown + (f", … ({len(columns)} columns)" if len(columns) > 8 else "")


@models.command()
@click.argument("name")
@click.argument("source")
@click.option("--description", "-d", help="A description of this version.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the version.")
@click.option("--alias", "alias", metavar="ALIAS", help="Also point ALIAS at the new version.")
@json_option
def register(
    name: str,
    source: str,
    description: str | None,
    tags: tuple[str, ...],
    alias: str | None,
    as_json: bool,
) -> None:
    """Register SOURCE as the next version of NAME.

    SOURCE is runs:/RUN_ID/NAME (a logged model or a step output, e.g. train.model), an
    artifact id or models:/OTHER/3.
    """
    client = open_client()
    if alias:
        from heron.store.sql.registry_checks import check_alias

        check_alias(alias)  # before registering, so that a bad alias changes nothing
    mv = client.register_model(name, source, description=description, tags=_pairs(tags))
    if alias:
        client.set_model_alias(name, alias, mv.version)
        mv = client.get_model_version(name, mv.version)
    if as_json:
        print_json(mv.to_dict())
        return
    echo(f"Registered {mv.name} version {mv.version}" + (f" as @{alias}" if alias else "") + ".")


@models.command("set-alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version")
def set_alias(name: str, alias: str, version: str) -> None:
    """Point ALIAS of model NAME at VERSION (the move is recorded)."""
    event = open_client().set_model_alias(name, alias, version)
    echo(f"{name}@{alias}: {_move(event)}.")


@models.command("delete-alias")
@click.argument("name")
@click.argument("alias")
def delete_alias(name: str, alias: str) -> None:
    """Remove ALIAS from model NAME (recorded in the history)."""
    event = open_client().delete_model_alias(name, alias)
    echo(f"{name}@{alias}: {_move(event)}.")


@models.command()
@click.argument("name")
@click.argument("alias")
def rollback(name: str, alias: str) -> None:
    """Point ALIAS back at the version it pointed at before (again: further back)."""
    from heron.core.errors import NotFound

    client = open_client()
    try:
        before = f"version {client.get_model_version_by_alias(name, alias).version}"
    except NotFound:
        if not client.alias_history(name, alias):
            raise  # never set: the error names the model, its aliases and how to set one
        before = "unset"  # its version was deleted: a rollback restores the one before
    mv = client.rollback_model_alias(name, alias)
    echo(f"{name}@{alias}: {before} -> {mv.version} (rolled back).")


@models.command()
@click.argument("name")
@click.argument("alias", required=False)
@json_option
def history(name: str, alias: str | None, as_json: bool) -> None:
    """Every move of ALIAS (or of all aliases) of model NAME: when, who, from -> to."""
    events = open_client().alias_history(name, alias)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    if not events:
        echo(f"No alias of {name!r} was ever set." if alias is None else f"@{alias} was never set.")
        return
    print_table(
        ["when", "alias", "from", "to", "action", "user"],
        (
            [format_time(e.timestamp), e.alias, e.from_version, e.to_version, e.action, e.user]
            for e in events
        ),
    )


@models.command("delete-version")
@click.argument("name")
@click.argument("version")
def delete_version(name: str, version: str) -> None:
    """Delete VERSION of model NAME; aliases on it are removed (its number is not reused)."""
    open_client().delete_model_version(name, version)
    echo(f"Deleted {name} version {version}.")


@models.command()
@click.argument("name")
@click.argument("new_name")
def rename(name: str, new_name: str) -> None:
    """Rename model NAME; versions, aliases and history follow."""
    open_client().rename_model(name, new_name)
    echo(f"Renamed {name} to {new_name}.")


@models.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete model NAME with its versions, aliases and history (artifacts stay)."""
    client = open_client()
    model = client.get_registered_model(name)
    if not yes:
        click.confirm(
            f"Delete model {name!r} and its {model.latest_version or 0} version(s)?", abort=True
        )
    client.delete_registered_model(name)
    echo(f"Deleted model {name}.")


# --- helpers ---------------------------------------------------------------------------
def _aliases(model: RegisteredModel) -> str:
    return ", ".join(f"@{a}={v}" for a, v in sorted(model.aliases.items()))


def _move(event: AliasEvent) -> str:
    old = "unset" if event.from_version is None else f"version {event.from_version}"
    new = "unset" if event.to_version is None else f"version {event.to_version}"
    return f"{old} -> {new}"


def _pairs(items: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE.", param_hint="--tag")
        pairs[key] = value
    return pairs


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date/time such as 2026-11-01 or 2026-11-01T14:30.",
            param_hint="--at",
        ) from None


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")
