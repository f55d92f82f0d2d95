"""schemathesis over the whole OpenAPI spec, in-process against the embedded-mode app (ASGI).

Every operation gets generated requests (valid and invalid) and every response must be no 5xx, have a status
code the spec lists for it, the content type it lists, and a body that matches its schema. Bounded so CI pays
about a minute: ``EXAMPLES`` per operation, hypothesis deadline off (the first call of an operation can load
models). A longer run: ``SCHEMATHESIS_EXAMPLES=500 .venv/bin/python -m pytest tests/test_api_schemathesis.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from framesentry.api.app import create_app
from framesentry.config import Settings

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@schemathesis.serializer("application/sdp")
def _sdp(ctx: Any, value: Any) -> bytes:
    """WHIP offers are SDP text (``application/sdp``); schemathesis knows no serializer for it."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The embedded app; schemathesis runs its lifespan (migrated SQLite, in-process worker, live hub) on its
    first request and keeps it for the process, so it is ended here."""
    from schemathesis.python import asgi

    settings = Settings(work_dir=tmp_path_factory.mktemp("schemathesis"), live_enabled=True, rtmp_port=0)
    yield create_app(settings)
    asgi.shutdown_lifespans()


def test_every_operation_keeps_to_the_spec(app: Any) -> None:
    """One hypothesis run per operation (schemathesis' own pytest plugin does not load on pytest 9); all the
    failures are reported together, each with the request that reproduces it."""
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate, Phase.shrink], database=None)
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except (Exception, ExceptionGroup) as exc:  # schemathesis reports a FailureGroup
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 15, operations
    assert not failures, "\n\n".join(failures)


# --- regressions for what schemathesis found (each failed before its fix) ---------------------------------------


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The embedded app with live ingest off, as the test suite runs it by default."""
    from starlette.testclient import TestClient

    settings = Settings(work_dir=tmp_path_factory.mktemp("regressions"), live_enabled=False)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("method,url", [
    ("DELETE", f"/v1/stream-keys/{2**63}"),  # was 500: OverflowError "Python int too large to convert to SQLite"
    ("DELETE", "/v1/stream-keys/0"),
    ("GET", f"/v1/streams?key_id={2**64}"),
    ("GET", f"/v1/streams?offset={2**63}"),
    ("GET", f"/v1/analyses?offset={2**63}"),
])
def test_ids_and_offsets_beyond_a_database_integer_are_422(plain_client: Any, method: str, url: str) -> None:
    res = plain_client.request(method, url)
    assert res.status_code == 422, res.text
    assert res.json()["error"]["code"] == "validation_error"


def test_the_largest_database_integer_is_still_a_plain_answer(plain_client: Any) -> None:
    assert plain_client.delete(f"/v1/stream-keys/{2**63 - 1}").status_code == 404
    assert plain_client.get(f"/v1/analyses?offset={2**63 - 1}").json()["items"] == []


def test_whip_with_live_ingest_off_is_503_not_500(plain_client: Any) -> None:
    """Was 500 (AttributeError: no app.state.whip) whenever FRAMESENTRY_LIVE_ENABLED=false."""
    for res in (plain_client.delete("/v1/whip/somekey/someid"),
                plain_client.post("/v1/whip/somekey", content=b"v=0\r\n", headers={"Content-Type": "application/sdp"})):
        assert res.status_code == 503, res.text
        assert res.json()["error"] == {"code": "service_unavailable", "message": res.json()["error"]["message"],
                                       "details": {"reason": "live_disabled"}}
