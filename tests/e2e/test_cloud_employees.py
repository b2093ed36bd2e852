"""Cloud employees end to end: an OpenAI-compatible and a Gemini employee behind real processes.

`aura serve` (API and MCP endpoint) and one `aura worker` run as processes on this test's own
database; the Director hires through the HTTP API and the CLI; the IDE's side is the MCP SDK's
client over streamable HTTP with a token from the API; the providers are the fakes in
`tests/fakes`, served on loopback, reached by the worker through the official `openai` and
`google-genai` clients. The keys reach the worker only through the environment variables the
employees name (`api_key_env`), as on a real host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from orchestra.store.db import Database
from tests.e2e.conftest import Workers
from tests.e2e.test_spine import _error_text, _wait_until_done, mcp_client
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.e2e

OPENAI_MODEL = "gpt-test"
GEMINI_MODEL = "gemini-2.5-flash"
# Not AURA_*: the employees' keys are the host's own variables, not Aura settings.
OPENAI_KEY_ENV, OPENAI_KEY = "E2E_OPENAI_KEY", "sk-e2e-right-0123456789"
GEMINI_KEY_ENV, GEMINI_KEY = "E2E_GEMINI_KEY", "AIza-e2e-right-0123456789"
WRONG_KEY_ENV, WRONG_KEY = "E2E_WRONG_OPENAI_KEY", "sk-e2e-wrong-9876543210"
RETRY_AFTER_S = 1.0


@dataclass
class Cloud:
    """The running system, its fakes, and an MCP token for the IDE's side."""

    workers: Workers
    openai: FakeOpenAI
    gemini: FakeGemini
    token: str


@pytest.fixture
def cloud(workers: Workers) -> Iterator[Cloud]:
    with (FakeOpenAI([OPENAI_MODEL], api_key=OPENAI_KEY) as openai_fake,
          FakeGemini(GEMINI_KEY, [GEMINI_MODEL]) as gemini_fake):
        workers.extra_env.update({OPENAI_KEY_ENV: OPENAI_KEY, GEMINI_KEY_ENV: GEMINI_KEY,
                                  WRONG_KEY_ENV: WRONG_KEY})
        workers.serve()
        workers.start(1)
        # The openai employee through the CLI, as the README shows it...
        hired = workers.cli("hire", "gpt", "--adapter", "openai", "--model", OPENAI_MODEL,
                            "--base-url", openai_fake.url, "--api-key-env", OPENAI_KEY_ENV)
        assert hired.returncode == 0, hired.stderr
        # ...the others through the HTTP API.
        with workers.director() as api:
            for body in (
                {"name": "gem", "adapter": "gemini", "model": GEMINI_MODEL,
                 "base_url": gemini_fake.url, "api_key_env": GEMINI_KEY_ENV},
                {"name": "gpt-wrong-key", "adapter": "openai", "model": OPENAI_MODEL,
                 "base_url": openai_fake.url, "api_key_env": WRONG_KEY_ENV},
            ):
                response = api.post("/employees", json=body)
                assert response.status_code == 201, response.text
            issued = api.post("/tokens", json={"name": "e2e-cloud"})
            assert issued.status_code == 201, issued.text
        yield Cloud(workers, openai_fake, gemini_fake, str(issued.json()["token"]))


async def _ask(cloud: Cloud, employee: str, prompt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`ask` over MCP, then `get_job` for the same job: the answer and the job."""
    async with mcp_client(cloud.workers, cloud.token) as client:
        result = await client.call_tool("ask", {"prompt": prompt, "employee": employee})
        assert not result.is_error, _error_text(result)
        answer = dict(result.structured_content or {})
        job = await client.call_tool("get_job", {"job_id": answer["job_id"]})
    assert answer["status"] in ("succeeded", "failed"), (answer, cloud.workers.logs())
    return answer, dict(job.structured_content or {})


async def _runlog(db: Database, job_id: str) -> str:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT section, body FROM job_runlog WHERE job_id = $1::uuid "
                                "ORDER BY seq", job_id)
    return "\n".join(f"{r['section']}\n{r['body']}" for r in rows)


async def _answered(cloud: Cloud, employee: str, prompt: str, reply: str) -> None:
    """`ask` answered by `employee` with `reply`, metered with the provider's own counts (the
    fakes count words), not an estimate."""
    answer, job = await _ask(cloud, employee, prompt)
    assert answer["answered"] is True, answer
    assert answer["answer"] == reply and answer["employee"] == employee
    assert job["status"] == "succeeded" and job["kind"] == "ask"
    assert (job["tokens_in"], job["tokens_out"]) == (len(prompt.split()), len(reply.split()))


async def test_an_openai_employee_answers_ask_over_mcp(cloud: Cloud) -> None:
    reply, prompt = "four is the answer of the fake OpenAI", "what is two plus two"
    cloud.openai.script(OPENAI_MODEL, reply)

    await _answered(cloud, "gpt", prompt, reply)

    (sent,) = cloud.openai.completions()
    assert sent.key == OPENAI_KEY  # read by the worker from the variable the employee names
    assert sent.body is not None and sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == [{"role": "user", "content": prompt}]


async def test_a_gemini_employee_answers_ask_over_mcp(cloud: Cloud) -> None:
    reply, prompt = "Paris, according to the fake Gemini", "what is the capital of France"
    cloud.gemini.script(GEMINI_MODEL, reply)

    await _answered(cloud, "gem", prompt, reply)

    (sent,) = cloud.gemini.requests
    assert sent.path == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.body is not None and sent.body["contents"][0]["parts"] == [{"text": prompt}]


EDIT_REPLY = """I changed the value as asked.

