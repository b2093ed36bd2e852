"""The console's Employees and Audit screens against a real `aura up`, driven with Textual's
Pilot as the Director would: hire through the form (a refusal shows the API's reason), suspend,
reinstate and terminate, verify the audit chain and see the first bad entry once a superuser
has edited one."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.e2e.test_console import WORKER, aura, console, until  # noqa: F401  (fixture)
from tests.e2e.test_spine import Aura
from tui.screens.audit import AuditScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.employees import EmployeesScreen
from tui.screens.hire import HireScreen

pytestmark = pytest.mark.e2e


def text_of(widget: Static) -> str:
    return str(widget.content)


def director(aura: Aura) -> httpx.Client:  # noqa: F811
    return httpx.Client(base_url=f"{aura.api}/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {aura.director_key}"})


def standing(aura: Aura, name: str) -> str:  # noqa: F811
    with director(aura) as http:
        roster = http.get("/employees").json()["employees"]
    return str(next(e["status"] for e in roster if e["name"] == name))


async def roster_screen(pilot: Pilot[Any], name: str | None = None) -> EmployeesScreen:
    """The Employees screen, with `name`'s row selected when given."""
    await pilot.press("4")
    screen = pilot.app.screen
    assert isinstance(screen, EmployeesScreen)
    await until(pilot, lambda: bool(screen.roster) and (name is None or name in screen.roster),
                "the roster is loaded")
    if name is not None:
        table = screen.query_one("#roster")
        table.move_cursor(row=table.get_row_index(name))  # type: ignore[attr-defined]
    return screen


async def test_the_hire_form_shows_the_apis_refusal_then_hires(aura: Aura) -> None:  # noqa: F811
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await roster_screen(pilot)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HireScreen), "the hire form")
        form = app.screen
        await pilot.press(*"Intern", "enter")  # capitals: the API refuses the name
        hint = form.query_one("#hint", Static)
        await until(pilot, lambda: text_of(hint).startswith("refused"), "the refusal")
        assert "name" in text_of(hint) and "(400)" in text_of(hint), text_of(hint)
        assert app.screen is form, "a refused hire leaves the form open and filled in"
        form.query_one("#name", Input).value = "intern"
        form.query_one("#model", Input).value = "llama"
        form.query_one("#skills", Input).value = "python, docs"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "intern" in screen.roster, "the new hire in the roster")
        assert app.screen is screen
    with director(aura) as http:
        hired = next(e for e in http.get("/employees").json()["employees"]
                     if e["name"] == "intern")
    assert (hired["adapter"], hired["model"], hired["skills"], hired["status"]) == (
        "ollama", "llama", ["python", "docs"], "probation")


async def test_suspend_reinstate_and_terminate_from_the_roster(aura: Aura) -> None:  # noqa: F811
    with director(aura) as http:
        assert http.post("/employees", json={"name": "temp", "adapter": "cli",
                                             "command": ["/bin/true"]}).status_code == 201
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await roster_screen(pilot, "temp")
        await pilot.press("s")
        await until(pilot, lambda: screen.roster["temp"].status == "suspended", "suspended")
        assert standing(aura, "temp") == "suspended"
        await pilot.press("i")
        await until(pilot, lambda: screen.roster["temp"].status == "probation", "reinstated")
        assert standing(aura, "temp") == "probation"
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.3)
        assert standing(aura, "temp") == "probation"
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: screen.roster["temp"].status == "terminated", "terminated")
    assert standing(aura, "temp") == "terminated"
    assert standing(aura, WORKER) == "probation", "only the selected employee moved"


async def _edit_entry(aura: Aura, seq: int, details: str) -> None:  # noqa: F811
    """What a superuser could do: switch the append-only trigger off and rewrite an entry."""
    conn = await asyncpg.connect(aura.database_url)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            await conn.execute("UPDATE audit_log SET details = $2::jsonb WHERE seq = $1",
                               seq, details)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await conn.close()


async def test_verify_says_the_chain_holds_then_shows_the_first_bad_entry(
        aura: Aura) -> None:  # noqa: F811
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await until(pilot, lambda: bool(screen.entries), "the tail")
        chain = screen.query_one("#chain", Static)
        await pilot.press("v")
        await until(pilot, lambda: "chain holds" in text_of(chain), "verified")
        victim = min(e.seq for e in screen.entries)
        original = next(e for e in screen.entries if e.seq == victim)
        conn = await asyncpg.connect(aura.database_url)
        try:
            stored = await conn.fetchval("SELECT details::text FROM audit_log WHERE seq = $1",
                                         victim)
        finally:
            await conn.close()
        await _edit_entry(aura, victim, '{"forged": true}')
        try:
            await pilot.press("v")
            await until(pilot, lambda: "BROKEN" in text_of(chain), "the break found")
            assert f"at entry {victim} (content)" in text_of(chain), text_of(chain)
            bad = text_of(screen.query_one("#bad", Static))
            assert f"first bad entry {victim}" in bad and '"forged":true' in bad, bad
            assert original.action in bad
        finally:
            await _edit_entry(aura, victim, stored)  # the module's Aura goes on
        await pilot.press("v")
        await until(pilot, lambda: "chain holds" in text_of(chain), "whole again")
