"""`aura tui --web`: the console in a browser through textual-serve, which runs `aura tui
--ask-key` as a subprocess per browser tab. textual-serve authenticates nobody, so the web
console starts at the key-entry screen and reads no key itself (neither AURA_DIRECTOR_KEY nor
the key file): whoever reaches the port still needs the Director key. It binds 127.0.0.1
unless told otherwise."""

from __future__ import annotations

import os
import shlex
import sys

import httpx
from textual.widget import AwaitMount

from tui.app import AuraConsole, Clock, utc_now
from tui.client import ApiClient
from tui.screens.key_entry import KeyEntryScreen

KEY_MODE = "key"
FIRST_VIEW = AuraConsole.DEFAULT_MODE
DEFAULT_HOST = "127.0.0.1"


class WebConsole(AuraConsole):
    """The console that asks for the key first; every view stays shut until it is given."""

    MODES = {**AuraConsole.MODES, KEY_MODE: KeyEntryScreen}
    DEFAULT_MODE = KEY_MODE

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Clock = utc_now) -> None:
        # No key yet: this client is only where the API is, until `unlock` replaces it.
        super().__init__(ApiClient(base_url, "", transport=transport), clock=clock)
        self.transport = transport
        self.unlocked = False

    def client_with(self, key: str) -> ApiClient:
        """A client of the same API holding `key` (the key screen tries it with this)."""
        return ApiClient(self.client.base_url, key, transport=self.transport)

    def switch_mode(self, mode: str) -> AwaitMount:
        if not self.unlocked and mode != KEY_MODE:
            self.notify("enter the Director key first", severity="warning")
            mode = KEY_MODE
        return super().switch_mode(mode)

    async def unlock(self, client: ApiClient) -> None:
        """The key was accepted: the console works with `client` from now on."""
        old, self.client, self.unlocked = self.client, client, True
        await old.aclose()
        await self.switch_mode(FIRST_VIEW)


def app_command(base_url: str) -> str:
    """The command textual-serve runs per tab: this Python, `aura tui --ask-key`."""
    return shlex.join([sys.executable, "-m", "mcp_server.cli", "tui", "--ask-key",
                       "--url", base_url])


def serve(base_url: str, host: str, port: int) -> None:
    """Serve the console on http://host:port until interrupted."""
    from textual_serve.server import Server  # here: only `--web` needs aiohttp

    # The tabs' subprocesses inherit this environment; a key in it has no business there.
    os.environ.pop("AURA_DIRECTOR_KEY", None)
    Server(app_command(base_url), host=host, port=port, title="Aura Orchestra").serve()


def run_asking(base_url: str) -> None:
    """Run the console that asks for the Director key (what each browser tab runs)."""
    WebConsole(base_url).run()
