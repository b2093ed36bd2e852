"""The `aura` command. Director verbs go through the HTTP API with the Director key."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import httpx
from pydantic import ValidationError
from rich.console import Console

from mcp_server.settings import Settings
from orchestra.errors import AuraError

EXIT_USAGE = 2
console = Console(stderr=True)


class CliError(Exception):
    """A user mistake or a refusal, printed as one line with exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aura", description="Aura Orchestra")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="everything in one process: database, API, MCP and a worker")
    sub.add_parser("serve", help="the API and MCP endpoints only")
    sub.add_parser("worker", help="the manager and pool only")
    mcp = sub.add_parser("mcp", help="the MCP server over stdio")
    mcp.add_argument("--stdio", action="store_true", required=True)
    sub.add_parser("migrate", help="apply pending database migrations")

    def api_verb(name: str, help_text: str) -> argparse.ArgumentParser:
        verb = sub.add_parser(name, help=help_text)
        verb.add_argument("--url", help="API base URL (default from AURA_API_HOST/PORT)")
        return verb

    token = api_verb("token", "MCP client tokens")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?")
    api_verb("employees", "list the roster")
    hire = api_verb("hire", "hire an employee")
    hire.add_argument("name")
    hire.add_argument("--adapter", required=True, choices=["ollama", "openai", "gemini", "cli"])
    hire.add_argument("--model")
    hire.add_argument("--base-url")
    hire.add_argument(
        "--command", dest="argv", help="argv as a JSON list, e.g. '[\"agent\", \"{prompt}\"]'"
    )
    hire.add_argument("--skills", default="", help="comma-separated")
    hire.add_argument("--price-in", default="0")
    hire.add_argument("--price-out", default="0")
    api_verb("jobs", "recent jobs")
    job = api_verb("job", "one job")
    job.add_argument("job_id")
    job.add_argument(
        "--export", nargs=2, metavar=("STATE", "FILE"),
        help="write the job's before or after state as a tar, e.g. --export after after.tar",
    )
    api_verb("pool", "the model slots")
    audit = api_verb("audit", "the audit chain")
    audit.add_argument("action", choices=["verify"])
    return parser


def _api(settings: Settings, url: str | None) -> httpx.Client:
    base = url or f"http://{settings.api_host}:{settings.api_port}"
    key = _director_key(settings)
    return httpx.Client(
        base_url=base.rstrip("/") + "/api/v1", timeout=60,
        headers={"Authorization": f"Bearer {key}"},
    )


def _director_key(settings: Settings) -> str:
    """The key from AURA_DIRECTOR_KEY(_FILE) or the key file; the CLI never creates one."""
    if settings.director_key is not None:
        return settings.director_key.get_secret_value()
    try:
        return settings.director_key_path.read_text("utf-8").strip()
    except OSError as exc:
        raise CliError(
            f"cannot read the Director key at {settings.director_key_path} ({exc.strerror}); "
            "start Aura once with `aura up`, or set AURA_DIRECTOR_KEY"
        ) from exc


def _call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    try:
        response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the API at {client.base_url}: {exc}") from exc
    if response.status_code >= 400:
        _call_failed(response)
    return response.json() if response.content else None


def _call_failed(response: httpx.Response) -> NoReturn:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise CliError(f"{response.status_code}: {detail}")


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _director_verb(args: argparse.Namespace, settings: Settings) -> int:
    with _api(settings, args.url) as client:
        if args.command == "token":
            if args.action in ("create", "revoke") and not args.name:
                raise CliError(f"aura token {args.action} needs a NAME")
            if args.action == "create":
                _print(_call(client, "POST", "/tokens", {"name": args.name}))
            elif args.action == "revoke":
                _call(client, "DELETE", f"/tokens/{args.name}")
            else:
                _print(_call(client, "GET", "/tokens"))
        elif args.command == "employees":
            _print(_call(client, "GET", "/employees"))
        elif args.command == "hire":
            _print(_call(client, "POST", "/employees", _hire_body(args)))
        elif args.command == "jobs":
            _print(_call(client, "GET", "/jobs"))
        elif args.command == "job" and args.export:
            _export(client, args.job_id, *args.export)
        elif args.command == "job":
            _print(_call(client, "GET", f"/jobs/{args.job_id}"))
        elif args.command == "pool":
            _print(_call(client, "GET", "/pool"))
        elif args.command == "audit":
            report = _call(client, "GET", "/audit/verify")
            _print(report)
            return 0 if report["ok"] else 1
    return 0


def _export(client: httpx.Client, job_id: str, state: str, file: str) -> None:
    """Stream the job's state as a tar into FILE (written beside, then renamed)."""
    if state not in ("before", "after"):
        raise CliError(f"--export takes before or after, not {state!r}")
    target = Path(file)
    partial = target.with_name(target.name + ".partial")
    try:
        with client.stream("GET", f"/jobs/{job_id}/export", params={"state": state}) as response:
            if response.status_code >= 400:
                response.read()
                _call_failed(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the API at {client.base_url}: {exc}") from exc
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror}") from exc
    partial.replace(target)
    console.print(f"wrote the {state} state of job {job_id} to {target}")


def _hire_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": args.name, "adapter": args.adapter, "model": args.model,
        "base_url": args.base_url, "price_in": args.price_in, "price_out": args.price_out,
        "skills": [s for s in args.skills.split(",") if s],
    }
    if args.argv:
        try:
            body["command"] = json.loads(args.argv)
        except json.JSONDecodeError:
            raise CliError("--command must be a JSON list of strings") from None
    return body


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_server import runner

    if args.command == "up":
        asyncio.run(runner.run(settings, api=True, mcp=True, worker=True))
    elif args.command == "serve":
        asyncio.run(runner.run(settings, api=True, mcp=True, worker=False))
    elif args.command == "worker":
        asyncio.run(runner.run(settings, api=False, mcp=False, worker=True))
    elif args.command == "mcp":
        asyncio.run(runner.run_stdio(settings))
    elif args.command == "migrate":
        database = runner.open_database(settings)
        try:
            applied = asyncio.run(runner.migrate_and_backup(settings, database))
        finally:
            if database.embedded is not None:
                database.embedded.stop()
        console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
    else:
        return _director_verb(args, settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        return _run(args, settings)
    except ValidationError as exc:
        console.print(f"[red]aura: bad setting:[/] {exc}")
    except (CliError, AuraError) as exc:
        console.print(f"[red]aura:[/] {exc}")
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
