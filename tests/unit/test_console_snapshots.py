"""Every console screen at 80x24 (over SSH) and 160x48, from the recorded Aura (fixed answers,
a recorded event stream, a fixed clock), so the pictures are the same on every run. Update
them with `pytest --snapshot-update` after a deliberate change, and look at the SVGs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.unit.console_replay import recorded_console

SIZES = [(80, 24), (160, 48)]
J3 = "3c4d5e6f-0000-4000-8000-000000000003"


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.3)
    # A blinking cursor is caught on or off by chance (a loaded machine shifts the moment).
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_web_console_opens_on_the_key_prompt(snap_compare: Any, size: tuple[int, int]) -> None:
    app, _ = recorded_console(asking=True)
    assert snap_compare(app, terminal_size=size, run_before=_settle)
