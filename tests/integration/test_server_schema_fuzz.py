"""A bounded schemathesis run against `heron server`'s /openapi.json: a few hundred generated
requests over every operation; none may answer 500 or a body its schema does not allow."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 6


@pytest.fixture(scope="module")
def heron_api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schema-fuzz")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--no-access-log", "--reap-interval", "0"),
    ) as server:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        schema.config.base_url = server.url
        yield schema


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


def test_no_operation_answers_500_or_breaks_its_schema(heron_api):
    failures = []
    operations = 0
    for result in heron_api.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case):
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            call()
        except Exception as e:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {e}"[:2000])
    assert operations >= 50
    assert not failures, "\n\n".join(failures)
