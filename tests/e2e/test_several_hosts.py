"""`aura serve` and two `aura worker` processes on three "hosts" (network namespaces linked to
this one by veth pairs) against one PostgreSQL that listens on the links' host-side addresses.

Jobs go in through the MCP endpoint of the namespaced server; workers on the two other hosts
run them while a sampler on this host reads jobs and slots in one statement: never more than
three slots taken, never a running job without a slot. Twice a worker holding a job is killed
with SIGKILL and a fresh one started on the same host. Afterwards every submitted job has
succeeded exactly once, and the killed workers' jobs were rescued, not lost.

A second test cuts a worker's link while it runs a job (a network partition, not a crash): its
peer declares it dead and reruns the job; when the link returns, the cut-off worker finds its
lease gone, drops its own run of the job and registers again. Every job still succeeds once.

The figures (jobs, kills, most busy slots seen, duplicates, lost) are printed and, when
`AURA_SEVERAL_HOSTS_OUT` names a file, written there as JSON (`bench/several_hosts.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestra.models import NewJob
from orchestra.store.db import Database
from tests.e2e import netns
from tests.e2e.conftest import Workers
from tests.e2e.pgcluster import PgCluster, migrated_cluster
from tests.e2e.served import mcp_session
from tests.e2e.test_workers import Invariants, _sample, _until
from tests.integration.helpers import hire, queue_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
]

JOBS = 36
JOB_SECONDS = 0.6
KILLS = 2


@pytest.fixture
def hosts() -> Iterator[list[netns.Host]]:
    made = netns.make_hosts(3)
    try:
        yield made
    finally:
        netns.remove(made)


@pytest.fixture
async def cluster(hosts: list[netns.Host]) -> AsyncIterator[PgCluster]:
    """The one PostgreSQL, reachable from this host and from each namespace's link."""
    async with migrated_cluster(["127.0.0.1", *(h.gateway for h in hosts)]) as server:
        yield server


async def _holder(db: Database, pids: list[int]) -> int | None:
    """The pid, among `pids`, of a worker now running a job."""
    async with db.connection() as conn:
        pid = await conn.fetchval(
            "SELECT w.pid FROM jobs j JOIN workers w ON w.id = split_part(j.lease_owner, '/', 1)"
            " WHERE j.status = 'running' AND w.pid = ANY($1::int[]) LIMIT 1", pids)
    return int(pid) if pid is not None else None


async def _succeeded(db: Database) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM jobs WHERE status = 'succeeded'"))


@pytest.mark.timeout(300)  # five processes start on a shared machine; the jobs take ~10 s
async def test_serve_and_workers_on_three_hosts_share_three_slots_and_survive_kills(
    hosts: list[netns.Host], cluster: PgCluster, tmp_path: Path
) -> None:
    serve_host, *worker_hosts = hosts
    (tmp_path / "workspace").mkdir()
    # The server listens on its namespace's address; this host reaches it over the link.
    group = Workers(tmp_path, cluster.url("aura", host=serve_host.gateway),
                    host=serve_host.address)
    db = Database(cluster.url("aura"), min_size=1, max_size=3)
    await db.open()
    stop, seen = asyncio.Event(), Invariants()
    sampler: asyncio.Task[None] | None = None
    try:
        await hire(db, "sleeper", command=["/bin/sh", "-c", f"sleep {JOB_SECONDS}; echo done"])
        await asyncio.to_thread(group.serve, serve_host.command([]))
        ids = []
        async with mcp_session(group) as client:
            for i in range(JOBS):
                result = await client.call_tool(
                    "submit_job", {"prompt": f"job {i}", "employee": "sleeper"})
                assert not result.is_error, result.content
                ids.append(str((result.structured_content or {})["job_id"]))

        sampler = asyncio.create_task(_sample(cluster.url("aura"), stop, seen))
        # Each worker reaches PostgreSQL through its own host's link.
        on_host: dict[int, netns.Host] = {}
        for host in worker_hosts:
            group.start(1, host.command([]), AURA_DATABASE_URL=cluster.url("aura", host.gateway))
            on_host[group.procs[-1].pid] = host
        kills: list[tuple[str, int]] = []
        for _ in range(KILLS):
            live = [p.pid for p in group.procs if p.poll() is None]
            victim_pid = await _wait_for_holder(db, live, group)
            victim = next(p for p in group.procs if p.pid == victim_pid)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            host = on_host[victim_pid]
            kills.append((host.name, victim_pid))
            # The host gets a fresh worker, as systemd would restart the unit.
            group.start(1, host.command([]), AURA_DATABASE_URL=cluster.url("aura", host.gateway))
            on_host[group.procs[-1].pid] = host

        async def all_done() -> bool:
            return await _succeeded(db) == JOBS

        await _until(all_done, 120, group)
        # Counted once every process has stopped: nothing can change them any more.
        await asyncio.to_thread(group.stop_all)
        figures = await _figures(db)
    finally:
        stop.set()
        if sampler is not None:
            await sampler
        group.stop_all()
        await db.close()

    figures.update(jobs=JOBS, kills=len(kills), max_busy_slots=seen.max_taken_slots,
                   max_running=seen.max_running, samples=seen.samples, hosts=len(hosts))
    assert not seen.violations, seen.violations[:5]
    assert seen.max_taken_slots == 3, seen
    assert figures["submitted"] == JOBS == len(set(ids))
    assert figures["lost"] == 0 and figures["duplicates"] == 0, figures
    assert figures["rescued"] >= KILLS, figures  # each victim held at least one job
    assert figures["workers_dead"] == KILLS, figures
    assert figures["claiming_workers"] >= 3, figures  # both hosts' workers, and a replacement
    line = json.dumps({"benchmark": "several_hosts", **figures})
    print(f"\n{line}\nkilled: {kills}")
    out = os.environ.get("AURA_SEVERAL_HOSTS_OUT")
    if out:
        Path(out).write_text(line + "\n")


