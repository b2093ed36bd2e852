"""A consensus's wall time against its slowest member's latency.

    .venv/bin/python bench/consensus_wall.py [--rounds 5] [--delays 0.3,0.6,1.2]

Builds the real System (`mcp_server.app.build_system`) on a throw-away embedded PostgreSQL (or
a fresh database on `--database-url`) with one worker in this process, as `aura up` runs it,
and three employees behind the fakes of `tests/fakes` on loopback, each through its official
client: Ollama, an OpenAI-compatible server and Gemini, answering after the `--delays` given
(seconds, in that order). Each round asks all three one question through the `consensus` MCP
tool over streamable HTTP with a client token, and takes the call's wall time (as the client
sees it) and the slowest member's latency (the consensus's start to that member's end, as the
result reports it). A round of warm-up loads the models first. If the members ran one after
another the wall time would be near the sum of the delays; in parallel it should be near the
slowest one's: the ratio is wall / slowest. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _support import database, free_port, mcp_session, serve

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the fakes live in the test tree

from mcp_server.app import System, build_system  # noqa: E402
from mcp_server.settings import Settings  # noqa: E402
from orchestra.roster import HireRequest  # noqa: E402
from tests.fakes.gemini_server import FakeGemini  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

OPENAI_MODEL, GEMINI_MODEL, OLLAMA_MODEL = "gpt-bench", "gemini-2.5-flash", "llama3.2"
OPENAI_KEY_ENV, GEMINI_KEY_ENV = "BENCH_OPENAI_KEY", "BENCH_GEMINI_KEY"
MEMBERS = ("llama", "gpt", "gem")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="aura-bench-consensus-"))
    os.environ[OPENAI_KEY_ENV], os.environ[GEMINI_KEY_ENV] = "sk-bench-0123456789", "AIza-bench"
    try:
        with FakeOllama([OLLAMA_MODEL]) as ollama, \
                FakeOpenAI([OPENAI_MODEL], api_key=os.environ[OPENAI_KEY_ENV]) as openai, \
                FakeGemini(os.environ[GEMINI_KEY_ENV], [GEMINI_MODEL]) as gemini:
            async with database(args.database_url, workdir) as dsn:
                settings = Settings(
                    data_dir=workdir / "data", sandbox_dir=workdir / "sandboxes",
                    snapshot_dir=workdir / "snapshots", backup_dir=workdir / "backups",
                    workspaces=str(workdir), mcp_port=free_port(), ollama_url=ollama.url,
                    log_level="WARNING",
                )
                system = await build_system(settings, dsn)
                try:
                    await _hire(system, openai.url, gemini.url)
                    rounds = await _rounds(system, args, (ollama, openai, gemini))
                finally:
                    await system.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratios = [r["wall_ms"] / r["slowest_ms"] for r in rounds]
    return {
        "bench": "consensus_wall", "members": len(MEMBERS), "rounds": args.rounds,
        "delays_s": args.delays,
        "wall_ms_median": round(statistics.median(r["wall_ms"] for r in rounds)),
        "slowest_member_ms_median": round(statistics.median(r["slowest_ms"] for r in rounds)),
        "sum_of_delays_ms": round(sum(args.delays) * 1000),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "per_round": rounds,
    }


async def _hire(system: System, openai_url: str, gemini_url: str) -> None:
    for request in (
        HireRequest(name="llama", adapter="ollama", model=OLLAMA_MODEL),
        HireRequest(name="gpt", adapter="openai", model=OPENAI_MODEL, base_url=openai_url,
                    api_key_env=OPENAI_KEY_ENV),
        HireRequest(name="gem", adapter="gemini", model=GEMINI_MODEL, base_url=gemini_url,
                    api_key_env=GEMINI_KEY_ENV),
    ):
        await system.roster.hire(request, actor="bench")


async def _rounds(
    system: System, args: argparse.Namespace, fakes: tuple[FakeOllama, FakeOpenAI, FakeGemini]
) -> list[dict[str, Any]]:
    ollama, openai, gemini = fakes
    token = (await system.tokens.create("bench", actor="bench")).token
    stop = asyncio.Event()
    worker = asyncio.create_task(system.manager.run(stop), name="worker")
    try:
        async with serve(system.mcp_app(), system.settings.mcp_port) as url, \
                mcp_session(url, token) as client:
            await _ask(client)  # warm-up: loads the Ollama model, opens the clients
            ollama.delay(OLLAMA_MODEL, args.delays[0])
            openai.delay(OPENAI_MODEL, args.delays[1])
            gemini.delay(GEMINI_MODEL, args.delays[2])
            rounds = []
            for n in range(args.rounds):
                started = time.monotonic()
                result = await _ask(client, n)
                wall_ms = (time.monotonic() - started) * 1000
                if not result["complete"]:
                    raise RuntimeError(f"round {n} was not complete: {result}")
                rounds.append({"wall_ms": round(wall_ms),
                               "slowest_ms": max(a["latency_ms"] for a in result["answers"])})
            return rounds
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)


async def _ask(client: Any, n: int = -1) -> dict[str, Any]:
    result = await client.call_tool("consensus", {
        "prompt": f"question {n}: what is six times seven?", "employees": list(MEMBERS),
        "timeout_s": 45})
    if result.is_error:
        text = " ".join(getattr(p, "text", "") for p in result.content)
        raise RuntimeError(f"consensus failed: {text}")
    return dict(result.structured_content or {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed consensus calls")
    parser.add_argument("--delays", default="0.3,0.6,1.2",
                        help="seconds before the Ollama, OpenAI and Gemini fakes answer")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    args = parser.parse_args(argv)
    args.delays = [float(d) for d in args.delays.split(",")]
    if len(args.delays) != len(MEMBERS) or min(args.delays) < 0 or args.rounds < 1:
        parser.error(f"--delays takes {len(MEMBERS)} seconds, 0 or more; --rounds at least 1")
    # Warnings and worse on stderr; stdout carries only the result line.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
