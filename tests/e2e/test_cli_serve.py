"""``heron serve`` as a user types it: help, and the errors that stop it before it serves
(serving itself is covered by tests/integration/test_serving_server.py)."""

from __future__ import annotations

import socket
import textwrap

import pytest

from tests.e2e.test_cli import Heron
from tests.support.cli_output import error_line

pytestmark = pytest.mark.e2e

LOG_MODEL = textwrap.dedent(
    """
    import heron
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True)
    with heron.start_run() as run:
        info = heron.log_model(LogisticRegression(max_iter=500).fit(X, y), "iris",
                               input_example=X[:2])
    print(info.model_uri)
    """
)


@pytest.fixture
def cli(tmp_path) -> Heron:
    return Heron(tmp_path, "sqlite:///" + str(tmp_path / "heron.db"))


def test_help_names_the_formats_and_options(cli):
    out = cli.ok("serve", "--help")
    for word in (
        "MODEL_URI",
        "dataframe_split",
        "text/csv",
        "--port",
        "--workers",
        "--batch-max-size",
        "--batch-timeout-ms",
        "--max-body-mb",
        "--host",
    ):
        assert word in out
    assert "serve" in cli.ok("--help")


def test_unknown_model_is_one_error_line(cli):
    line = error_line(cli("serve", "models:/missing/1", "--port", "0"))
    assert "no metadata database" in line and "--tracking-uri" in line  # a typo'd URI
    assert not (cli.tmp_path / "heron.db").exists()  # and none was created
    cli.python("import heron; heron.Client().list_models()")
    line = error_line(cli("serve", "models:/missing/1", "--port", "0"))
    assert "missing" in line
    line = error_line(cli("serve", "not a uri", "--port", "0"))
    assert "models:/" in line


def test_taken_port_is_one_error_line(cli):
    uri = cli.python(LOG_MODEL).strip().splitlines()[-1]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(cli("serve", uri, "--port", str(port)))
    assert f"127.0.0.1:{port}" in line and "--port" in line


def test_bad_option_values_are_refused(cli):
    result = cli("serve", "models:/x/1", "--workers", "0")
    assert result.returncode == 2 and "--workers" in result.stderr
    result = cli("serve", "models:/x/1", "--batching", "sometimes")
    assert result.returncode == 2 and "--batching" in result.stderr
