"""A property-based fuzz of the explorer's API from its own OpenAPI schema (schemathesis's
strategies, driven by Hypothesis, calling the app in process): valid requests and requests that
break the schema, for every operation; no answer may be a 5xx.

Schemathesis's pytest plugin (``from_fixture``) does not run under this pytest, so the test
draws cases from each operation's Hypothesis strategy itself.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser: `make test-fast` skips them
from hypothesis import HealthCheck, given, settings  # noqa: E402

MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.fixture(scope="module")
def operations(explorer2) -> dict:
    from vaekit.serve.app import create_app

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(explorer2))
    found = [result.ok() for result in schema.get_all_operations()]
    return {f"{op.method.upper()} {op.path}": op for op in found}


def test_the_schema_has_every_operation(operations: dict) -> None:
    assert len(operations) == 8, sorted(operations)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_no_server_errors(operations: dict, mode) -> None:
    for name, operation in operations.items():
        if mode == schemathesis.GenerationMode.NEGATIVE and not ("POST" in name or "{" in name):
            continue  # nothing to break in a request without parameters or a body

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,  # the same cases every run: a failure is a bug, not bad luck
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.text)
            assert response.headers["content-type"] == ["application/json"], case.path

        check()
