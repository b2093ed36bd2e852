"""Every console screen at 80x24 (over SSH) and 160x48, from the recorded Aura (fixed answers,
a recorded event stream, a fixed clock), so the pictures are the same on every run. Update
them with `pytest --snapshot-update` after a deliberate change, and look at the SVGs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.unit.console_replay import LAST_RECORDED_EVENT, recorded_console
from tui.app import AuraConsole

SIZES = [(80, 24), (160, 48)]
J3 = "3c4d5e6f-0000-4000-8000-000000000003"
SETTLE_WITHIN_S = 20.0


def _hold_cursors(pilot: Pilot[Any]) -> None:
    """A blinking cursor is caught on or off by chance; held off, it is the same every run."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


async def _settle(pilot: Pilot[Any]) -> None:
    """Until the recorded stream has been delivered and every load has finished: on a busy
    machine a fixed pause would catch some screens half drawn."""
    app = pilot.app
    assert isinstance(app, AuraConsole)
    deadline = time.monotonic() + SETTLE_WITHIN_S
    while (app.last_event_id != LAST_RECORDED_EVENT
           or any(w.is_running for w in app.workers if w.group != "feed")):
        assert time.monotonic() < deadline, "the recorded console did not settle"
        await pilot.pause(0.05)
    await pilot.pause(0.1)
    _hold_cursors(pilot)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _dashboard(pilot: Pilot[Any]) -> None:
    await _settle(pilot)


async def _jobs(pilot: Pilot[Any]) -> None:
    await pilot.press("2")
    await _settle(pilot)


async def _job_detail_diff(pilot: Pilot[Any]) -> None:
    await pilot.press("2")
    await _settle(pilot)
    from tui.screens.jobs import JobsScreen

    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen)
    table = screen.query_one("#jobs")
    table.move_cursor(row=table.get_row_index(J3))  # type: ignore[attr-defined]
    await pilot.press("enter")
    await _settle(pilot)
    await pilot.press("right", "right", "right")  # History → Checks → Run log → Diff
    await _settle(pilot)


async def _approvals(pilot: Pilot[Any]) -> None:
    await pilot.press("3")
    await _settle(pilot)


async def _deny_note(pilot: Pilot[Any]) -> None:
    await pilot.press("3")
    await _settle(pilot)
    await pilot.press("d")
    await _settle(pilot)


async def _employees(pilot: Pilot[Any]) -> None:
    await pilot.press("4")
    await _settle(pilot)


async def _hire_form_refused(pilot: Pilot[Any]) -> None:
    await pilot.press("4")
    await _settle(pilot)
    await pilot.press("h")
    await _settle(pilot)
    await pilot.press(*"BadName", "enter")  # the recording refuses every hire
    await _settle(pilot)


async def _audit_broken_chain(pilot: Pilot[Any]) -> None:
    await pilot.press("5")
    await _settle(pilot)
    await pilot.press("v")  # the recorded chain is broken at entry 7
    await _settle(pilot)


async def _ledger(pilot: Pilot[Any]) -> None:
    await pilot.press("6")
    await _settle(pilot)


SCREENS: dict[str, Callable[[Pilot[Any]], Awaitable[None]]] = {
    "dashboard": _dashboard, "jobs": _jobs, "job_detail": _job_detail_diff,
    "approvals": _approvals, "deny_note": _deny_note, "employees": _employees,
    "hire_refused": _hire_form_refused, "audit_broken": _audit_broken_chain, "ledger": _ledger,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_matches_its_snapshot(snap_compare: Any, screen: str,
                                     size: tuple[int, int]) -> None:
    app, _ = recorded_console()
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])


async def _key_prompt(pilot: Pilot[Any]) -> None:
    """The web console before a key: no feed to wait for, only the prompt's mount."""
    await pilot.pause(0.3)
    _hold_cursors(pilot)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_web_console_opens_on_the_key_prompt(snap_compare: Any, size: tuple[int, int]) -> None:
    app, _ = recorded_console(asking=True)
    assert snap_compare(app, terminal_size=size, run_before=_key_prompt)
