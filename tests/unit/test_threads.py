"""Cutting a thread's history to an employee's context window (`orchestra/threads.py`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from orchestra.models import Adapter, Employee
from orchestra.threads import (
    ContextTooSmall,
    ThreadMessage,
    check_question,
    estimate_tokens,
    fit_history,
)

THREAD = uuid.UUID("0b5c4f9e-3f1a-4d2b-9c8e-1a2b3c4d5e6f")
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _messages(count: int, words: int = 20) -> list[ThreadMessage]:
    out = []
    for seq in range(1, count + 1):
        role = "user" if seq % 2 else "assistant"
        text = f"message {seq} " + " ".join(["word"] * words)
        out.append(ThreadMessage(seq, role, text, uuid.uuid4(), "zed",
                                 None if role == "user" else "llama", estimate_tokens(text), NOW))
    return out


def test_estimate_is_utf8_bytes_over_three_rounded_up() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("é") == 1  # two bytes
    assert estimate_tokens("日本語") == 3  # nine bytes


def test_whole_history_is_sent_oldest_first_when_it_fits() -> None:
    history = _messages(4)
    fitted = fit_history(THREAD, history, "and now?", context_tokens=8192,
                         max_output_tokens=1024)
    assert (fitted.shown, fitted.left_out) == (4, 0)
    positions = [fitted.prompt.index(f"message {seq} ") for seq in range(1, 5)]
    assert positions == sorted(positions)
    assert fitted.prompt.endswith("--- the new question ---\nand now?")
    assert "left out" not in fitted.prompt
    assert "asked by zed" in fitted.prompt and "by llama" in fitted.prompt


def test_oldest_messages_are_left_out_and_the_prompt_says_how_many() -> None:
    history = _messages(10, words=60)  # about 100 tokens each
    context, cap = 900, 300
    fitted = fit_history(THREAD, history, "the question", context_tokens=context,
                         max_output_tokens=cap)
    assert fitted.left_out > 0 and fitted.shown > 0
    assert fitted.shown + fitted.left_out == 10
    assert f"{fitted.left_out} earlier messages were left out" in fitted.prompt
    # The newest ones are kept, the oldest ones go.
    assert "message 10 " in fitted.prompt and "message 1 " not in fitted.prompt
    assert estimate_tokens(fitted.prompt) + cap <= context


@pytest.mark.parametrize("context", [300, 400, 517, 1000, 2048, 5000])
def test_the_sent_prompt_never_overflows_the_context(context: int) -> None:
    history = _messages(30, words=37)
    fitted = fit_history(THREAD, history, "q " * 20, context_tokens=context,
                         max_output_tokens=200)
    assert estimate_tokens(fitted.prompt) + 200 <= context
    assert fitted.shown + fitted.left_out == 30


def test_when_no_message_fits_only_the_question_goes_with_a_note() -> None:
    history = _messages(2, words=400)
    fitted = fit_history(THREAD, history, "short", context_tokens=400, max_output_tokens=200)
    assert (fitted.shown, fitted.left_out) == (0, 2)
    assert "2 earlier messages were left out" in fitted.prompt
    assert "message 1" not in fitted.prompt and fitted.prompt.endswith("short")


def test_a_question_too_long_alone_is_refused_with_the_figures() -> None:
    with pytest.raises(ContextTooSmall) as refused:
        fit_history(THREAD, _messages(2), "x" * 3000, context_tokens=1000,
                    max_output_tokens=200)
    message = str(refused.value)
    assert "1000" in message and "200" in message and "context_tokens" in message


def test_a_new_thread_sends_the_question_as_written_if_it_fits() -> None:
    fitted = fit_history(THREAD, [], "hello", context_tokens=1000, max_output_tokens=200)
    assert (fitted.prompt, fitted.shown, fitted.left_out) == ("hello", 0, 0)
    with pytest.raises(ContextTooSmall):
        fit_history(THREAD, [], "x" * 2500, context_tokens=1000, max_output_tokens=200)


def test_check_question_uses_the_employees_window_and_output_cap() -> None:
    small = Employee(name="tiny", adapter=Adapter.OLLAMA, model="m", context_tokens=512,
                     max_output_tokens=500)
    check_question("hi", small)
    with pytest.raises(ContextTooSmall):
        check_question("x" * 37, small)  # 13 tokens; 12 are left
