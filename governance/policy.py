"""The policy (`infra/policy.toml`): which actions wait for the Director, HR's N and K, and what
an exhausted budget does.

Read and checked once at start; a key or value that is not understood is refused with a
message naming the file, the key and what is allowed. Governance cannot be switched off: a
file that tries (`audit = false`, `[hr] enabled = false`, `budgets = "off"`) is refused as
`GovernanceOff`, which the runner audits before it exits. The policy's `version` is a hash of
its effective content, so a comment or the order of keys does not change it, but any rule does.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, NoReturn

from orchestra.errors import InvalidInput

OnExhausted = Literal["refuse", "ask"]
DEFAULT_COMMANDS = ("python3", "pytest", "npm", "make", "cargo", "go")
# Keys that would turn a part of governance off, wherever they appear: refused as such.
_OFF_SWITCHES = frozenset({
    "audit", "auditor", "auditing", "audit_log", "governance", "accountant", "accounting",
    "ledger", "enabled", "disabled", "enable", "disable", "off", "bypass", "skip",
    "enforce", "validation", "approvals_enabled", "hr_enabled", "budgets_enabled",
})
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WORD = re.compile(r"^[A-Za-z0-9_./+-]{1,200}$")
TERMS = ("governance (audit, accounting, HR, approvals) is part of the product's terms and "
         "cannot be turned off")


class PolicyError(InvalidInput):
    """The policy file cannot be used; the message names the file, the key and what is
    allowed."""


class GovernanceOff(PolicyError):
    """The policy file tries to turn governance off. Refused, and audited as a refusal."""

    def __init__(self, path: Path, key: str) -> None:
        super().__init__(f"{path}: {key} is refused: {TERMS}; remove it")
        self.path = path
        self.key = key


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    job_cost_over_usd: Decimal = Decimal("1.00")
    hire_via_mcp: bool = True
    reinstate: bool = True
    apply_diff: bool = True
    cli_network: bool = True
    retention_prune: bool = True
    expire_after: timedelta = timedelta(hours=24)
    commands_allow: tuple[str, ...] = DEFAULT_COMMANDS


@dataclass(frozen=True, slots=True)
class HrPolicy:
    probation_jobs: int = 3
    failures_to_suspend: int = 3


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    on_exhausted: OnExhausted = "refuse"


@dataclass(frozen=True, slots=True)
class Policy:
    """The effective policy; `source` is where it was read from (None: the shipped defaults)."""

    approvals: ApprovalRules = field(default_factory=ApprovalRules)
    hr: HrPolicy = field(default_factory=HrPolicy)
    budgets: BudgetPolicy = field(default_factory=BudgetPolicy)
    source: Path | None = None

    @property
    def version(self) -> str:
        """16 hex digits of sha256 over the canonical JSON of the rules (not of the file)."""
        content = {"approvals": asdict(self.approvals), "hr": asdict(self.hr),
                   "budgets": asdict(self.budgets)}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=_plain)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def approver(self) -> str:
        """Who decided what the policy lets through by itself."""
        return f"policy:{self.version}"


def _plain(value: object) -> object:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def load_policy(path: Path, *, required: bool = False) -> Policy:
    """The policy in `path`. A missing file is the shipped defaults unless `required` (the
    Director named the file with AURA_POLICY_FILE, so a typo must not pass silently)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise PolicyError(f"{path}: no such policy file (AURA_POLICY_FILE)") from None
        return Policy()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    return parse_policy(data, path)


def parse_policy(data: dict[str, Any], path: Path) -> Policy:
    _refuse_off_switches(data, path)
    sections = {"approvals", "hr", "budgets"}
    for key, value in data.items():
        if key not in sections:
            raise PolicyError(f"{path}: unknown key {key!r}; allowed sections: [approvals], "
                              "[hr], [budgets]")
        if not isinstance(value, dict):
            raise GovernanceOff(path, f"{key} = {value!r}")
    reader = _Reader(path)
    approvals = reader.section(data, "approvals", ApprovalRules())
    hr = reader.section(data, "hr", HrPolicy())
    budgets = reader.section(data, "budgets", BudgetPolicy())
    return Policy(approvals=approvals, hr=hr, budgets=budgets, source=path)


def _refuse_off_switches(data: dict[str, Any], path: Path, prefix: str = "") -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key.lower() in _OFF_SWITCHES:
            where = f"[{prefix[:-1]}] {key}" if prefix else key
            raise GovernanceOff(path, f"{where} = {value!r}".replace("True", "true")
                                .replace("False", "false"))
        if isinstance(value, dict):
            _refuse_off_switches(value, path, f"{name}.")


class _Reader:
    """Reads one section into its dataclass, key by key, with a message per wrong key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def section(self, data: dict[str, Any], name: str, defaults: Any) -> Any:
        given: dict[str, Any] = data.get(name, {})
        allowed = {f: getattr(defaults, f) for f in defaults.__dataclass_fields__}
        values = dict(allowed)
        for key, value in given.items():
            if key not in allowed:
                raise PolicyError(f"{self.path}: [{name}] {key} is not a policy key; allowed: "
                                  f"{', '.join(sorted(allowed))}")
            values[key] = self._value(f"[{name}] {key}", key, value, allowed[key])
        return type(defaults)(**values)

    def _value(self, where: str, key: str, value: object, default: object) -> object:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                self._bad(where, value, "true or false")
            return value
        if isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                self._bad(where, value, "a whole number from 1 to 1000")
            return value
        if isinstance(default, Decimal):
            return self._usd(where, value)
        if isinstance(default, timedelta):
            match = _DURATION.match(value) if isinstance(value, str) else None
            if match is None:
                self._bad(where, value, 'a duration such as "30m", "24h" or "7d"')
            return timedelta(seconds=int(match[1]) * _UNITS[match[2]])
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(
                    isinstance(w, str) and _WORD.match(w) for w in value) or len(value) > 200:
                self._bad(where, value, 'a list of program names such as ["python3", "pytest"]')
            return tuple(value)
        if key == "on_exhausted":
            if value not in ("refuse", "ask"):
                self._bad(where, value, '"refuse" or "ask"')
            return value
        raise AssertionError(key)  # every default's type is handled above

    def _usd(self, where: str, value: object) -> Decimal:
        if isinstance(value, str):
            try:
                amount = Decimal(value)
            except InvalidOperation:
                amount = Decimal(-1)
            if amount.is_finite() and amount >= 0:
                return amount
        self._bad(where, value, 'USD as a decimal string such as "1.00"')

    def _bad(self, where: str, value: object, allowed: str) -> NoReturn:
        shown = json.dumps(value) if isinstance(value, str | bool | int | float | list) \
            else repr(value)
        raise PolicyError(f"{self.path}: {where} = {shown} is not allowed; it must be {allowed}")
