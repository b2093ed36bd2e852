"""`aura employees`, `aura hire`, `aura employee edit|fire`: the roster."""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

import typer
from rich.markup import escape

from mcp_server.api.fields import PresetName
from mcp_server.cli.context import JsonOption, UrlOption, session, verb_group
from mcp_server.cli.errors import CliError
from mcp_server.cli.output import money, toned
from orchestra.models import AVAILABLE_ADAPTERS

# Only adapters whose code exists are offered (the others would be refused by the server).
ADAPTERS = sorted(adapter.value for adapter in AVAILABLE_ADAPTERS)
# The wire's copy of the core's presets (a unit test checks they agree).
PRESET_NAMES: tuple[str, ...] = get_args(PresetName)

Model = Annotated[str | None, typer.Option(help="The model tag, e.g. llama3.2:3b.")]
BaseUrl = Annotated[str | None, typer.Option(help="The provider's URL, if not the default.")]
KeyEnv = Annotated[str | None, typer.Option(
    help="The environment variable that holds the API key (never the key itself).")]
Command = Annotated[str | None, typer.Option(
    "--command", metavar="JSON",
    help='A cli employee\'s argv as a JSON list, e.g. \'["/usr/local/bin/agent", "{prompt}"]\'; '
    "{prompt} and {prompt_file} are replaced.",
)]
Skills = Annotated[str | None, typer.Option(help="Comma-separated, e.g. python,review.")]
PriceIn = Annotated[str | None, typer.Option(help="USD per million input tokens.")]
PriceOut = Annotated[str | None, typer.Option(help="USD per million output tokens.")]
NoCheck = Annotated[bool, typer.Option(
    "--no-check",
    help="Do not look for the command's program on the server (it exists only on workers).",
)]


def list_employees(ctx: typer.Context, url: UrlOption = None, as_json: JsonOption = None) -> None:
    """List the roster: name, status, adapter, model or command, skills, prices and scores.

    Scores cover each employee's last 50 finished jobs: JOBS in the window, OK% succeeded,
    PASS% passed their acceptance checks (of those that had checks), P50 the median time
    from claim to end, USD/OK the window's spend per success. A terminal narrower than 120
    columns leaves out the adapter and prices.
    """
    with session(ctx, url, as_json) as (api, out):
        roster = api.json("GET", "/employees")
        if out.as_json:
            out.data(roster)
            return
        if not roster["employees"]:
            out.console().print("no employees yet; hire one with `aura hire`")
            return
        wide = out.console().width >= WIDE_TABLE
        shown = [i for i, name in enumerate(COLUMNS) if wide or name not in WIDE_ONLY]
        rows = [_row(e) for e in roster["employees"]]
        out.table(f"{len(rows)} employee(s)", [COLUMNS[i] for i in shown],
                  ([row[i] for i in shown] for row in rows))


COLUMNS = ("NAME", "STATUS", "ADAPTER", "COMMAND / MODEL", "SKILLS", "USD/M IN/OUT",
           "JOBS", "OK%", "PASS%", "P50", "USD/OK")
# Eleven columns do not fit 80; below this width these go (`--json` has everything).
WIDE_TABLE = 120
WIDE_ONLY = frozenset({"ADAPTER", "USD/M IN/OUT"})


def _row(employee: dict[str, Any]) -> tuple[str, ...]:
    """One employee's cells, in the order of `COLUMNS`."""
    e = employee
    return (e["name"], toned(e["status"]), e["adapter"], escape(_does(e)),
            ",".join(e["skills"]) or "-", f"{_num(e['price_in'])}/{_num(e['price_out'])}",
            *_score_cells(e["score"]))


def hire(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(
        metavar="NAME", help="The employee's name: a-z, 0-9, '_', '.', '-'.")],
    adapter: Annotated[str | None, typer.Option(
        metavar="|".join(ADAPTERS), callback=_available,
        help=f"How the employee runs: {' or '.join(ADAPTERS)} (cli with --preset).",
    )] = None,
    preset: Annotated[str | None, typer.Option(
        metavar="|".join(PRESET_NAMES),
        help="A coding agent: fills in its non-interactive command, key variable and network, "
        "and reads the usage and cost it reports into the ledger.",
    )] = None,
    program: Annotated[str | None, typer.Option(
        help="With --preset: the agent's program, if not its usual name on PATH.")] = None,
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = None,
    command: Command = None,
    network: Annotated[bool | None, typer.Option(
        "--network/--no-network",
        help="Let a cli employee use the network (a preset's agent has it unless "
        "--no-network).")] = None,
    skills: Skills = None,
    price_in: PriceIn = None,
    price_out: PriceOut = None,
    no_check: NoCheck = False,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Hire an employee; it starts on probation and takes work at once."""
    if adapter is None and preset is None:
        raise CliError("give --adapter, or --preset for a coding agent "
                       f"({', '.join(PRESET_NAMES)})")
    if preset is not None and preset not in PRESET_NAMES:
        raise CliError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESET_NAMES)}")
    body: dict[str, Any] = {"name": name}
    given = {"adapter": adapter, "network": network, "preset": preset, "program": program}
    body.update({key: value for key, value in given.items() if value is not None})
    body.update(_fields(model=model, base_url=base_url, api_key_env=api_key_env,
                        command=command, skills=skills, price_in=price_in, price_out=price_out))
    if no_check:
        body["check_command"] = False
    with session(ctx, url, as_json) as (api, out):
        hired = api.json("POST", "/employees", body)
        agent = f", preset {hired['preset']}" if hired.get("preset") else ""
        out.done(hired, f"hired {hired['name']} ({hired['adapter']}{agent}, "
                        f"{hired['status']}): {escape(_does(hired))}")


def edit(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The employee to change.")],
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = None,
    command: Command = None,
    network: Annotated[bool | None, typer.Option(
        "--network/--no-network", help="Allow or forbid a cli employee the network.")] = None,
    skills: Skills = None,
    price_in: PriceIn = None,
    price_out: PriceOut = None,
    no_check: NoCheck = False,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Change an employee's model, URL, key variable, command, network, skills or prices.

    Only the options given change; an empty --model, --base-url or --api-key-env clears it.
    """
    body = _fields(model=model, base_url=base_url, api_key_env=api_key_env, command=command,
                   skills=skills, price_in=price_in, price_out=price_out)
    if network is not None:
        body["network"] = network
    if not body:
        raise CliError("nothing to change; give at least one option (see `aura employee "
                       "edit --help`)")
    changed = ", ".join(body)
    if no_check:
        body["check_command"] = False
    with session(ctx, url, as_json) as (api, out):
        edited = api.json("PATCH", f"/employees/{name}", body)
        out.done(edited, f"edited {edited['name']} ({changed}): {escape(_does(edited))}")


