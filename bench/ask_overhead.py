"""What Aura adds to one question: `ask` over MCP to an openai employee, against the same request
sent straight to the provider with the same client.

    .venv/bin/python bench/ask_overhead.py [--n 100] [--warmup 10] [--block 10]

Starts the fake OpenAI-compatible server (`tests/fakes/openai_server.py`, its own process, with
a bearer key), a throw-away embedded PostgreSQL (migrated), and Aura's own processes on free
loopback ports, both on that database: `aura serve` (the API and the MCP endpoint) and one
`aura worker`, which alone has the key (in the variable the employee names). The Director API
hires an openai employee on the fake and issues an MCP token. Then, in interleaved blocks
(alternating which side goes first, so a noisy machine hurts both alike):

- via_aura: the `ask` tool over streamable HTTP with the MCP SDK's client: the governed tool
  call (token, audit), the job queued, the worker woken by NOTIFY, its claim, the call admitted
  and charged, the run log shipped, the answer back to the waiting tool;
- direct: the request the worker's adapter sends (`orchestra/employees/openai_compat.py`: the
  same model, messages, `stream_options.include_usage` and `max_tokens`), sent by the official
  `openai` client straight to the fake and read to its last chunk.

Prints one JSON line: p50 and p95 of each side in ms, their ratios and differences.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from _support import (
    REPO_ROOT,
    AuraProcess,
    Call,
    database,
    fake_process,
    free_port,
    mcp_session,
    measure,
    print_result,
    summary,
    timing_options,
)
from mcp.client.client import Client

MODEL = "gpt-bench"
EMPLOYEE = "gpt"
KEY_ENV = "BENCH_OPENAI_KEY"
PROMPT = "what is the answer to the question of life, the universe and everything"
REPLY = "forty-two, said the fake model after a long think about it"
OUTPUT_CAP = 4096  # the employee's max_output_tokens: sent as max_tokens by both sides


def via_aura(client: Client) -> Call:
    async def call() -> float:
        started = time.perf_counter()
        result = await client.call_tool("ask", {"prompt": PROMPT, "employee": EMPLOYEE})
        elapsed = (time.perf_counter() - started) * 1000
        answer = result.structured_content or {}
        if result.is_error or answer.get("answer") != REPLY:
            text = " ".join(getattr(p, "text", "") for p in result.content)
            raise RuntimeError(f"ask failed: {answer or text}")
        return elapsed

    return call


def direct(client: openai.AsyncOpenAI) -> Call:
    async def call() -> float:
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True,
            stream_options={"include_usage": True}, max_tokens=OUTPUT_CAP,
        )
        parts: list[str] = []
        usage = None
        async with stream:
            async for chunk in stream:
                parts.extend(c.delta.content for c in chunk.choices if c.delta.content)
                usage = chunk.usage or usage
        elapsed = (time.perf_counter() - started) * 1000
        if "".join(parts) != REPLY or usage is None:
            raise RuntimeError(f"the direct call answered {''.join(parts)!r}, usage {usage}")
        return elapsed

    return call


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="aura-bench-ask-", dir="/var/tmp"))
    key = f"sk-bench-{secrets.token_hex(16)}"
    fake_url = f"http://127.0.0.1:{free_port()}"
    try:
        with fake_process(
            "tests.fakes.openai_server",
            ["--port", fake_url.rsplit(":", 1)[1], "--models", MODEL, "--reply", REPLY,
             "--api-key-env", KEY_ENV],
            f"{fake_url}/v1/models", workdir / "fake-openai.log",
            env={**os.environ, KEY_ENV: key}, headers={"Authorization": f"Bearer {key}"},
        ):
            async with database(None, workdir) as dsn:
                return await _bench(args, workdir, dsn, f"{fake_url}/v1", key)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _bench(
    args: argparse.Namespace, workdir: Path, dsn: str, base_url: str, key: str
) -> dict[str, Any]:
    director_key = secrets.token_urlsafe(24)
    common = {"AURA_DATABASE_URL": dsn, "AURA_DIRECTOR_KEY": director_key,
              "AURA_LOG_LEVEL": "WARNING"}
    (workdir / "workspace").mkdir()
    server = AuraProcess(REPO_ROOT, workdir, workdir / "workspace", "serve", common)
    worker = AuraProcess(REPO_ROOT, workdir, workdir / "workspace", "worker",
                         {**common, KEY_ENV: key})
    try:
        await asyncio.to_thread(server.start)
        worker.start()
        with server.director(director_key) as api:
            api.post("/employees", json={
                "name": EMPLOYEE, "adapter": "openai", "model": MODEL, "base_url": base_url,
                "api_key_env": KEY_ENV, "max_output_tokens": OUTPUT_CAP,
            }).raise_for_status()
            token = api.post("/tokens", json={"name": "bench"}).json()["token"]
        provider = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
        async with provider, mcp_session(server.mcp, token) as client:
            samples = await measure({"via_aura": via_aura(client), "direct": direct(provider)},
                                    args.n, args.warmup, args.block)
    finally:
        worker.stop()
        server.stop()
    aura, bare = summary(samples["via_aura"]), summary(samples["direct"])
    return {
        "bench": "ask_overhead", "n": args.n, "warmup": args.warmup, "block": args.block,
        "via_aura": aura, "direct": bare,
        "ratio_p50": round(aura["p50_ms"] / bare["p50_ms"], 2),
        "ratio_p95": round(aura["p95_ms"] / bare["p95_ms"], 2),
        "overhead_p50_ms": round(aura["p50_ms"] - bare["p50_ms"], 3),
        "overhead_p95_ms": round(aura["p95_ms"] - bare["p95_ms"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    timing_options(parser, n=100, warmup=10, block=10, per="per side")
    return print_result(parser, parser.parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
