"""Where Heron keeps its data: the tracking URI and artifact URI, resolved as DESIGN §3 says.

Tracking URI, first match wins:
1. :func:`set_tracking_uri` in this process;
2. the ``HERON_TRACKING_URI`` environment variable;
3. the tracking URI of the selected stack (below), when it names one;
4. the nearest ``.heron/`` folder found upward from the working directory (``heron init``);
5. ``~/.heron/`` (or ``$HERON_HOME``), created on first use.

The selected stack, first match wins: :func:`select_stack` in this process (``--stack``,
``heron.use_stack``), the ``HERON_STACK`` environment variable, the workspace's active stack
(``heron stack use``, kept in ``<workspace>/active_stack``). Stacks are kept in the *home*
store (1, 2, 4 or 5 above, never a stack's own); :mod:`heron.stacks` reads them through the
resolver :data:`STACK_RESOLVER` names, so this module imports nothing above it.

Writing (a run, a pipeline, ``heron init``) creates a SQLite store that does not exist yet;
reading from one (the CLI's reading commands, ``Client(uri)``) is refused by
:func:`require_existing_store`, so that a mistyped URI is not answered by a new empty store.

Artifact URI: :func:`set_artifact_uri`, else ``HERON_ARTIFACT_URI``, else the selected
stack's, else the ``artifacts/`` folder beside a SQLite database, else
``<heron home>/artifacts``.

Project (the namespace that owns experiments, registered models and artifact versions):
``HERON_PROJECT``, else :func:`set_project` in this process (``heron --project``), else
``default``. A store view pinned with ``Store.in_project`` ignores it.

Credentials for a tracking server (``http(s)://``), sent with every request:
:func:`set_tracking_credentials` in this process, else ``HERON_TRACKING_TOKEN`` (a bearer
token), else ``HERON_TRACKING_USERNAME`` with ``HERON_TRACKING_PASSWORD`` (HTTP Basic).
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

from heron.core import uris

WORKSPACE_DIR = ".heron"
DB_FILE = "heron.db"
ARTIFACTS_DIR = "artifacts"

TRACKING_URI_ENV = "HERON_TRACKING_URI"
ARTIFACT_URI_ENV = "HERON_ARTIFACT_URI"
HOME_ENV = "HERON_HOME"
STACK_ENV = "HERON_STACK"
ACTIVE_STACK_FILE = "active_stack"
#: ``module:function`` returning the selected stack's settings (a dict with ``name``,
#: ``tracking_uri``, ``artifact_uri``, ...) for a stack name and the home tracking URI
STACK_RESOLVER = "heron.stacks.selection:settings_of"
DEFAULT_STACK = "default"
PROJECT_ENV = "HERON_PROJECT"
#: the project of everything made without one (and of every single user's work)
DEFAULT_PROJECT = "default"
MAX_PROJECT_LENGTH = 128
TOKEN_ENV = "HERON_TRACKING_TOKEN"
USERNAME_ENV = "HERON_TRACKING_USERNAME"
PASSWORD_ENV = "HERON_TRACKING_PASSWORD"
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_tracking_uri: str | None = None
_artifact_uri: str | None = None
_selected_stack: str | None = None
#: (stack name, home tracking URI) -> that stack's settings, resolved once per process
_stack_cache: dict[tuple[str, str], dict[str, Any]] = {}
_active_file_cache: dict[str, tuple[int, str | None]] = {}
#: stacks being looked up now (the home store, while it opens, asks for the settings again)
_resolving: set[tuple[str, str]] = set()
_project: str | None = None
_checked_env: str | None = None  # the last HERON_PROJECT value found valid
#: credentials given in this process: (token, username, password), or None for the environment
_credentials: tuple[str | None, str | None, str | None] | None = None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Use ``uri`` as the tracking URI of this process (``None`` restores the default).

    A plain path to a folder or a ``.db`` file is accepted and means a SQLite store there.
    """
    global _tracking_uri
    _tracking_uri = None if uri is None else normalize_tracking_uri(os.fspath(uri))


def set_artifact_uri(uri: str | os.PathLike[str] | None) -> None:
    """Use ``uri`` (any fsspec URL or a local path) for artifacts in this process."""
    global _artifact_uri
    _artifact_uri = None if uri is None else os.fspath(uri)


