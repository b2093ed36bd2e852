"""The Director API keeps the contract its OpenAPI document states: every route is in it, answers
validate against their declared schemas, every error is a problem+json document, and job lists
carry summaries, not the bulky fields."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, ValidationError
from starlette.routing import Mount, Route

from mcp_server.api import models
from mcp_server.api.fields import EMPLOYEE_NAME
from mcp_server.api.payloads import MAX_BODY_BYTES
from mcp_server.api.routing import ApiRoute, Operation
from mcp_server.app import System
from tests.integration.helpers import add_job
from tools.shaping import JobResult

KEY = {"Authorization": "Bearer test-director-key"}
PREFIX = "/api/v1"
JOB = uuid.UUID("5eed0000-0000-4000-8000-000000000001")
BULKY = ("output", "diff", "validation", "resources", "output_truncated", "diff_truncated")
CHECKS = {"passed": False, "checks": [
    {"command": "pytest -q", "passed": False, "exit_code": 1, "duration_ms": 1200,
     "timed_out": False, "output": "F" * 5000},
]}


@pytest.fixture
async def document(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get(f"{PREFIX}/openapi.json", headers=KEY)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def validate(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """`value` against `schema`, whose `$ref`s point into the document's components."""
    Draft202012Validator({**schema, "components": document["components"]}).validate(value)


def declared(document: dict[str, Any], path: str, method: str, response: httpx.Response
             ) -> dict[str, Any]:
    """The schema the document declares for this answer (its status and content type)."""
    answers = document["paths"][PREFIX + path][method.lower()]["responses"]
    status = str(response.status_code)
    answer = answers[status] if status in answers else answers["default"]
    media_type = response.headers["content-type"].split(";")[0]
    schema: dict[str, Any] = answer["content"][media_type]["schema"]
    return schema


# ---- the OpenAPI document ----------------------------------------------------------------


async def test_the_document_lists_every_route_and_method_of_the_app(
    system: System, document: dict[str, Any]
) -> None:
    app = system.api_app()
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == PREFIX)
    served = {
        (PREFIX + route.path, method.lower())
        for route in mount.routes if isinstance(route, Route)
        for method in route.methods or () if method != "HEAD"
    }
    listed = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == listed
    assert {f"{PREFIX}/openapi.json", f"{PREFIX}/jobs/{{job_id}}/runlog"} <= set(
        document["paths"])
    assert document["openapi"].startswith("3.1")


async def test_the_document_declares_bodies_parameters_and_answers(
    document: dict[str, Any]
) -> None:
    paths = document["paths"]
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)
            assert "default" in op["responses"], (path, method)
            named = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert named == {part[1:-1] for part in path.split("/") if part.startswith("{")}
    hire = paths[f"{PREFIX}/employees"]["post"]
    assert hire["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewEmployee"}
    assert "201" in hire["responses"]
    query = {p["name"] for p in paths[f"{PREFIX}/jobs"]["get"]["parameters"]}
    assert query == {"status", "limit"}
    assert "204" in paths[f"{PREFIX}/tokens/{{name}}"]["delete"]["responses"]
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    with pytest.raises(ValidationError):  # the schemas bite: a slot without its fields
        validate(document, {"$ref": "#/components/schemas/Pool"}, {"slots": [{"index": 0}]})


async def test_the_document_needs_the_director_key(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 401


async def test_answers_validate_against_their_declared_schemas(
    api: httpx.AsyncClient, system: System, document: dict[str, Any]
) -> None:
    await add_job(system.db, JOB, "p" * 500, output="out\n", diff="+x\n", validation=CHECKS)
    await api.post(f"{PREFIX}/employees", headers=KEY, json={
        "name": "agent", "adapter": "cli", "command": ["/bin/echo", "{prompt}"]})
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO ledger (job_id, employee, kind, tokens_in, tokens_out, cost, "
            "latency_ms) VALUES ($1, 'agent', 'call', 10, 20, 0, 5)", JOB)
    calls: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("POST", "/tokens", "/tokens", {"name": "cursor"}),
        ("GET", "/tokens", "/tokens", None),
        ("GET", "/employees", "/employees", None),
        ("PATCH", "/employees/agent", "/employees/{name}", {"skills": ["python"]}),
        ("POST", "/employees/agent/suspend", "/employees/{name}/suspend", None),
        ("GET", "/jobs", "/jobs", None),
        ("GET", f"/jobs/{JOB}", "/jobs/{job_id}", None),
        ("GET", f"/jobs/{JOB}/output", "/jobs/{job_id}/output", None),
        ("GET", "/pool", "/pool", None),
        ("GET", "/audit/verify", "/audit/verify", None),
        ("GET", "/ledger", "/ledger", None),
        ("POST", f"/jobs/{JOB}/cancel", "/jobs/{job_id}/cancel", None),
        ("GET", "/jobs/beef", "/jobs/{job_id}", None),  # an error, against its Problem schema
    ]
    for method, path, template, body in calls:
        response = await api.request(method, PREFIX + path, headers=KEY, json=body)
        assert response.status_code < 500, (path, response.text)
        schema = declared(document, template, method, response)
        value = response.text if schema.get("type") == "string" else response.json()
        validate(document, schema, value)
    ledger = (await api.get(f"{PREFIX}/ledger", headers=KEY)).json()["entries"]
    assert ledger[0]["cost_usd"] and ledger[0]["employee"] == "agent"


