"""Bad requests to the Director API: each is refused at the edge with a 4xx problem+json that
names what was wrong, and nothing reaches the database (no row, no audit entry)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mcp_server.api.payloads import MAX_BODY_BYTES
from mcp_server.app import System

KEY = {"Authorization": "Bearer test-director-key"}
NUL = "\x00"
UNSET: Any = object()
GOOD_HIRE = {"name": "llama", "adapter": "ollama", "model": "llama3.2:3b"}
DEEP = 100_000


@dataclass(frozen=True)
class Bad:
    """One bad request: what is sent, the status expected and what the detail must name."""

    method: str
    path: str
    names: str | None  # a substring of the detail: the field, or what was wrong
    json: Any = UNSET
    content: bytes | None = None
    status: int = 400
    headers: dict[str, str] = field(default_factory=lambda: dict(KEY))


def hire(names: str, **fields: Any) -> Bad:
    """A hire that differs from a good one in `fields`."""
    return Bad("POST", "/api/v1/employees", names, json={**GOOD_HIRE, **fields})


def cli_hire(names: str, command: Any) -> Bad:
    return Bad("POST", "/api/v1/employees", names,
               json={"name": "agent", "adapter": "cli", "command": command})


def token(names: str, name: Any) -> Bad:
    return Bad("POST", "/api/v1/tokens", names, json={"name": name})


def raw(path: str, body: bytes, names: str, status: int = 400) -> Bad:
    return Bad("POST", path, names, content=body, status=status)


def nested(depth: int) -> bytes:
    return b'{"name": "a", "adapter": "cli", "command": ' + b"[" * depth + b"]" * depth + b"}"


CASES: dict[str, Bad] = {
    # POST /api/v1/employees: the wrong JSON type where a string belongs
    "hire-name-number": hire("name must be a string, not the number 5", name=5),
    "hire-name-list": hire("name must be a string, not a list", name=["llama"]),
    "hire-name-object": hire("name must be a string, not an object", name={"n": 1}),
    "hire-name-null": hire("name must be a string, not null", name=None),
    "hire-name-bool": hire("name must be a string, not true", name=True),
    "hire-adapter-number": hire("adapter must be one of", adapter=3),
    "hire-model-number": hire("model must be a string", model=3.5),
    "hire-model-list": hire("model must be a string, not a list", model=["m"]),
    "hire-base-url-list": hire("base_url must be a string", base_url=["http://x"]),
    "hire-api-key-env-object": hire("api_key_env must be a string", api_key_env={}),
    # strings (or others) where a bool, a list or a number belongs
    "hire-network-string-false": hire('network must be true or false, not the string "false"',
                                      network="false"),
    "hire-network-string-true": hire("network must be true or false", network="true"),
    "hire-network-number": hire("network must be true or false, not the number 1", network=1),
    "hire-network-null": hire("network must be true or false, not null", network=None),
    "hire-skills-string": hire('skills must be a list, not the string "python"',
                               skills="python"),
    "hire-skills-object": hire("skills must be a list, not an object", skills={"a": 1}),
    "hire-skills-number-item": hire("skills[0] must be a string", skills=[1]),
    "hire-skills-null-item": hire("skills[1] must be a string, not null", skills=["a", None]),
    "hire-skills-empty-item": hire("skills[0] must not be empty", skills=[""]),
    "hire-skills-too-many": hire("skills must have at most 32 items",
                                 skills=[f"s{i}" for i in range(33)]),
    "hire-command-string": cli_hire("command must be a list", "rm -rf /"),
    "hire-command-empty": cli_hire("command must not be empty", []),
    "hire-command-number-part": cli_hire("command[1] must be a string", ["echo", 5]),
    "hire-command-empty-part": cli_hire("command[1] must not be empty", ["echo", ""]),
    "hire-command-nested-list": cli_hire("command[0] must be a string, not a list", [["a"]]),
    "hire-command-too-long": cli_hire("command must have at most 64 items", ["x"] * 65),
    "hire-price-string-word": hire("price_in must be a number or a decimal string",
                                   price_in="cheap"),
    "hire-price-bool": hire("price_in must be a number or a decimal string", price_in=True),
    "hire-price-list": hire("price_out must be a number or a decimal string", price_out=[1]),
    "hire-price-null": hire("price_out must be a number or a decimal string", price_out=None),
    # NUL (and other characters that cannot be stored) in each string field
    "hire-name-nul": hire("name contains a NUL character", name=f"llama{NUL}"),
    "hire-adapter-nul": hire("adapter must be one of", adapter=f"cli{NUL}"),
    "hire-model-nul": hire("model contains a NUL character", model=f"llama{NUL}3"),
    "hire-base-url-nul": hire("base_url contains a NUL", base_url=f"http://h{NUL}/"),
    "hire-api-key-env-nul": hire("api_key_env contains a NUL", api_key_env=f"KEY{NUL}"),
    "hire-skill-nul": hire("skills[0] contains a NUL character", skills=[f"py{NUL}"]),
    "hire-command-nul": cli_hire("command[1] contains a NUL character", ["echo", f"a{NUL}b"]),
    "hire-model-newline": hire("model contains a control character", model="llama\n"),
    "hire-name-surrogate": raw("/api/v1/employees",
                               b'{"name": "ll\\ud800", "adapter": "ollama", "model": "m"}',
                               "name contains an unpaired surrogate"),
    # numbers out of range
    "hire-price-1e30": hire("price_in must be at most 1000000", price_in=1e30),
    "hire-price-1e30-string": hire("price_in must be at most 1000000", price_in="1e30"),
    "hire-price-1e400": raw("/api/v1/employees",
                            b'{"name": "x", "adapter": "ollama", "model": "m", "price_in": 1e400}',
                            "price_in must be at most 1000000"),
    "hire-price-huge-integer": raw("/api/v1/employees",
                                   b'{"name": "x", "adapter": "ollama", "model": "m", '
                                   b'"price_out": ' + b"9" * 5000 + b"}",
                                   "price_out must be at most 1000000"),
    "hire-price-negative": hire("price_in must be a non-negative number", price_in=-1),
    "hire-price-infinity-string": hire("price_in must be a non-negative number",
                                       price_in="Infinity"),
    "hire-price-too-precise": hire("price_out must have at most 6 decimal places",
                                   price_out="0.0000001"),
    "hire-price-nan-literal": raw("/api/v1/employees",
                                  b'{"name": "x", "adapter": "ollama", "price_in": NaN}',
                                  "not valid JSON"),
    # rules on values
    "hire-name-pattern": hire("name must be 1-63 characters", name="Bad Name"),
    "hire-name-too-long": hire("name must be 1-63 characters", name="a" * 64),
    "hire-adapter-unknown": hire("adapter must be one of", adapter="martian"),
    "hire-model-too-long": hire("model must be at most 200 characters", model="m" * 201),
    "hire-api-key-env-a-key": hire("api_key_env must name an environment variable",
                                   api_key_env="sk-abc123!"),
    "hire-base-url-scheme": hire("base_url must start with http", base_url="ftp://h/"),
    "hire-ollama-without-model": Bad("POST", "/api/v1/employees", "needs a model",
                                     json={"name": "x", "adapter": "ollama"}),
    # the body as a whole
    "hire-unknown-field": hire("salary is an unknown field", salary=3),
    "hire-two-unknown-fields": hire("salary is an unknown field; boss is an unknown field",
                                    salary=3, boss="me"),
    "hire-nul-in-field-name": hire("na\\u0000me is an unknown field", **{f"na{NUL}me": 1}),
    "hire-missing-fields": Bad("POST", "/api/v1/employees", "name is required", json={}),
    "hire-missing-adapter": Bad("POST", "/api/v1/employees", "adapter is required (or preset, "
                                "for a coding agent: claude-code", json={"name": "x"}),
    "hire-body-list": Bad("POST", "/api/v1/employees", "must be a JSON object, not a list",
                          json=[GOOD_HIRE]),
    "hire-body-number": Bad("POST", "/api/v1/employees", "must be a JSON object", json=5),
    "hire-body-string": Bad("POST", "/api/v1/employees", "must be a JSON object", json="hi"),
    "hire-body-null": Bad("POST", "/api/v1/employees", "must be a JSON object, not null",
                          json=None),
    "hire-body-not-json": raw("/api/v1/employees", b"{nope", "not valid JSON"),
    "hire-body-empty": raw("/api/v1/employees", b"", "the request body is empty"),
    "hire-body-not-utf8": raw("/api/v1/employees", b'{"name": "\xff"}', "not UTF-8"),
    "hire-body-deep": raw("/api/v1/employees", nested(DEEP), "nested deeper than 32 levels"),
    "hire-body-deep-in-strings-ok-but-nested": raw(
        "/api/v1/employees", b'{"name": "[[[[", "x": ' + b"{\"a\": " * 40 + b"1" + b"}" * 40
        + b"}", "nested deeper than 32 levels"),
    "hire-body-oversized": raw("/api/v1/employees",
                               b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}',
                               "larger than 1048576 bytes", status=413),
    # POST /api/v1/tokens
    "token-name-number": token("name must be a string, not the number 5", 5),
    "token-name-list": token("name must be a string, not a list", ["a"]),
    "token-name-null": token("name must be a string, not null", None),
    "token-name-nul": token("name contains a NUL character", f"a{NUL}"),
    "token-name-newline": token("name contains a control character", "a\nb"),
    "token-name-pattern": token("name must be 1-63 characters", "bad name"),
    "token-name-empty": token("name must be 1-63 characters", ""),
    "token-missing-name": Bad("POST", "/api/v1/tokens", "name is required", json={}),
    "token-unknown-field": Bad("POST", "/api/v1/tokens", "scope is an unknown field",
                               json={"name": "a", "scope": "all"}),
    "token-body-list": Bad("POST", "/api/v1/tokens", "must be a JSON object", json=["a"]),
    "token-body-deep": raw("/api/v1/tokens", b"[" * DEEP + b"]" * DEEP, "nested deeper"),
    "token-body-not-json": raw("/api/v1/tokens", b"name=a", "not valid JSON"),
    "token-body-oversized": raw("/api/v1/tokens", b" " * (MAX_BODY_BYTES + 1),
                                "larger than", status=413),
    # DELETE /api/v1/tokens/{name}
    "revoke-nul": Bad("DELETE", "/api/v1/tokens/%00", "name contains a NUL character"),
    "revoke-control": Bad("DELETE", "/api/v1/tokens/a%01b", "name contains a control"),
    "revoke-pattern": Bad("DELETE", "/api/v1/tokens/bad%20name", "name must be 1-63"),
    "revoke-too-long": Bad("DELETE", "/api/v1/tokens/" + "a" * 64, "name must be 1-63"),
    "revoke-unknown": Bad("DELETE", "/api/v1/tokens/ghost", "no active token named 'ghost'",
                          status=404),
    # GET /api/v1/jobs and /api/v1/jobs/{id}
    "jobs-limit-negative": Bad("GET", "/api/v1/jobs?limit=-1", "limit must be at least 1"),
    "jobs-limit-zero": Bad("GET", "/api/v1/jobs?limit=0", "limit must be at least 1"),
    "jobs-limit-huge": Bad("GET", "/api/v1/jobs?limit=501", "limit must be at most 500"),
    "jobs-limit-enormous": Bad("GET", "/api/v1/jobs?limit=" + "9" * 30,
                               "limit must be at most 500"),
    "jobs-limit-word": Bad("GET", "/api/v1/jobs?limit=ten", 'limit must be a whole number, '
                           'not the string "ten"'),
    "jobs-limit-fraction": Bad("GET", "/api/v1/jobs?limit=1.5", "limit must be a whole number"),
    "jobs-limit-empty": Bad("GET", "/api/v1/jobs?limit=", "limit must be a whole number"),
    "jobs-limit-nul": Bad("GET", "/api/v1/jobs?limit=%00", "limit must be a whole number"),
    "jobs-limit-twice": Bad("GET", "/api/v1/jobs?limit=1&limit=2", "limit is given more than"),
    "jobs-status-unknown": Bad("GET", "/api/v1/jobs?status=bogus", "status must be one of"),
    "jobs-status-nul": Bad("GET", "/api/v1/jobs?status=%00", "status must be one of"),
    "jobs-unknown-param": Bad("GET", "/api/v1/jobs?colour=red", "colour is an unknown field"),
    "job-id-word": Bad("GET", "/api/v1/jobs/banana", "job_id must be a job id"),
    "job-id-nul": Bad("GET", "/api/v1/jobs/%00", "job_id contains a NUL character"),
    "job-id-long": Bad("GET", "/api/v1/jobs/" + "a" * 300, "job_id must be a job id"),
    "job-id-unknown": Bad("GET", "/api/v1/jobs/00000000-0000-0000-0000-000000000000",
                          "no job", status=404),
    # GET /api/v1/ledger
    "ledger-limit-negative": Bad("GET", "/api/v1/ledger?limit=-1", "limit must be at least 1"),
    "ledger-limit-zero": Bad("GET", "/api/v1/ledger?limit=0", "limit must be at least 1"),
    "ledger-limit-huge": Bad("GET", "/api/v1/ledger?limit=100000", "limit must be at most 500"),
    "ledger-limit-exponent": Bad("GET", "/api/v1/ledger?limit=1e3", "limit must be a whole"),
    "ledger-unknown-param": Bad("GET", "/api/v1/ledger?colour=red", "colour is an unknown"),
    "ledger-since-word": Bad("GET", "/api/v1/ledger?since=yesterday", "since input should be a "
                             "valid datetime"),
    "ledger-job-prefix": Bad("GET", "/api/v1/ledger?job_id=8fe6d434", "job_id must be a job id"),
    "ledger-cursor-word": Bad("GET", "/api/v1/ledger?cursor=next", "cursor must be the "
                              "next_cursor"),
    "ledger-employee-upper": Bad("GET", "/api/v1/ledger?employee=Bob", "employee must be"),
    # PUT/DELETE /api/v1/budgets/{name}
    "budget-name-space": Bad("PUT", "/api/v1/budgets/a%20b", "name must be",
                             json={"scope": "global", "limit_usd": "1"}),
    "budget-scope-unknown": Bad("PUT", "/api/v1/budgets/b", "scope",
                                json={"scope": "team", "limit_usd": "1"}),
    "budget-limit-negative": Bad("PUT", "/api/v1/budgets/b", "limit_usd must be a non-negative",
                                 json={"scope": "global", "limit_usd": "-5"}),
    "budget-limit-missing": Bad("PUT", "/api/v1/budgets/b", "limit_usd",
                                json={"scope": "global"}),
    "budget-limit-places": Bad("PUT", "/api/v1/budgets/b", "at most 8 decimal places",
                               json={"scope": "global", "limit_usd": "0.123456789"}),
    "budget-period-week": Bad("PUT", "/api/v1/budgets/b", "period",
                              json={"scope": "global", "limit_usd": "1", "period": "week"}),
    "budget-employee-missing": Bad("PUT", "/api/v1/budgets/b", "names its employee",
                                   json={"scope": "employee", "limit_usd": "1"}),
    "budget-employee-unknown": Bad("PUT", "/api/v1/budgets/b", "no employee named 'ghost'",
                                   json={"scope": "employee", "employee": "ghost",
                                         "limit_usd": "1"}, status=404),
    "budget-unknown-field": Bad("PUT", "/api/v1/budgets/b", "colour",
                                json={"scope": "global", "limit_usd": "1", "colour": "red"}),
    "budget-delete-unknown": Bad("DELETE", "/api/v1/budgets/nope", "no budget named 'nope'",
                                 status=404),
    # routes and methods
    "unknown-api-route": Bad("GET", "/api/v1/nothing", "there is nothing at /api/v1/nothing",
                             status=404),
    "unknown-route": Bad("GET", "/nowhere", "there is nothing at /nowhere", status=404),
    "wrong-method-employees": Bad("PUT", "/api/v1/employees", "PUT is not allowed", json={},
                                  status=405),
    "wrong-method-tokens": Bad("DELETE", "/api/v1/tokens", "DELETE is not allowed", status=405),
    "wrong-method-token": Bad("GET", "/api/v1/tokens/a", "GET is not allowed", status=405),
    "wrong-method-pool": Bad("POST", "/api/v1/pool", "POST is not allowed", status=405),
    "wrong-method-job": Bad("DELETE", "/api/v1/jobs/00000000-0000-0000-0000-000000000000",
                            "DELETE is not allowed", status=405),
    "wrong-method-health": Bad("POST", "/health", "POST is not allowed", status=405),
    "no-director-key": Bad("POST", "/api/v1/employees", "Director key", json=GOOD_HIRE,
                           status=401, headers={}),
}


async def send(api: httpx.AsyncClient, bad: Bad) -> httpx.Response:
    if bad.json is not UNSET:
        content = json.dumps(bad.json).encode()
        headers = {**bad.headers, "Content-Type": "application/json"}
    else:
        content, headers = bad.content, bad.headers
    return await api.request(bad.method, bad.path, content=content, headers=headers)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status and body["type"] == "about:blank"
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    return body


async def rows_written(system: System) -> dict[str, int]:
    async with system.db.connection() as conn:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}")
                for table in ("employees", "api_tokens", "jobs", "audit_log", "budgets")}


def test_the_table_covers_enough_bad_requests() -> None:
    assert len(CASES) >= 70
    paths = {bad.path.split("?")[0] for bad in CASES.values()}
    assert {"/api/v1/employees", "/api/v1/tokens", "/api/v1/jobs", "/api/v1/ledger",
            "/api/v1/pool", "/api/v1/budgets/b"} <= paths


async def test_every_bad_request_is_a_problem_naming_the_fault_and_writes_nothing(
    api: httpx.AsyncClient, system: System
) -> None:
    # One system for the whole table (building one per case cost ~40 s); each case is still
    # checked on its own and every failure is reported by name.
    failures: dict[str, str] = {}
    for case, bad in CASES.items():
        try:
            body = assert_problem(await send(api, bad), bad.status)
            if bad.names is not None:
                assert bad.names in body["detail"], body["detail"]
            assert await rows_written(system) == dict.fromkeys(
                ("employees", "api_tokens", "jobs", "audit_log", "budgets"), 0)
        except AssertionError as exc:
            failures[case] = str(exc)[:300]
    assert not failures, failures


async def test_field_errors_are_listed_in_an_errors_member(api: httpx.AsyncClient) -> None:
    bad = hire("", network="false", skills="python", name=5)
    body = assert_problem(await send(api, bad), 400)
    assert body["errors"] == [
        {"field": "name", "message": "must be a string, not the number 5"},
        {"field": "network", "message": 'must be true or false, not the string "false"'},
        {"field": "skills", "message": 'must be a list, not the string "python" '
                                       '(a list of strings such as ["python", "review"])'},
    ]
    assert body["detail"] == "; ".join(f"{e['field']} {e['message']}" for e in body["errors"])


async def test_network_as_the_string_false_is_refused_not_stored_as_true(
    api: httpx.AsyncClient, system: System
) -> None:
    body = assert_problem(await send(api, hire("", network="false")), 400)
    assert body["detail"] == 'network must be true or false, not the string "false"'
    assert (await rows_written(system))["employees"] == 0


async def test_skills_as_one_string_is_refused_not_split_into_letters(
    api: httpx.AsyncClient
) -> None:
    body = assert_problem(await send(api, hire("", skills="python")), 400)
    assert body["detail"].startswith('skills must be a list, not the string "python"')


async def test_a_number_as_name_is_a_400_naming_name_not_a_500(api: httpx.AsyncClient) -> None:
    body = assert_problem(await send(api, hire("", name=5)), 400)
    assert body["detail"] == "name must be a string, not the number 5"


async def test_wrong_method_names_every_allowed_method(api: httpx.AsyncClient) -> None:
    response = await api.delete("/api/v1/employees", headers=KEY)
    assert_problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_a_deeply_nested_body_is_refused_quickly(api: httpx.AsyncClient) -> None:
    import time

    started = time.perf_counter()
    assert_problem(await send(api, raw("/api/v1/employees", nested(DEEP), "")), 400)
    assert time.perf_counter() - started < 2


async def test_a_body_declared_too_large_is_refused_before_it_is_read(
    api: httpx.AsyncClient
) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:  # a client that would never stop sending
            yield b" " * 65536

    response = await api.post("/api/v1/tokens", headers={**KEY}, content=endless())
    assert_problem(response, 413)


async def test_an_unexpected_error_is_a_generic_500_problem_and_logged(
    api: httpx.AsyncClient, system: System, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> list[Any]:
        raise RuntimeError("password=hunter2 at /srv/aura/secret")

    monkeypatch.setattr(system.roster, "list_employees", broken)
    with caplog.at_level(logging.ERROR, logger="mcp_server.http"):
        response = await api.get("/api/v1/employees", headers=KEY)
    body = assert_problem(response, 500)
    assert body["title"] == "internal_error" and "hunter2" not in response.text
    incident = body["detail"].rsplit(" ", 1)[-1]
    record = next(r for r in caplog.records if incident in r.getMessage())
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_good_requests_keep_their_shapes(api: httpx.AsyncClient) -> None:
    hired = await api.post("/api/v1/employees", headers=KEY, json={
        "name": "agent", "adapter": "cli", "command": ["/bin/echo", "--print", "{prompt}"],
        "network": True, "skills": ["python", " review "], "price_in": "0.15",
        "price_out": 2, "model": None, "base_url": None})
    assert hired.status_code == 201, hired.text
    assert hired.json()["network"] is True and hired.json()["skills"] == ["python", "review"]
    assert hired.json()["price_in"] == "0.150000" and hired.json()["price_out"] == "2.000000"
    jobs = await api.get("/api/v1/jobs?limit=500&status=queued", headers=KEY)
    ledger = await api.get("/api/v1/ledger?limit=1", headers=KEY)
    assert (jobs.status_code, jobs.json()) == (200, {"jobs": []})
    assert ledger.json() == {"entries": [], "next_cursor": None, "totals": {
        "calls": 0, "tokens_in": 0, "tokens_out": 0, "spent_usd": "0.00",
        "reserved_usd": "0.00", "unpriced_calls": 0}}
    head = await api.head("/api/v1/pool", headers=KEY)
    assert head.status_code == 200


def test_the_depth_check_takes_one_pass_even_on_a_hostile_string() -> None:
    """An unterminated string full of escaped quotes made a backtracking scan quadratic (a
    1 MiB body would have held the event loop for about 40 minutes)."""
    import time

    from mcp_server.api.payloads import MAX_JSON_DEPTH, _check_depth
    from orchestra.errors import InvalidInput

    hostile = b'"' + b'\\"' * ((MAX_BODY_BYTES - 64) // 2) + b"[" * (MAX_JSON_DEPTH + 1)
    started = time.perf_counter()
    _check_depth(hostile)  # the brackets are inside the (unterminated) string
    assert time.perf_counter() - started < 1.0
    _check_depth(b'{"a": "' + b"[" * 100 + b'"}')  # brackets in a string nest nothing
    with pytest.raises(InvalidInput, match="nested deeper"):
        _check_depth(b'{"a": "x\\"", "b": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]}")
