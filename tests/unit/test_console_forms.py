"""What the console's Employees, Audit and web pieces decide by themselves, on the recorded
Aura: the hire form's body, the audit filter's words, the web console's locked views, the UI
port."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from mcp_server.cli.console import _ui_port
from mcp_server.cli.errors import CliError
from tests.unit.console_replay import KEY, recorded_console
from tui.screens.audit import FilterError, parse_filter
from tui.screens.hire import FormError, HireScreen
from tui.screens.key_entry import KeyEntryScreen
from tui.web import WebConsole, app_command


def test_audit_filter_words_become_the_apis_query() -> None:
    assert parse_filter("") == {}
    assert parse_filter("actor=director  action=employee.hire") == {
        "actor": "director", "action": "employee.hire"}
    assert parse_filter("gemini") == {"subject": "gemini"}


@pytest.mark.parametrize("text", ["who=me", "actor=", "seq=3"])
def test_audit_filter_refuses_what_it_cannot_send(text: str) -> None:
    with pytest.raises(FilterError, match="actor=…"):
        parse_filter(text)


async def test_the_hire_form_sends_only_what_was_filled_in() -> None:
    app, api = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4", "h")
        await pilot.pause(0.2)
        form = app.screen
        assert isinstance(form, HireScreen)
        for field, value in (("name", "agent"), ("command", "claude -p '{prompt}' --x 'a b'"),
                             ("skills", " python, ,review "), ("price_in", "0.15"),
                             ("max_output_tokens", "2048")):
            form.query_one(f"#{field}", Input).value = value
        assert form.body() == {
            "name": "agent", "adapter": "ollama", "network": False,
            "command": ["claude", "-p", "{prompt}", "--x", "a b"],
            "skills": ["python", "review"], "price_in": "0.15", "max_output_tokens": 2048}
        form.query_one("#max_output_tokens", Input).value = "lots"
        assert form.body()["max_output_tokens"] == "lots", "the API says what is wrong with it"
        form.query_one("#command", Input).value = "agent 'unclosed"
        with pytest.raises(FormError, match="command"):
            form.body()
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert "quote it as a shell would" in str(form.query_one("#hint", Static).content)
        assert not [p for p, _ in api.posts if p == "/employees"], "nothing was sent"


async def test_the_web_console_keeps_every_view_shut_until_a_key_is_accepted() -> None:
    app, _ = recorded_console(asking=True)
    assert isinstance(app, WebConsole)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, KeyEntryScreen)
        await app.run_action("show('jobs')")  # as the palette's "Go to Jobs" would
        await pilot.pause(0.2)
        assert isinstance(app.screen, KeyEntryScreen), "a view opened without a key"
        await pilot.press("enter")  # empty: refused on the spot
        await pilot.pause(0.1)
        hint = app.screen.query_one("#hint", Static)
        assert "empty" in str(hint.content)
        await pilot.press(*"guess", "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, KeyEntryScreen) and not app.unlocked
        assert "refused the Director key" in str(hint.content)
        await pilot.press(*KEY, "enter")
        await pilot.pause(0.5)
        assert app.unlocked and app.screen.TITLE == "Dashboard"
        assert app.client._http.headers["Authorization"] == f"Bearer {KEY}"


def test_each_browser_tab_runs_the_console_that_asks_for_the_key() -> None:
    command = app_command("http://127.0.0.1:8000/api/v1")
    assert command.endswith("-m mcp_server.cli tui --ask-key --url http://127.0.0.1:8000/api/v1")


def test_the_ui_port_comes_from_the_option_then_aura_ui_port() -> None:
    assert _ui_port(None, {}) == 5173
    assert _ui_port(None, {"AURA_UI_PORT": "6000"}) == 6000
    assert _ui_port(7000, {"AURA_UI_PORT": "6000"}) == 7000
    with pytest.raises(CliError, match="AURA_UI_PORT"):
        _ui_port(None, {"AURA_UI_PORT": "http"})