app/settings.py
```python
<<<<<<< SEARCH
VALUE = 1
=======
VALUE = 2
>>>>>>> REPLACE
```
"""


async def test_an_openai_employee_changes_a_project_through_search_replace(
    cloud: Cloud, db: Database
) -> None:
    project = cloud.workers.root / "workspace" / "project"
    (project / "app").mkdir(parents=True)
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "settings.py").write_text("# settings\nVALUE = 1\nNAME = 'x'\n")
    (project / "README.md").write_text("# a project\n")
    cloud.openai.script(OPENAI_MODEL, EDIT_REPLY)
    check = "python3 -c 'import app.settings as s; assert s.VALUE == 2, s.VALUE'"

    async with mcp_client(cloud.workers, cloud.token) as client:
        submitted = await client.call_tool("submit_job", {
            "prompt": "set VALUE to 2 in app/settings.py", "project": str(project),
            "employee": "gpt", "acceptance": [check],
        })
        assert not submitted.is_error, _error_text(submitted)
        job = await _wait_until_done(client, (submitted.structured_content or {})["job_id"], [])

    assert job["status"] == "succeeded", (job, cloud.workers.logs())
    assert job["validation"]["passed"] is True
    assert [c["exit_code"] for c in job["validation"]["checks"]] == [0]
    diff = job["diff"]
    assert "diff --git a/app/settings.py b/app/settings.py" in diff
    assert "-VALUE = 1" in diff and "+VALUE = 2" in diff
    assert "README.md" not in diff
    # The project itself is never written; the change is the sandbox's, shown as the diff.
    assert (project / "app" / "settings.py").read_text() == "# settings\nVALUE = 1\nNAME = 'x'\n"
    # The model was sent the file the prompt names, and the edit format.
    (sent,) = cloud.openai.completions()
    assert sent.body is not None
    sent_prompt = sent.body["messages"][0]["content"]
    assert "VALUE = 1" in sent_prompt and "<<<<<<< SEARCH" in sent_prompt
    assert "EDITS APPLIED\napp/settings.py" in await _runlog(db, job["job_id"])


async def test_a_429_with_retry_after_is_retried_after_the_wait_it_names(
    cloud: Cloud, db: Database
) -> None:
    cloud.openai.script(OPENAI_MODEL, "answered on the second try")
    cloud.openai.fail_next(429, retry_after=RETRY_AFTER_S)

    answer, job = await _ask(cloud, "gpt", "are you there")

    assert answer["answered"] is True, answer
    assert answer["answer"] == "answered on the second try"
    first, second = cloud.openai.completions()
    waited = second.at - first.at
    # The header's wait, honoured; not the adapter's own 0.5 s first backoff.
    assert RETRY_AFTER_S <= waited < RETRY_AFTER_S + 2.0, waited
    runlog = await _runlog(db, answer["job_id"])
    assert "RETRY gpt" in runlog and "HTTP 429" in runlog and "in 1s" in runlog, runlog
    assert job["attempts"] == 1  # retried inside the call, not as a second job attempt


async def test_a_wrong_key_is_a_clear_error_naming_provider_status_and_message(
    cloud: Cloud, db: Database
) -> None:
    answer, job = await _ask(cloud, "gpt-wrong-key", "hello")

    assert answer["answered"] is False and answer["status"] == "failed", answer
    error = str(answer["error"])
    assert error == job["error"]
    assert "openai-compatible" in error and f"127.0.0.1:{cloud.openai.port}" in error
    assert "HTTP 401" in error
    assert "Incorrect API key provided: sk-***3210" in error  # the provider's own words
    assert len(cloud.openai.completions()) == 1  # a 401 is final: not retried
    # The key itself is nowhere: not in the error, the run log or the audit log.
    async with db.connection() as conn:
        audit = await conn.fetchval("SELECT string_agg(details::text, ' ') FROM audit_log")
    for text in (error, await _runlog(db, answer["job_id"]), str(audit)):
        assert WRONG_KEY not in text
