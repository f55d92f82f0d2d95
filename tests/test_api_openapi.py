"""The OpenAPI document is valid, complete (every route, body and error documented) and accurate: real
responses of a running server validate against the schemas it declares for their status codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from service_helpers import ScriptedAnalyzer, finished, poll_until, running_api, upload
from typer.testing import CliRunner

from framesentry.api.app import create_app
from framesentry.cli.app import _register, app
from framesentry.config import Settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """What `framesentry openapi` prints."""
    _register()
    result = CliRunner().invoke(app, ["openapi"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(work_dir=tmp_path_factory.mktemp("openapi"), queue_name=f"oa-{uuid.uuid4().hex[:8]}")
    app = create_app(settings, analyzer=ScriptedAnalyzer(steps=1, step_s=0))
    with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def conforms(spec: dict[str, Any], response: httpx.Response, path: str, method: str) -> None:
    """The body validates against the schema the spec documents for this path, method and status."""
    documented = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, f"{method} {path} -> {response.status_code} not documented"
    content = documented[str(response.status_code)].get("content")
    if content is None:
        assert not response.content
        return
    schema = content["application/json"]["schema"]
    registry: Registry[Any] = Registry().with_resource(
        "urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    ref = {"$ref": "urn:spec" + schema["$ref"]} if "$ref" in schema else schema
    Draft202012Validator(ref, registry=registry).validate(response.json())


def test_spec_is_valid_and_complete(spec: dict[str, Any]) -> None:
    validate_spec(spec)
    assert spec["openapi"].startswith("3.1")
    operations = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert operations == {
        ("POST", "/v1/analyses"), ("GET", "/v1/analyses"), ("GET", "/v1/analyses/{analysis_id}"),
        ("DELETE", "/v1/analyses/{analysis_id}"), ("GET", "/v1/analyses/{analysis_id}/webhooks"),
        ("GET", "/v1/health"), ("GET", "/v1/ready"), ("GET", "/v1/system"),
        ("POST", "/v1/streams"), ("GET", "/v1/streams"), ("GET", "/v1/streams/{stream_id}"),
        ("DELETE", "/v1/streams/{stream_id}"), ("GET", "/v1/streams/{stream_id}/series"),
        ("GET", "/v1/stream-keys"), ("DELETE", "/v1/stream-keys/{key_id}"),
        ("POST", "/v1/whip/{key}"), ("OPTIONS", "/v1/whip/{key}"), ("DELETE", "/v1/whip/{key}/{resource_id}"),
        ("GET", "/v1/whip/publish.html"), ("POST", "/v1/whip"), ("OPTIONS", "/v1/whip"),
        ("DELETE", "/v1/whip/sessions/{resource_id}"),
        ("POST", "/v1/keys"), ("GET", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}"),
        ("GET", "/v1/analyses/{analysis_id}/explanation"), ("GET", "/v1/analyses/{analysis_id}/artifacts/{name}"),
        ("GET", "/v1/analyses/{analysis_id}/report.pdf"), ("GET", "/v1/streams/{stream_id}/artifacts/{name}"),
    }
    # The WebSocket is not an OpenAPI operation; its message schema is published as a component.
    assert "seq" in spec["components"]["schemas"]["ScoreMessage"]["properties"]
    post = spec["paths"]["/v1/analyses"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
    assert "callback_url" in body["properties"]
    assert {"202", "409", "413", "415", "422", "503"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
    assert "HTTPValidationError" not in json.dumps(spec)


def test_cli_matches_the_app(spec: dict[str, Any]) -> None:
    assert spec == create_app(Settings(), run_worker=False).openapi()


def test_responses_match_the_spec(spec: dict[str, Any], client: httpx.Client, clip_faces_speech: Path,
                                  not_media_file: Path) -> None:
    created = upload(client, clip_faces_speech, callback_url="https://example.com/hook")
    conforms(spec, created, "/v1/analyses", "post")
    aid = created.json()["id"]
    done = poll_until(client, aid, finished, 30)
    assert done["status"] == "done" and done["result"] is not None
    conforms(spec, client.get(f"/v1/analyses/{aid}"), "/v1/analyses/{analysis_id}", "get")
    conforms(spec, client.get("/v1/analyses?limit=1"), "/v1/analyses", "get")
    conforms(spec, client.get(f"/v1/analyses/{aid}/webhooks"), "/v1/analyses/{analysis_id}/webhooks", "get")
    conforms(spec, client.get("/v1/health"), "/v1/health", "get")
    explanation = client.get(f"/v1/analyses/{aid}/explanation")  # the deep pass is off in the tests
    conforms(spec, explanation, "/v1/analyses/{analysis_id}/explanation", "get")
    assert explanation.json() == {"deep_pass": None, "explanation": None, "artifacts": []}
    conforms(spec, client.get(f"/v1/analyses/{aid}/report.pdf"), "/v1/analyses/{analysis_id}/report.pdf", "get")
    conforms(spec, client.get(f"/v1/analyses/{aid}/artifacts/timeline.png"),
             "/v1/analyses/{analysis_id}/artifacts/{name}", "get")
    conforms(spec, upload(client, not_media_file, content_type="application/pdf"), "/v1/analyses", "post")
    conforms(spec, client.get("/v1/analyses?limit=500"), "/v1/analyses", "get")
    conforms(spec, client.get("/v1/analyses/nope"), "/v1/analyses/{analysis_id}", "get")
    conforms(spec, client.delete(f"/v1/analyses/{aid}"), "/v1/analyses/{analysis_id}", "delete")
