"""Coding-agent presets (DESIGN §10, `aura hire NAME --preset P`): each agent's non-interactive
command and how the usage and cost it reports on stdout are read.

The shapes are the agents' documented machine-readable output (sources in docs/decisions.md,
"Coding-agent presets"); each parser takes the whole stdout and returns the reply text (the
agent's answer, never the raw JSON), the tokens it reports, and the cost it reports (None when
it reports none: the accountant then prices the tokens from the employee's rate card, or records
the call unpriced). Output without the usage a preset expects is `UsageUnreadable`: the call is
then charged as an unmetered one (its reserved worst case).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from orchestra.errors import InvalidInput
from orchestra.hooks import Usage


class UsageUnreadable(ValueError):
    """The agent's stdout does not hold the usage its preset reads."""


@dataclass(frozen=True, slots=True)
class Reported:
    """What one run of an agent said: its answer, its tokens, and its own cost if it gave one."""

    text: str
    usage: Usage
    cost: Decimal | None = None


Parser = Callable[[str], Reported]


@dataclass(frozen=True, slots=True)
class Preset:
    """One coding agent: `argv` before the model flag, the flag that names a model, the prompt
    argument(s) after it, the key variable it reads, and its output parser. Every agent calls
    its provider's API, so each needs the network."""

    name: str
    program: str
    head: tuple[str, ...]
    model_flag: str
    tail: tuple[str, ...]
    key_env: str | None
    parse: Parser
    network: bool = True

    def command(self, model: str | None = None, program: str | None = None) -> tuple[str, ...]:
        """The argv with `{prompt}` placeholders; `program` replaces the agent's own name (an
        absolute path, or a test's script)."""
        chosen = (self.model_flag, model) if model else ()
        return (program or self.program, *self.head, *chosen, *self.tail)


def _json_objects(stdout: str) -> Iterator[dict[str, Any]]:
    """Each JSON object on a line of its own (JSONL event streams); other lines are skipped."""
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def _whole_json(stdout: str) -> dict[str, Any]:
    """The one JSON object a `--output-format json` run prints (possibly pretty-printed);
    failing that, the last object on a line of its own."""
    try:
        value = json.loads(stdout)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    objects = list(_json_objects(stdout))
    if not objects:
        raise UsageUnreadable("no JSON object in the output")
    return objects[-1]


def _count(mapping: Mapping[str, Any], key: str) -> int:
    value = mapping.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageUnreadable(f"{key} is not a token count: {value!r}")
    return value