Name = Annotated[str, typer.Argument(metavar="NAME", help="The employee's name.")]


def _change_standing(ctx: typer.Context, url: str | None, as_json: bool | None, name: str,
                     move: str, confirm: str) -> None:
    """POST /employees/NAME/<move>; `confirm` (with `{name}`) is the line for people."""
    with session(ctx, url, as_json) as (api, out):
        done = api.json("POST", f"/employees/{name}/{move}")
        out.done(done, confirm.format(name=done["name"]))


def fire(ctx: typer.Context, name: Name, url: UrlOption = None,
         as_json: JsonOption = None) -> None:
    """Fire an employee: it takes no more work; its record and history stay."""
    _change_standing(ctx, url, as_json, name, "terminate",
                     "fired {name}: it takes no more work (a job it is running finishes); "
                     "its record and history stay")


def suspend(ctx: typer.Context, name: Name, url: UrlOption = None,
            as_json: JsonOption = None) -> None:
    """Suspend an employee: it takes no more work until reinstated."""
    _change_standing(ctx, url, as_json, name, "suspend",
                     "suspended {name}: it takes no more work until `aura reinstate {name}`")


def reinstate(ctx: typer.Context, name: Name, url: UrlOption = None,
              as_json: JsonOption = None) -> None:
    """Reinstate a suspended employee: back on probation, its failure streak cleared."""
    _change_standing(ctx, url, as_json, name, "reinstate",
                     "reinstated {name}: on probation, taking work again")


def _available(adapter: str | None) -> str | None:
    if adapter is not None and adapter not in ADAPTERS:
        raise typer.BadParameter(f"{adapter!r} is not available; use {' or '.join(ADAPTERS)}")
    return adapter


def _fields(**given: str | None) -> dict[str, Any]:
    """The body fields for the options given; an empty text option clears its field."""
    body: dict[str, Any] = {}
    for field, value in given.items():
        if value is None:
            continue
        if field == "command":
            body[field] = _argv(value)
        elif field == "skills":
            body[field] = [s.strip() for s in value.split(",") if s.strip()]
        elif field in ("model", "base_url", "api_key_env"):
            body[field] = value or None
        else:
            body[field] = value
    return body


def _argv(text: str) -> list[str]:
    try:
        argv = json.loads(text)
    except json.JSONDecodeError:
        argv = None
    if not isinstance(argv, list) or not all(isinstance(part, str) for part in argv):
        raise CliError('--command must be a JSON list of strings, e.g. \'["agent", "{prompt}"]\'')
    return argv


def _does(employee: dict[str, Any]) -> str:
    if employee.get("command"):
        return " ".join(employee["command"])
    return employee.get("model") or "-"


def _score_cells(score: dict[str, Any]) -> tuple[str, ...]:
    """JOBS, OK%, PASS%, P50 and USD/OK; `-` where the window cannot say."""
    latency = score["p50_latency_ms"]
    per_success = score["cost_per_success_usd"]
    return (str(score["jobs"]), _percent(score["success_rate"]),
            _percent(score["validation_pass_rate"]),
            f"{latency / 1000:.1f}s" if latency is not None else "-",
            money(per_success) if per_success is not None else "-")


def _percent(rate: float | None) -> str:
    return f"{rate * 100:.0f}%" if rate is not None else "-"


def _num(price: str) -> str:
    return price.rstrip("0").rstrip(".") if "." in price else price


def register(app: typer.Typer) -> None:
    app.command("employees", epilog="Example: aura employees")(list_employees)
    app.command(
        "hire",
        epilog="Examples: aura hire llama --adapter ollama --model llama3.2:3b · "
        "aura hire scribe --adapter cli --command '[\"/usr/local/bin/agent\", \"{prompt}\"]' · "
        "aura hire gpt --adapter openai --model gpt-4o-mini --api-key-env OPENAI_API_KEY · "
        "aura hire coder --preset claude-code --price-in 3 --price-out 15",
    )(hire)
    group = verb_group("Change or fire an employee.",
                       "aura employee edit llama --model llama3.2:1b")
    group.command("edit", epilog="Example: aura employee edit scribe --skills python,review "
                  "--price-out 2.5")(edit)
    group.command("fire", epilog="Example: aura employee fire scribe")(fire)
    app.add_typer(group, name="employee")
    app.command("suspend", epilog="Example: aura suspend scribe")(suspend)
    app.command("reinstate", epilog="Example: aura reinstate scribe")(reinstate)
    app.command("terminate", epilog="Example: aura terminate scribe")(fire)

