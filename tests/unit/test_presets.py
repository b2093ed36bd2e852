"""Coding-agent presets: each agent's command, and its documented output read into the reply,
the tokens and the cost it reports (the fake agents in tests/fakes/agents print those shapes)."""

from __future__ import annotations

import subprocess
import typing
from decimal import Decimal
from pathlib import Path

import pytest

from mcp_server.api.fields import PresetName
from orchestra.employees.presets import (
    PRESET_NAMES,
    PRESETS,
    UsageUnreadable,
    parse_aider,
    parse_codex,
    parse_opencode,
    preset,
)
from orchestra.errors import InvalidInput
from orchestra.hooks import Usage
from orchestra.roster import HireRequest, validate_hire

AGENTS = Path(__file__).resolve().parent.parent / "fakes" / "agents"
SCRIPTS = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini", "aider": "aider",
           "opencode": "opencode"}


def _run(name: str, model: str | None = None) -> str:
    """The fake agent's stdout when called exactly as its preset calls it."""
    argv = [a.replace("{prompt}", "fix it")
            for a in PRESETS[name].command(model, str(AGENTS / SCRIPTS[name]))]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("name", "text", "usage", "cost"), [
    ("claude-code", "claude-code: the function is fixed", Usage(3012, 345), Decimal("0.0123456")),
    ("codex", "codex: the function is fixed", Usage(24763, 122), None),
    ("gemini-cli", "gemini-cli: the function is fixed", Usage(33904, 214), None),
    # aider: tokens summed over its usage lines (one per call), the final line's session total.
    ("aider", None, Usage(3412, 182), Decimal("0.0142")),
    ("opencode", "opencode: the function is fixed", Usage(5400, 400), Decimal("0.0052")),
])
def test_each_agents_documented_output_is_read(
    name: str, text: str | None, usage: Usage, cost: Decimal | None
) -> None:
    reported = PRESETS[name].parse(_run(name, model="some-model"))
    assert reported.usage == usage
    assert reported.cost == cost
    if text is not None:
        assert reported.text == text
    assert "{" not in reported.text  # the answer, never the raw JSON


def test_aiders_reply_is_its_output_without_the_usage_lines() -> None:
    reply = parse_aider(_run("aider")).text
    assert "aider: the function is fixed" in reply and "Applied edit" in reply
    assert "Tokens:" not in reply and "Cost:" not in reply


def test_aider_without_a_price_reports_tokens_and_no_cost() -> None:
    reported = parse_aider("done\nTokens: 116 sent, 30 received.\n")
    assert (reported.usage, reported.cost, reported.text) == (Usage(116, 30), None, "done\n")


# Usage lines inside the model's reply, ahead of aider's own final line.
_INJECTED = ("Sure.\nTokens: 1 sent, 1 received. Cost: $0.000001 message, $0.000001 session.\n"
             "Tokens: 999k sent, 999k received. Cost: $0.00 message, $0.00 session.\n")


def test_usage_lines_in_aiders_reply_do_not_set_the_cost() -> None:
    reported = parse_aider(_INJECTED + "Tokens: 2.6k sent, 147 received. Cost: $0.01 message, "
                           "$0.25 session.\n")
    # Injected lines can only add tokens (an overcharge), never set the cost.
    assert reported.usage == Usage(1 + 999_000 + 2600, 1 + 999_000 + 147)
    assert reported.cost == Decimal("0.25")


def test_a_final_aider_line_without_a_cost_leaves_the_cost_to_the_rate_card() -> None:
    # An earlier (injected) line with a cost must not stand in for the final line's missing one.
    reported = parse_aider(_INJECTED + "Tokens: 116 sent, 30 received.\n")
    assert (reported.usage.tokens_in, reported.cost) == (1 + 999_000 + 116, None)


def test_a_reported_zero_for_used_tokens_is_no_price() -> None:
    """opencode says 0 for a model missing from its price list: not a price of $0."""
    step = ('{"type":"step_finish","part":{"cost":0,"tokens":{"input":10,"output":5,'
            '"cache":{"read":0,"write":0}}}}')
    assert parse_opencode(step).cost is None
    assert parse_opencode(step.replace('"input":10,"output":5', '"input":0,"output":0')
                          ).cost == 0


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_output_without_usage_is_unreadable(name: str) -> None:
    with pytest.raises(UsageUnreadable):
        PRESETS[name].parse("I did it, trust me\n")


def test_codex_usage_must_be_counts() -> None:
    with pytest.raises(UsageUnreadable, match="input_tokens is not a token count"):
        parse_codex('{"type":"turn.completed","usage":{"input_tokens":-3,"output_tokens":1}}')


def test_the_command_names_the_model_and_the_program() -> None:
    agent = preset("codex")
    assert agent.command() == ("codex", "exec", "--json", "--skip-git-repo-check", "--sandbox",
                               "danger-full-access", "{prompt}")
    assert agent.command("gpt-5", "/opt/codex")[0] == "/opt/codex"
    assert agent.command("gpt-5")[-3:] == ("--model", "gpt-5", "{prompt}")
    assert preset("claude-code").command()[:3] == ("claude", "-p", "{prompt}")


def test_an_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown preset 'cursor'; valid presets: "
                       "claude-code, codex, gemini-cli, aider, opencode"):
        preset("cursor")


def test_the_api_offers_exactly_the_core_presets() -> None:
    assert typing.get_args(PresetName) == PRESET_NAMES


def test_a_preset_hire_is_filled_in() -> None:
    hired = validate_hire(HireRequest(name="coder", adapter="cli", preset="gemini-cli",
                                      model="gemini-2.5-pro", program="/opt/gemini"))
    assert hired.command == ("/opt/gemini", "-p", "{prompt}", "--output-format", "json",
                             "--approval-mode", "auto_edit", "--model", "gemini-2.5-pro")
    assert (hired.preset, hired.api_key_env, hired.network) == ("gemini-cli", "GEMINI_API_KEY",
                                                                True)
    own = validate_hire(HireRequest(name="coder", adapter="cli", preset="codex",
                                    command=["codex", "exec", "--json", "{prompt}"],
                                    api_key_env="OPENAI_API_KEY", network=False))
    assert own.command == ("codex", "exec", "--json", "{prompt}")
    assert (own.api_key_env, own.network) == ("OPENAI_API_KEY", False)


@pytest.mark.parametrize(("fields", "message"), [
    ({"adapter": "ollama", "model": "llama", "preset": "codex"},
     "a codex employee is a command-line employee: its adapter is cli, not ollama"),
    ({"preset": "cursor"}, "unknown preset 'cursor'; valid presets: claude-code"),
    ({"program": "/opt/codex"}, "program replaces a preset's program; give a preset too"),
    ({"preset": "codex", "program": "/opt/codex", "command": ["codex"]},
     "give either command or program, not both"),
])
def test_a_bad_preset_hire_says_what_is_wrong(fields: dict[str, object], message: str) -> None:
    request = {"name": "coder", "adapter": "cli", "command": None, **fields}
    with pytest.raises(InvalidInput, match=message):
        validate_hire(HireRequest(**request))  # type: ignore[arg-type]
