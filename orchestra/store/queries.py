"""Loads the named SQL blocks kept beside this module (procrastinate's style).

A block starts with a line `-- name --` and runs to the next such line:

    -- claim_job --
    UPDATE jobs SET ...
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^-- ([a-z_]+) --$", re.MULTILINE)


def parse_blocks(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in blocks:
            raise ValueError(f"query {name!r} is defined twice")
        blocks[name] = body.strip()
    return blocks


@cache
def load(group: str) -> dict[str, str]:
    """The queries of `orchestra/store/<group>.sql`, by name."""
    text = resources.files("orchestra.store").joinpath(f"{group}.sql").read_text("utf-8")
    return parse_blocks(text)