async def _wait_for_holder(db: Database, pids: list[int], group: Workers) -> int:
    found: list[int] = []

    async def holds() -> bool:
        pid = await _holder(db, pids)
        if pid is not None:
            found.append(pid)
        return pid is not None

    await _until(holds, 60, group)
    return found[-1]


async def _figures(db: Database) -> dict[str, Any]:
    async with db.connection() as conn:
        row = await conn.fetchrow("""
            SELECT (SELECT count(*) FROM jobs) AS submitted,
                   (SELECT count(*) FROM jobs WHERE status <> 'succeeded') AS lost,
                   (SELECT count(*) FROM (SELECT subject FROM audit_log
                      WHERE action = 'job.succeeded' GROUP BY subject HAVING count(*) > 1) d)
                     AS duplicates,
                   (SELECT count(*) FROM job_attempts WHERE outcome = 'lost') AS rescued,
                   (SELECT count(*) FROM workers WHERE status = 'dead') AS workers_dead,
                   (SELECT count(DISTINCT split_part(actor, '/', 1)) FROM audit_log
                      WHERE action = 'job.claimed') AS claiming_workers""")
    return {key: int(value) for key, value in dict(row).items()}


PARTITION_JOBS = 9


@pytest.mark.timeout(300)
async def test_a_worker_cut_off_by_a_partition_gives_its_job_up_when_the_link_returns(
    hosts: list[netns.Host], cluster: PgCluster, tmp_path: Path
) -> None:
    _, *worker_hosts = hosts
    (tmp_path / "workspace").mkdir()
    group = Workers(tmp_path, cluster.url("aura"))
    db = Database(cluster.url("aura"), min_size=1, max_size=3)
    await db.open()
    try:
        # Jobs long enough that the cut-off worker's own run ends while it is cut off.
        await hire(db, "sleeper", command=["/bin/sh", "-c", "sleep 3; echo done"])
        queue = queue_for(db)
        for i in range(PARTITION_JOBS):
            await queue.submit(NewJob(prompt=f"job {i}"), actor="t")
        for host in worker_hosts:
            group.start(1, host.command([]), AURA_DATABASE_URL=cluster.url("aura", host.gateway))
        victim, cut_off = group.procs[0], worker_hosts[0]
        await _wait_for_holder(db, [victim.pid], group)
        await asyncio.to_thread(cut_off.set_link, False)
        try:
            async def declared_dead() -> bool:
                return await _worker_status(db, victim.pid) == {"dead"}

            await _until(declared_dead, 30, group)
            await asyncio.sleep(4)  # its run of the job ends while it cannot say so
        finally:
            await asyncio.to_thread(cut_off.set_link, True)

        async def all_done_and_back() -> bool:
            return (await _succeeded(db) == PARTITION_JOBS
                    and "running" in await _worker_status(db, victim.pid))

        await _until(all_done_and_back, 120, group)
        await asyncio.sleep(2)  # room for a late, wrong completion to show
        figures = await _figures(db)
        async with db.connection() as conn:
            twice = await conn.fetchval(
                "SELECT count(*) FROM (SELECT job_id FROM job_attempts WHERE outcome ="
                " 'succeeded' GROUP BY job_id HAVING count(*) > 1) d")
            rescued = await conn.fetch("SELECT error FROM job_attempts WHERE outcome = 'lost'")
    finally:
        group.stop_all()
        await db.close()
    assert victim.returncode == 0, group.logs()  # it stayed up through the partition
    assert figures["lost"] == 0 and figures["duplicates"] == 0 and twice == 0, figures
    assert len(rescued) >= 1
    assert all("was declared dead" in r["error"] for r in rescued), rescued
    print(f"\npartition: {len(rescued)} job(s) rescued from the cut-off worker, "
          f"{PARTITION_JOBS} jobs each succeeded once")


async def _worker_status(db: Database, pid: int) -> set[str]:
    """The statuses of the worker rows a process has had (it registers anew once declared
    dead)."""
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT status FROM workers WHERE pid = $1", pid)
    return {r["status"] for r in rows}
