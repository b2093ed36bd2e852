"""The command palette offers every screen and the shown screen's own actions, and runs them."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from tests.unit.console_replay import recorded_console
from tui.screens.approvals import ApprovalsScreen
from tui.screens.jobs import JobsScreen


async def test_the_palette_lists_the_screens_and_the_current_screens_actions() -> None:
    app, _ = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        titles = [c.title for c in app.get_system_commands(app.screen)]
    assert {"Go to Dashboard", "Go to Jobs", "Go to Approvals"} <= set(titles)
    assert {"Approve (a)", "Deny… (d)", "Reload (r)"} <= set(titles)
    assert "Cancel (c)" not in titles  # a Jobs action, not offered on Approvals


async def from_the_palette(pilot: Pilot[Any], command: str) -> None:
    """Open the palette, type `command`, run the best match."""
    await pilot.press("ctrl+p")
    await pilot.pause(0.2)
    await pilot.press(*command)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause(0.5)


async def test_a_screen_switch_and_an_action_run_from_the_palette() -> None:
    app, api = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await from_the_palette(pilot, "go to approvals")
        assert isinstance(app.screen, ApprovalsScreen)
        await from_the_palette(pilot, "approve (a)")
    # The inbox's first row (soonest to expire) was approved through the API.
    assert api.posts == [("/approvals/a2000000-0000-4000-8000-00000000000b/approve", {})]


async def test_the_jobs_filter_narrows_the_table_as_you_type() -> None:
    app, _ = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert len(screen.shown_jobs()) == 4
        await pilot.press("slash", *"basket")
        await pilot.pause(0.1)
        assert [j.prompt for j in screen.shown_jobs()] == [
            "Rename the Basket class to Cart everywhere"]
        await pilot.press("escape", "s")  # clear the filter; sort by status
        await pilot.pause(0.1)
        assert [j.status for j in screen.shown_jobs()] == sorted(
            (j.status for j in screen.jobs.values()), reverse=True)
