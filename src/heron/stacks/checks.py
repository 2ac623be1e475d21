"""Whether a stack can work from here: its orchestrator installed, its addresses reachable,
and its stores reachable by the workers that will run the steps."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from heron.core import uris
from heron.core.errors import ConfigError
from heron.core.stacks import Stack

#: how long a reachability check waits for an address to answer (seconds)
CONNECT_TIMEOUT = 3.0
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


def check_stack(stack: Stack, reach: bool = True) -> None:
    """Refuse (:class:`ConfigError`) a stack that cannot work: an orchestrator whose package
    is missing (naming the extra) or that has no such option, a remote cluster whose workers
    could not reach the stack's metadata or artifact store (a local file or SQLite database),
    and, with ``reach``, an orchestrator address or tracking server that does not answer."""
    from heron.orchestrators import check_options

    check_options(stack.orchestrator, stack.orchestrator_options)
    address = stack.orchestrator_options.get("address")
    host = address_host(address) if isinstance(address, str) else None
    if host is not None and host not in _LOCAL_HOSTS:
        _check_reachable_by_workers(stack, host)
    if not reach:
        return
    if host is not None:
        port = address_port(address)
        if port is not None:
            _connect(host, port, f"the {stack.orchestrator} cluster at {address}", stack)
    if stack.tracking_uri and uris.tracking_uri_kind(stack.tracking_uri) == uris.HTTP:
        parts = urlsplit(stack.tracking_uri)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        _connect(parts.hostname or "", port, f"the tracking server {stack.tracking_uri}", stack)


def address_host(address: str) -> str | None:
    """The host of an engine address (``tcp://h:8786``, ``ray://h:10001``, ``h:6379``);
    ``None`` for ``auto`` and ``local``, which mean this machine's cluster."""
    if address.strip().lower() in ("auto", "local"):
        return None
    text = address if "://" in address else f"tcp://{address}"
    return (urlsplit(text).hostname or "").lower()


def address_port(address: str) -> int | None:
    text = address if "://" in address else f"tcp://{address}"
    try:
        return urlsplit(text).port
    except ValueError:
        raise ConfigError(f"The address {address!r} has no valid port.") from None


def _check_reachable_by_workers(stack: Stack, host: str) -> None:
    tracking = stack.tracking_uri
    kind = uris.tracking_uri_kind(tracking) if tracking else uris.SQLITE
    where = f"workers of the {stack.orchestrator} cluster at {host}"
    if kind == uris.SQLITE:
        raise ConfigError(
            f"Stack {stack.name!r}: the {where} cannot write to "
            f"{tracking or 'the local workspace store'} (a SQLite file on this machine). Give "
            "the stack a tracking URI they can reach: a heron server (--tracking-uri "
            "http://host:5151) or PostgreSQL."
        )
    artifact = stack.artifact_uri
    if artifact is None and kind == uris.HTTP:
        if _is_local_url(tracking or ""):
            raise ConfigError(
                f"Stack {stack.name!r}: the {where} cannot reach the tracking server "
                f"{tracking} (an address of this machine). Use an address they can reach."
            )
        return  # artifacts go through the server
    if artifact is None or _is_local_path(artifact):
        raise ConfigError(
            f"Stack {stack.name!r}: the {where} cannot read or write the artifact store "
            f"{artifact or 'of the local workspace'} (files on this machine). Give the stack "
            "an artifact URI they can reach (--artifact-uri s3://bucket/heron, gs://…), or a "
            "server tracking URI (http://…) that proxies artifacts."
        )


def _is_local_path(uri: str) -> bool:
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else "file"
    return scheme in ("file", "local")


def _is_local_url(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in _LOCAL_HOSTS


def _connect(host: str, port: int, what: str, stack: Stack) -> None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            return
    except OSError as e:
        reason: Any = e.strerror or e
        raise ConfigError(
            f"Stack {stack.name!r}: {what} cannot be reached from here ({reason}, waited up "
            f"to {CONNECT_TIMEOUT:g} s). Check that it runs and that this machine can reach "
            f"{host}:{port}, or change the stack (`heron stack update {stack.name}`)."
        ) from None
