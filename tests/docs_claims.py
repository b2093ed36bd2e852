"""What the user-facing docs claim, read out of their text, so tests can hold each claim
against the code: the `aura` commands they show, the AURA_* settings they name, the MCP tools
they name and their relative links.

Text between `<!-- pending: WHAT -->` and `<!-- /pending -->` describes something not yet on
main (its interface agreed); it is left out until the marker is removed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The pages a new user follows; every claim in them is checked.
USER_DOCS = (
    "README.md", "RELEASE_NOTES.md", "docs/prd.md", "docs/runbook.md",
    "docs/director-playbook.md", "docs/onboarding.md", "docs/terms.md",
    "demo_default_project/README.md",
)

_PENDING = re.compile(r"<!-- pending:.*?-->.*?<!-- /pending -->", re.DOTALL)
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_INLINE = re.compile(r"`([^`\n]+)`")
# `aura` (or `…bin/aura`) in a command's place: at the start, after `;`, `&&`, `|`, `(`,
# environment assignments, `sudo`, or `exec` (with a compose service between, as in
# `docker compose exec serve aura doctor`); not `aura` as a user, group or database name.
_COMMAND = re.compile(
    r"(?:^|[;&|(]\s*|\bsudo\s+|\bexec\s+(?:[a-z][\w-]*\s+(?=\S*aura\s))?"
    r"|(?:^|\s)(?:[A-Z_][A-Z0-9_]*=\S*\s+)+)"
    r"(?:\S*bin/)?aura\s+([^\n`]*)")
_SETTING = re.compile(r"\bAURA_[A-Z0-9_]*[A-Z0-9]\b")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_TOOLS_NAMED = re.compile(r"MCP tools? ((?:`[a-z_]+`(?:,\s*|\s+and\s+|\s+or\s+)?)+)")
_TOOL_BULLET = re.compile(r"^- `([a-z_]+)` — ", re.MULTILINE)


@dataclass(frozen=True)
class Claim:
    doc: str
    text: str

    def __str__(self) -> str:
        return f"{self.doc}: {self.text}"


def text_of(doc: str) -> str:
    """The doc's text with pending sections left out."""
    return _PENDING.sub("", (ROOT / doc).read_text("utf-8"))


def _code(text: str) -> list[str]:
    """Everything shown as code: fenced blocks' lines (continuations joined, shell comments
    dropped) and inline spans."""
    lines = [re.sub(r"(^|\s)#.*$", "", line)
             for block in _FENCE.findall(text)
             for line in block.replace("\\\n", " ").splitlines()]
    return lines + _INLINE.findall(_FENCE.sub("", text))


def commands(doc: str) -> list[tuple[Claim, list[str]]]:
    """Each `aura …` command shown as code, as its argv after `aura` (up to a comment, a
    pipe or a redirection)."""
    found = []
    for code in _code(text_of(doc)):
        for match in _COMMAND.finditer(code):
            rest = re.split(r"\s*[|>;&)]", match.group(1))[0].strip()
            try:
                argv = shlex.split(rest)
            except ValueError:  # a quote opened before `aura`, closed after it
                argv = [word.strip("'\"") for word in rest.split()]
            found.append((Claim(doc, "aura " + rest), argv))
    return found


def settings(doc: str) -> list[tuple[Claim, str]]:
    return [(Claim(doc, name), name) for name in sorted(set(_SETTING.findall(text_of(doc))))]


def links(doc: str) -> list[tuple[Claim, Path, str]]:
    """Relative links (no scheme), resolved from the doc's folder, with their anchor ("" for
    none); a bare `#anchor` is a link into the doc itself."""
    base = (ROOT / doc).parent
    found = []
    for target in _LINK.findall(text_of(doc)):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        found.append((Claim(doc, target), base / path if path else ROOT / doc, anchor))
    return found


def anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a Markdown file's headings: lower case, punctuation but
    hyphens dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", _FENCE.sub("", path.read_text("utf-8")),
                          re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def tools_named(doc: str) -> list[tuple[Claim, str]]:
    """MCP tools a doc names: "MCP tool `x`" / "MCP tools `x`, `y` and `z`", and the bullets
    of a tool list (lines "- `name` — …")."""
    text = text_of(doc)
    names = [n for group in _TOOLS_NAMED.findall(text) for n in re.findall(r"`([a-z_]+)`", group)]
    names += _TOOL_BULLET.findall(text)
    return [(Claim(doc, name), name) for name in names]
