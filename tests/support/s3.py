"""An S3 endpoint on 127.0.0.1 for the object-storage tier: moto's standalone server.

``start_s3_server()`` runs ``python -m moto.server -H 127.0.0.1 -p <free port>`` (this
interpreter's moto, the ``moto[server]`` test dependency) as a subprocess and waits until it
answers; :class:`S3Server` then creates buckets (boto3), lists them, and says which
environment a process needs to reach it through s3fs (:attr:`S3Server.env`):

- ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (dummy values moto accepts) and
  ``AWS_DEFAULT_REGION``;
- ``AWS_ENDPOINT_URL``: botocore (>= 1.31, so aiobotocore under s3fs too) reads it whenever a
  client is made, so it works in this process after ``monkeypatch.setenv`` as well as in
  subprocesses (``heron gc``, ``heron server --artifacts-uri s3://…``);
- ``FSSPEC_S3_ENDPOINT_URL``: fsspec's own config, read from the environment when fsspec is
  imported (subprocesses); in this process :meth:`S3Server.use_in_process` sets
  ``fsspec.config.conf["s3"]["endpoint_url"]`` instead, which also keeps s3fs instances made
  for the endpoint apart from any made before;
- ``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` pointing nowhere, and no
  ``AWS_PROFILE``/``AWS_SESSION_TOKEN``, so that a developer's ``~/.aws`` cannot interfere.

The fixtures built on it (``s3_server``, ``s3_bucket``) live in tests/integration/conftest.py.
Without moto the tier is skipped, except when ``CI=true``: then it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

#: how long moto may take to answer after starting (a hang, not a measurement)
START_LIMIT_S = 60
#: the region buckets are made in (moto takes any)
REGION = "us-east-1"
#: variables of the developer's AWS set-up that must not leak into the tests
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"The S3 tier cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"No S3 endpoint: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bucket:
    """A bucket of its own for one test: ``name``, ``uri`` (``s3://<name>/heron``, an artifact
    root), and listings of what really is in it (through boto3, not through Heron)."""

    def __init__(self, server: S3Server, name: str) -> None:
        self.server = server
        self.name = name
        self.uri = f"s3://{name}/heron"

    def keys(self, prefix: str = "") -> list[str]:
        """Every key in the bucket (under ``prefix``), sorted."""
        return self.server.keys(self.name, prefix)

    def objects(self) -> set[str]:
        """Content hashes of the artifact objects under ``heron/objects/`` (a folder object
        counts once, however many files it holds)."""
        found = set()
        for key in self.keys("heron/objects/"):
            parts = key.split("/")  # heron, objects, <sha[:2]>, <sha[2:]>[, member…]
            found.add(parts[2] + parts[3])
        return found

    def read(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()


class S3Server:
    """A running moto server: its ``endpoint_url`` and the ``env`` that reaches it."""

    def __init__(self, endpoint_url: str, home: Path) -> None:
        self.endpoint_url = endpoint_url
        nowhere = str(home / "no-aws-config")
        self.env: dict[str, str] = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint_url,
            "FSSPEC_S3_ENDPOINT_URL": endpoint_url,
            "AWS_CONFIG_FILE": nowhere,
            "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        self._client: Any = None

    def client(self) -> Any:
        """A boto3 S3 client of this server (made once)."""
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._client

    def create_bucket(self, name: str | None = None) -> str:
        """Make a bucket (a fresh random name unless given); its name."""
        name = name or f"heron-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def delete_bucket(self, name: str) -> None:
        """Empty and delete a bucket."""
        client = self.client()
        keys = self.keys(name)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            client.delete_objects(Bucket=name, Delete={"Objects": batch})
        client.delete_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def subprocess_env(self, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        """``base`` (default: this process's environment) with the S3 variables and ``extra``:
        the environment of a subprocess that uses this server through s3fs."""
        env = dict(os.environ if base is None else base)
        for name in UNSET:
            env.pop(name, None)
        env.update(self.env)
        env.update(extra)
        return env

    def use_in_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point s3fs in this process at the server until the test ends."""
        import fsspec.config

        for name in UNSET:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        # FSSPEC_S3_* was read when fsspec was imported: set its configuration directly
        monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": self.endpoint_url})


def forget_s3_instances() -> None:
    """Drop cached s3fs instances and artifact stores, so that the next test gets new ones
    (they hold connections, and, on instances not made by the artifact store, listings)."""
    from heron.artifacts.store import open_artifact_store

    open_artifact_store.cache_clear()
    try:
        import s3fs
    except ImportError:
        return
    s3fs.S3FileSystem.clear_instance_cache()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def start_s3_server() -> tuple[subprocess.Popen[bytes], S3Server, Path]:
    """Start moto on a free port of 127.0.0.1 (a few tries: another process may take the
    port first); the process, the server and its temporary folder (its log is there)."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as e:
        _unavailable(f"{e.name} is not installed (pip install 'moto[server]' s3fs boto3)")
    home = Path(tempfile.mkdtemp(prefix="heron-s3-"))
    log = home / "moto.log"
    last = ""
    for _ in range(3):
        port = _free_port()
        with log.open("wb") as out:  # moto logs every request: a file, never an unread pipe
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_LIMIT_S
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(url + "/moto-api/"):
                return process, S3Server(url, home), home
            time.sleep(0.05)
        stop_s3_server(process)
        last = log.read_text(errors="replace")[-2000:]
    shutil.rmtree(home, ignore_errors=True)
    _unavailable(f"moto's server did not start: {last}")
    raise AssertionError("unreachable")


def stop_s3_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