def _money(value: object) -> Decimal | None:
    """A reported cost in USD; None when absent. A reported 0 for tokens that were used is
    no price (an agent that does not know the model's price says 0): see `_priced`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageUnreadable(f"the cost is not a number: {value!r}")
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        raise UsageUnreadable(f"the cost is not a number: {value!r}") from None
    if not cost.is_finite() or cost < 0:
        raise UsageUnreadable(f"the cost is not a price: {value!r}")
    return cost


def _priced(text: str, usage: Usage, cost: Decimal | None) -> Reported:
    # An agent that does not know its model's price reports 0 (opencode does for a model
    # missing from its price list): used tokens at $0 is not a price, so it counts as none.
    if cost == 0 and (usage.tokens_in or usage.tokens_out):
        cost = None
    return Reported(text=text, usage=usage, cost=cost)


def parse_claude_code(stdout: str) -> Reported:
    """`claude -p … --output-format json`: one result object with `result` (the answer),
    `total_cost_usd` and `usage` (input, cache creation, cache read and output tokens)."""
    result = _whole_json(stdout)
    usage = result.get("usage")
    if not isinstance(usage, dict):
        raise UsageUnreadable("the result has no usage object")
    tokens_in = (_count(usage, "input_tokens") + _count(usage, "cache_creation_input_tokens")
                 + _count(usage, "cache_read_input_tokens"))
    text = result.get("result")
    return _priced(text if isinstance(text, str) else "",
                   Usage(tokens_in, _count(usage, "output_tokens")),
                   _money(result.get("total_cost_usd")))


def parse_codex(stdout: str) -> Reported:
    """`codex exec --json`: JSONL events; each `turn.completed` has `usage` (input tokens, of
    which `cached_input_tokens` are a part, and output tokens); the answer is the last
    `item.completed` whose item is an `agent_message`. Codex reports no cost."""
    tokens_in = tokens_out = turns = 0
    text = ""
    for event in _json_objects(stdout):
        kind = event.get("type")
        if kind == "turn.completed" and isinstance(event.get("usage"), dict):
            turns += 1
            tokens_in += _count(event["usage"], "input_tokens")
            tokens_out += _count(event["usage"], "output_tokens")
        elif kind == "item.completed" and isinstance(event.get("item"), dict):
            item = event["item"]
            if item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                text = item["text"]
    if not turns:
        raise UsageUnreadable("no turn.completed event with usage")
    return Reported(text=text, usage=Usage(tokens_in, tokens_out))


def parse_gemini_cli(stdout: str) -> Reported:
    """`gemini -p … --output-format json`: `response` (the answer) and `stats.models.<model>.
    tokens` per model (`prompt`, which includes `cached`; `candidates` and `thoughts` are
    output). Gemini CLI reports no cost."""
    result = _whole_json(stdout)
    stats = result.get("stats")
    models = stats.get("models") if isinstance(stats, dict) else None
    if not isinstance(models, dict) or not models:
        raise UsageUnreadable("no stats.models in the output")
    tokens_in = tokens_out = 0
    for model in models.values():
        tokens = model.get("tokens") if isinstance(model, dict) else None
        if not isinstance(tokens, dict):
            raise UsageUnreadable("a model in stats.models has no tokens")
        tokens_in += _count(tokens, "prompt")
        tokens_out += _count(tokens, "candidates") + _count(tokens, "thoughts")
    text = result.get("response")
    return Reported(text=text if isinstance(text, str) else "",
                    usage=Usage(tokens_in, tokens_out))


# aider's report after each model call (aider/coders/base_coder.py,
# `calculate_and_show_tokens_and_cost`): "Tokens: 2.6k sent, 1.1k cache write, 12k cache hit,
# 147 received. Cost: $0.0096 message, $0.01 session." — the cost part only when aider knows
# the model's price. Counts are `format_tokens`: exact below 1000, else rounded thousands.
_AIDER_TOKENS = re.compile(
    r"^Tokens: (?P<sent>[\d.]+k?) sent(?:, [\d.]+k? cache write)?(?:, [\d.]+k? cache hit)?, "
    r"(?P<received>[\d.]+k?) received\.(?: Cost: \$(?P<message>[\d.]+) message, "
    r"\$(?P<session>[\d.]+) session\.)?\s*$"
)


def _aider_count(text: str) -> int:
    if text.endswith("k"):
        return int(Decimal(text[:-1]) * 1000)
    return int(text)


def parse_aider(stdout: str) -> Reported:
    """`aider --message … --no-pretty`: the reply is stdout less aider's usage lines. Tokens
    are the sum over every usage line (one per model call); the cost comes from the final
    line only (its session total, when aider printed one). The model's reply can contain
    text shaped like a usage line: summed tokens can then only grow (an overcharge, never an
    undercharge), and an injected cost is never taken."""
    final: re.Match[str] | None = None
    sent = received = 0
    kept: list[str] = []
    for line in stdout.splitlines():
        match = _AIDER_TOKENS.match(line.strip())
        if match is None:
            kept.append(line)
            continue
        final = match
        sent += _aider_count(match["sent"])
        received += _aider_count(match["received"])
    if final is None:
        raise UsageUnreadable("no 'Tokens: … sent, … received.' line")
    # No cost on the final line: None, and the rate card prices the tokens (or nothing can).
    cost = _money(final["session"]) if final["session"] is not None else None
    return _priced("\n".join(kept).strip() + "\n", Usage(sent, received), cost)


def parse_opencode(stdout: str) -> Reported:
    """`opencode run --format json`: JSONL events; each `step_finish` part carries `cost` (USD)
    and `tokens` (`input`, `output`, `reasoning`, `cache.read`, `cache.write`); the answer is
    the `text` parts of the run, in order."""
    tokens_in = tokens_out = steps = 0
    cost = Decimal(0)
    texts: list[str] = []
    for event in _json_objects(stdout):
        part = event.get("part")
        if not isinstance(part, dict):
            continue
        if event.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif event.get("type") == "step_finish" and isinstance(part.get("tokens"), dict):
            steps += 1
            tokens = part["tokens"]
            cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
            tokens_in += (_count(tokens, "input") + _count(cache, "read")
                          + _count(cache, "write"))
            tokens_out += _count(tokens, "output") + _count(tokens, "reasoning")
            cost += _money(part.get("cost")) or Decimal(0)
    if not steps:
        raise UsageUnreadable("no step_finish event with tokens")
    return _priced("\n".join(texts), Usage(tokens_in, tokens_out), cost)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("claude-code", "claude",
           head=("-p", "{prompt}", "--output-format", "json", "--permission-mode",
                 "acceptEdits"),
           model_flag="--model", tail=(), key_env="ANTHROPIC_API_KEY",
           parse=parse_claude_code),
    # Bubblewrap is the job's sandbox (see `CliEmployee`); Codex's own Landlock sandbox is not
    # known to work nested inside it, so Codex is told to rely on ours.
    Preset("codex", "codex",
           head=("exec", "--json", "--skip-git-repo-check", "--sandbox", "danger-full-access"),
           model_flag="--model", tail=("{prompt}",), key_env="CODEX_API_KEY",
           parse=parse_codex),
    # Gemini CLI stopped serving personal (Google-login) accounts in 2026; with an API key
    # (GEMINI_API_KEY) it still works.
    Preset("gemini-cli", "gemini",
           head=("-p", "{prompt}", "--output-format", "json", "--approval-mode", "auto_edit"),
           model_flag="--model", tail=(), key_env="GEMINI_API_KEY",
           parse=parse_gemini_cli),
    Preset("aider", "aider",
           head=("--message", "{prompt}", "--yes-always", "--no-pretty", "--no-stream",
                 "--no-auto-commits", "--no-check-update", "--no-show-release-notes",
                 "--analytics-disable"),
           model_flag="--model", tail=(), key_env="ANTHROPIC_API_KEY", parse=parse_aider),
    Preset("opencode", "opencode", head=("run", "--format", "json"),
           model_flag="--model", tail=("{prompt}",), key_env="ANTHROPIC_API_KEY",
           parse=parse_opencode),
)}
PRESET_NAMES = tuple(PRESETS)


def preset(name: str) -> Preset:
    """The preset called `name`, or a clear error listing the valid ones."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise InvalidInput(f"unknown preset {name!r}; valid presets: "
                           f"{', '.join(PRESET_NAMES)}") from None