def test_a_job_carries_every_field_of_the_mcp_result() -> None:
    assert set(JobResult.model_fields) <= set(models.Job.model_fields)


def test_a_route_must_declare_its_path_parameters() -> None:
    async def handler(_: Any) -> Any:
        raise AssertionError

    with pytest.raises(ValueError, match="name"):
        ApiRoute("/employees/{name}", {"GET": Operation(handler, "x")})
    ApiRoute("/employees/{name}", {"GET": Operation(handler, "x")}, params={"name": EMPLOYEE_NAME})


# ---- job lists ---------------------------------------------------------------------------


async def test_a_job_list_has_summaries_without_the_bulky_fields(
    api: httpx.AsyncClient, system: System
) -> None:
    await add_job(system.db, JOB, "first line\n" + "p" * 5000, output="o" * 50_000,
                  diff="+d\n" * 10_000, validation=CHECKS, error="boom\ntraceback …")
    [row] = (await api.get(f"{PREFIX}/jobs", headers=KEY)).json()["jobs"]
    assert not set(BULKY) & set(row)
    assert len(row["prompt"]) == 200 and row["prompt"].startswith("first line")
    assert (row["error"], row["validation_passed"]) == ("boom", False)
    assert set(row) == set(models.JobSummary.model_fields)
    whole = (await api.get(f"{PREFIX}/jobs/{JOB}", headers=KEY)).json()
    assert whole["validation"] == CHECKS and len(whole["prompt"]) > 5000
    assert (await api.get(f"{PREFIX}/jobs/{JOB}/output", headers=KEY)).text == "o" * 50_000


async def test_a_job_whose_error_is_only_whitespace_is_listed(
    api: httpx.AsyncClient, system: System
) -> None:
    await add_job(system.db, JOB, error=" \n ")
    response = await api.get(f"{PREFIX}/jobs", headers=KEY)
    assert response.status_code == 200 and response.json()["jobs"][0]["error"] is None


# ---- every error is problem+json ---------------------------------------------------------


ERRORS: dict[str, tuple[str, str, dict[str, Any], int, str]] = {
    # kind: method, path, request arguments, status, title
    "unknown-route": ("GET", "/api/v1/nothing", {"headers": KEY}, 404, "not_found"),
    "unknown-object": ("GET", "/api/v1/jobs/beef", {"headers": KEY}, 404, "not_found"),
    "wrong-method": ("PUT", "/api/v1/pool", {"headers": KEY}, 405, "method_not_allowed"),
    "bad-input": ("POST", "/api/v1/tokens", {"headers": KEY, "json": {"name": 5}}, 400,
                  "invalid_input"),
    "bad-json": ("POST", "/api/v1/tokens", {"headers": KEY, "content": b"{"}, 400,
                 "invalid_input"),
    "too-large": ("POST", "/api/v1/tokens",
                  {"headers": KEY, "content": b" " * (MAX_BODY_BYTES + 1)}, 413,
                  "request_entity_too_large"),
    "no-key": ("GET", "/api/v1/pool", {}, 401, "unauthorized"),
    "wrong-key": ("GET", "/api/v1/openapi.json", {"headers": {"Authorization": "Bearer x"}},
                  401, "unauthorized"),
}


@pytest.mark.parametrize("kind", ERRORS)
async def test_every_error_kind_is_a_problem_document(
    api: httpx.AsyncClient, document: dict[str, Any], kind: str
) -> None:
    method, path, arguments, status, title = ERRORS[kind]
    response = await api.request(method, path, **arguments)
    assert_problem(document, response, status, title)


async def test_a_conflict_is_a_409_problem(
    api: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    await api.post(f"{PREFIX}/tokens", headers=KEY, json={"name": "twice"})
    again = await api.post(f"{PREFIX}/tokens", headers=KEY, json={"name": "twice"})
    assert_problem(document, again, 409, "conflict")


async def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(
    api: httpx.AsyncClient, system: System, document: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("dsn=postgresql://aura:s3cret@db/aura")

    monkeypatch.setattr(system.queue, "list_jobs", broken)
    with caplog.at_level(logging.ERROR, logger="mcp_server.http"):
        response = await api.get(f"{PREFIX}/jobs", headers=KEY)
    body = assert_problem(document, response, 500, "internal_error")
    assert "s3cret" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text and "incident" in body["detail"]


def assert_problem(document: dict[str, Any], response: httpx.Response, status: int,
                   title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    validate(document, {"$ref": "#/components/schemas/Problem"}, body)
    assert (body["type"], body["title"], body["status"]) == ("about:blank", title, status)
    assert body["detail"]
    return body