def normalize_tracking_uri(uri: str) -> str:
    """Turn a plain path into a SQLite URI and check the scheme of anything else."""
    if "://" not in uri:
        path = Path(uri).expanduser()
        if path.suffix != ".db":
            path = path / DB_FILE
        return uris.sqlite_uri(path)
    uris.tracking_uri_kind(uri)
    return uri


def find_workspace(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``.heron/`` folder at or above ``start`` (default: the working directory)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / WORKSPACE_DIR
        if candidate.is_dir():
            return candidate
    return None


def heron_home() -> Path:
    """The fallback workspace: ``$HERON_HOME`` or ``~/.heron``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / WORKSPACE_DIR).expanduser()


def default_workspace() -> Path:
    """The workspace used when no tracking URI is configured."""
    return find_workspace() or heron_home()


def home_tracking_uri() -> str:
    """The tracking URI without any stack: where stacks themselves are kept."""
    if _tracking_uri is not None:
        return _tracking_uri
    env = os.environ.get(TRACKING_URI_ENV)
    if env:
        return normalize_tracking_uri(env)
    return uris.sqlite_uri(default_workspace() / DB_FILE)


def get_tracking_uri() -> str:
    """The tracking URI in force for this process (see the module docstring for the order)."""
    if _tracking_uri is None and not os.environ.get(TRACKING_URI_ENV):
        stacked = (stack_settings() or {}).get("tracking_uri")
        if stacked:
            return normalize_tracking_uri(stacked)
    return home_tracking_uri()


def select_stack(name: str | None) -> None:
    """Use the stack ``name`` in this process (``None``: back to ``HERON_STACK`` or the
    workspace's active stack). It is looked up when first needed."""
    global _selected_stack
    _selected_stack = name
    _stack_cache.clear()


def active_stack_file() -> Path:
    """Where ``heron stack use`` keeps the workspace's active stack."""
    return default_workspace() / ACTIVE_STACK_FILE


def forget_stack_settings() -> None:
    """Look the selected stack up again when next needed (it was changed)."""
    _stack_cache.clear()


def stack_chosen_by() -> str | None:
    """What chose the stack in force: ``"process"`` (:func:`select_stack`), ``"environment"``
    (``HERON_STACK``), ``"workspace"`` (``heron stack use``), or ``None``."""
    if _selected_stack is not None:
        return "process"
    if os.environ.get(STACK_ENV):
        return "environment"
    return "workspace" if workspace_active_stack() else None


def selected_stack_name() -> str | None:
    """The stack chosen for this process (see the module docstring), or ``None``."""
    if _selected_stack is not None:
        return _selected_stack
    env = os.environ.get(STACK_ENV)
    if env:
        return env.strip()
    return workspace_active_stack()


def workspace_active_stack() -> str | None:
    """The workspace's active stack (``heron stack use``), or ``None``."""
    path = active_stack_file()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _active_file_cache.get(str(path))
    if cached is None or cached[0] != stamp:
        try:
            cached = (stamp, path.read_text(encoding="utf-8").strip() or None)
        except OSError:
            return None
        _active_file_cache[str(path)] = cached
    return cached[1]


def stack_settings() -> dict[str, Any] | None:
    """The selected stack's settings (``None`` when no stack, or the default, is selected).
    A selected stack that does not exist is an error naming it."""
    name = selected_stack_name()
    if not name or name == DEFAULT_STACK:
        return None
    home = home_tracking_uri()
    key = (name, home)
    if key not in _stack_cache:
        if key in _resolving:  # opening the home store asks for settings: not the stack's
            return None
        module, _, function = STACK_RESOLVER.partition(":")
        _resolving.add(key)
        try:
            _stack_cache[key] = getattr(importlib.import_module(module), function)(name, home)
        finally:
            _resolving.discard(key)
    return _stack_cache[key]


def require_existing_store(uri: str) -> None:
    """Refuse a SQLite tracking URI whose database file does not exist (a typo would otherwise
    silently get a new, empty store). Other URIs are left to their store to check."""
    from heron.core.errors import StoreNotFound, StoreNotWritable

    if uris.tracking_uri_kind(uri) != uris.SQLITE:
        return
    path = uris.sqlite_path(uri)
    if path is None:
        return
    try:
        if path.exists():
            return
    except PermissionError as e:
        raise StoreNotWritable(
            f"The Heron store at {path} cannot be read: a folder on its path does not let "
            f"this user in ({e.strerror}). Fix the permissions, or use another tracking URI."
        ) from e
    if path.name == DB_FILE and path.parent.name == WORKSPACE_DIR:
        create = f"create it with `heron init {path.parent.parent}`"
    else:
        create = "create a workspace with `heron init` (or log a run there first)"
    raise StoreNotFound(
        f"There is no Heron store at {path}. Check the tracking URI (--tracking-uri, "
        f"{TRACKING_URI_ENV} or heron.set_tracking_uri) for a typo, or {create}."
    )


def artifact_uri_override() -> str | None:
    """The artifact root this process was given (:func:`set_artifact_uri` or
    ``HERON_ARTIFACT_URI``), or ``None``."""
    if _artifact_uri is not None:
        return _artifact_uri
    env = os.environ.get(ARTIFACT_URI_ENV)
    if env:
        return env
    return (stack_settings() or {}).get("artifact_uri") or None


def get_artifact_uri(tracking_uri: str | None = None) -> str:
    """The artifact root in force for ``tracking_uri`` (default: the active tracking URI).

    For a tracking server (``http(s)://``) without an override it is the server's URL: the
    artifacts go through the server (proxied)."""
    override = artifact_uri_override()
    if override is not None:
        return override
    tracking_uri = tracking_uri or get_tracking_uri()
    kind = uris.tracking_uri_kind(tracking_uri)
    if kind == uris.HTTP:
        return tracking_uri.rstrip("/")
    if kind == uris.SQLITE:
        db = uris.sqlite_path(tracking_uri)
        if db is not None:
            return str(db.resolve().parent / ARTIFACTS_DIR)
    return str(heron_home() / ARTIFACTS_DIR)


# --- projects ---------------------------------------------------------------------------
def check_project_name(name: object) -> str:
    """``name`` if it is a valid project name (1 to 128 ASCII letters, digits, ``_``, ``.``
    or ``-``, starting with a letter or digit), else :class:`InvalidArgument` saying so."""
    if isinstance(name, str) and len(name) <= MAX_PROJECT_LENGTH and _PROJECT_NAME.fullmatch(name):
        return name
    from heron.core.errors import InvalidArgument

    shown = repr(name[:60]) if isinstance(name, str) else f"{type(name).__name__} {name!r}"
    raise InvalidArgument(
        f"Invalid project name {shown}: use 1 to {MAX_PROJECT_LENGTH} ASCII letters, digits, "
        "'_', '.' or '-', starting with a letter or digit (e.g. 'fraud-models')."
    )


def set_project(name: str | None) -> None:
    """Work in project ``name`` in this process: the experiments, registered models and
    artifacts looked up or made by name are that project's. ``None`` goes back to
    ``HERON_PROJECT``, else ``default``. ``HERON_PROJECT``, when set, wins over this.

    >>> heron.set_project("fraud")  # doctest: +SKIP
    """
    global _project
    _project = None if name is None else check_project_name(name)


def get_project() -> str:
    """The project in force: ``HERON_PROJECT``, else what :func:`set_project` chose, else
    ``default``.

    >>> heron.get_project()  # doctest: +SKIP
    'default'
    """
    global _checked_env
    env = os.environ.get(PROJECT_ENV)
    if env:
        if env != _checked_env:  # checked once per value: stores ask on every name lookup
            check_project_name(env.strip())
            _checked_env = env
        return env.strip()
    return _project if _project is not None else DEFAULT_PROJECT


# --- credentials for a tracking server --------------------------------------------------
def set_tracking_credentials(
    token: str | None = None, username: str | None = None, password: str | None = None
) -> None:
    """Sign this process's requests to tracking servers with a bearer ``token``, or with
    ``username`` and ``password`` (HTTP Basic), instead of what the environment gives
    (``HERON_TRACKING_TOKEN``, ``HERON_TRACKING_USERNAME``/``HERON_TRACKING_PASSWORD``).
    Called with no argument, the environment is read again."""
    global _credentials
    if token is None and username is None and password is None:
        _credentials = None
        return
    if token is None and (not username or password is None):
        from heron.core.errors import InvalidArgument

        raise InvalidArgument(
            "set_tracking_credentials needs a token, or a username together with a password."
        )
    _credentials = (token, username, password)


def tracking_credentials() -> tuple[str | None, str | None, str | None]:
    """``(token, username, password)`` in force for tracking servers (each ``None`` when not
    given): :func:`set_tracking_credentials`, else the environment."""
    if _credentials is not None:
        return _credentials
    environ = os.environ
    return environ.get(TOKEN_ENV) or None, environ.get(USERNAME_ENV), environ.get(PASSWORD_ENV)
