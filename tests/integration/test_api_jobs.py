"""Jobs through the Director API: short id prefixes, resolved by the server, and a job's
output, diff and run log as whole text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from mcp_server.app import System
from orchestra.queue import SHOWN_MATCHES
from tests.integration.helpers import add_job

KEY = {"Authorization": "Bearer test-director-key"}
# Two jobs share the prefix abcd; one alone starts with 1234.
SHARED_A = uuid.UUID("abcd0000-0000-4000-8000-000000000001")
SHARED_B = uuid.UUID("abcd0000-0000-4000-8000-000000000002")
ALONE = uuid.UUID("12345678-0000-4000-8000-000000000003")
LONG_DIFF = "".join(f"+line {n}\n" for n in range(30_000))  # over the 20,000-character cut


@pytest.fixture
async def jobs(system: System) -> None:
    await add_job(system.db, SHARED_A, output="answer A\n", diff=LONG_DIFF)
    await add_job(system.db, SHARED_B)
    await add_job(system.db, ALONE, "first line\nsecond line", output="alone\n")
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO job_runlog (job_id, ts, section, body) VALUES ($1, $2, 'PROMPT', 'hi')",
            ALONE, datetime(2026, 1, 2, tzinfo=UTC),
        )


async def test_a_unique_prefix_names_the_job(api: httpx.AsyncClient, jobs: None) -> None:
    for ref in ("1234", "12345678", "12345678-0000", str(ALONE), str(ALONE).upper()):
        response = await api.get(f"/api/v1/jobs/{ref}", headers=KEY)
        assert response.status_code == 200, (ref, response.text)
        assert response.json()["job_id"] == str(ALONE)
    body = (await api.get("/api/v1/jobs/1234", headers=KEY)).json()
    assert body["prompt"] == "first line\nsecond line" and body["project"] is None


async def test_an_ambiguous_prefix_is_a_409_listing_the_matches(
    api: httpx.AsyncClient, jobs: None
) -> None:
    response = await api.get("/api/v1/jobs/abcd", headers=KEY)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "ambiguous"
    assert set(problem["matches"]) == {str(SHARED_A), str(SHARED_B)}
    assert "abcd" in problem["detail"] and str(SHARED_A) in problem["detail"]


async def test_many_matches_are_cut_to_a_few(api: httpx.AsyncClient, system: System) -> None:
    for n in range(SHOWN_MATCHES + 2):
        await add_job(system.db, uuid.UUID(f"feed0000-0000-4000-8000-{n:012d}"))
    problem = (await api.get("/api/v1/jobs/feed", headers=KEY)).json()
    assert len(problem["matches"]) == SHOWN_MATCHES
    assert f"more than {SHOWN_MATCHES} jobs" in problem["detail"]


async def test_a_prefix_nothing_starts_with_is_a_404_naming_it(
    api: httpx.AsyncClient, jobs: None
) -> None:
    response = await api.get("/api/v1/jobs/beef", headers=KEY)
    assert response.status_code == 404
    assert "no job id starts with 'beef'" in response.json()["detail"]


@pytest.mark.parametrize("ref", ["abc", "zzzz", "----"])
async def test_a_prefix_too_short_or_not_hex_is_a_400(
    api: httpx.AsyncClient, jobs: None, ref: str
) -> None:
    response = await api.get(f"/api/v1/jobs/{ref}", headers=KEY)
    assert response.status_code == 400
    assert "4" in response.json()["detail"]


async def test_output_diff_and_runlog_are_whole_plain_text(
    api: httpx.AsyncClient, jobs: None
) -> None:
    listed = (await api.get(f"/api/v1/jobs/{SHARED_A}", headers=KEY)).json()
    assert listed["diff_truncated"] is True  # the JSON view is cut…
    diff = await api.get(f"/api/v1/jobs/{SHARED_A}/diff", headers=KEY)
    assert diff.status_code == 200
    assert diff.headers["content-type"].startswith("text/plain")
    assert diff.text == LONG_DIFF  # …the text route is not
    output = await api.get("/api/v1/jobs/1234/output", headers=KEY)
    assert output.text == "alone\n"
    runlog = await api.get("/api/v1/jobs/1234/runlog", headers=KEY)
    assert runlog.status_code == 200 and "PROMPT" in runlog.text and "hi" in runlog.text


async def test_missing_text_is_a_404_saying_so_and_prefixes_work_there_too(
    api: httpx.AsyncClient, jobs: None
) -> None:
    missing = await api.get("/api/v1/jobs/1234/diff", headers=KEY)
    assert missing.status_code == 404 and "has no diff" in missing.json()["detail"]
    ambiguous = await api.get("/api/v1/jobs/abcd/output", headers=KEY)
    assert ambiguous.status_code == 409
    export = await api.get("/api/v1/jobs/abcd/export?state=after", headers=KEY)
    assert export.status_code == 409
