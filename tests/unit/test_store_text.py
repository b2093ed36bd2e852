"""Text and JSON made storable: PostgreSQL refuses NUL and unpaired surrogates."""

from __future__ import annotations

from orchestra.store.text import storable, storable_json


def test_nul_and_unpaired_surrogates_become_replacements() -> None:
    assert storable("a\x00b") == "a\ufffdb"
    assert storable("half \ud83d pair") == "half ? pair"
    assert storable("whole 😀 pair") == "whole 😀 pair"


def test_every_string_of_a_json_value_is_cleaned() -> None:
    value = {"k\x00": ["\ud800", {"n": 1, "s": "ok"}]}
    assert storable_json(value) == {"k\ufffd": ["?", {"n": 1, "s": "ok"}]}
