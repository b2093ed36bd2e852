"""The console where the Director meets it: in tmux at 80x24 (what an SSH session gives),
driven by keys and read back as text; and `aura tui --web` in headless Chromium, which must ask
for the Director key (even with AURA_DIRECTOR_KEY in the server's environment), accept it, and
open the Dashboard. Both run `aura` as a user would, against a real `aura up`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.test_console import WORKER, aura  # noqa: F401  (fixture)
from tests.e2e.test_spine import REPO_ROOT, Aura

pytestmark = pytest.mark.e2e

WITHIN_S = 60.0
# Everything the console prints is plain text once the escapes are gone; these are its words.
KEY_PROMPT = "Enter the Director key"


def aura_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcp_server.cli", *args]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- tmux --------------------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket), so nothing else's sessions are touched."""

    def __init__(self) -> None:
        self.socket = f"aura-test-{os.getpid()}-{time.monotonic_ns()}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30, check=False)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "console").stdout

    def wait_for(self, *texts: str) -> str:
        deadline = time.monotonic() + WITHIN_S
        while True:
            shown = self.screen()
            if all(t in shown for t in texts):
                return shown
            assert time.monotonic() < deadline, f"not on screen within {WITHIN_S}s: {texts}\n" \
                f"{shown}"
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "console", *keys)

    def kill(self) -> None:
        self.run("kill-server")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    assert shutil.which("tmux"), "tmux is needed for the console's terminal test"
    server = Tmux()
    try:
        yield server
    finally:
        server.kill()


def test_the_console_in_tmux_at_80x24_driven_by_keys(aura: Aura, tmux: Tmux) -> None:  # noqa: F811
    command = shlex.join(aura_cli("tui", "--url", aura.api))
    started = tmux.run("new-session", "-d", "-s", "console", "-x", "80", "-y", "24",
                       "-c", str(REPO_ROOT), "-e", f"AURA_DIRECTOR_KEY={aura.director_key}",
                       "-e", "TERM=xterm-256color", command)
    assert started.returncode == 0, started.stderr
    shown = tmux.wait_for("Dashboard", "● live", "Slots")
    assert len(shown.splitlines()) <= 24
    tmux.keys("4")
    shown = tmux.wait_for("Employees", WORKER, "probation", "h Hire", "t Fire")
    tmux.keys("5")
    tmux.wait_for("chain not checked yet", "v Verify chain")
    tmux.keys("v")
    tmux.wait_for("✓ chain holds")
    tmux.keys("6")
    shown = tmux.wait_for("By employee", "By day", "Budgets this month", "q Quit")
    tmux.keys("4", "h")
    tmux.wait_for("Hire an employee", "escape: give up")
    tmux.keys("Escape")
    tmux.wait_for("h Hire")
    tmux.keys("q")
    deadline = time.monotonic() + WITHIN_S
    while tmux.run("has-session", "-t", "console").returncode == 0:
        assert time.monotonic() < deadline, "q did not end the console"
        time.sleep(0.2)


# ---- the browser ---------------------------------------------------------------------------


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers: only this test's own process."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    # scripts/test.sh installs it (as it does bubblewrap); a run without it must not pass.
    assert found, "chromium is not installed: scripts/test.sh installs it with apt-get"
    return found


@contextlib.contextmanager
def web_console(aura: Aura, port: int) -> Iterator[subprocess.Popen[bytes]]:  # noqa: F811
    """`aura tui --web` with the Director key in its environment: it must not use it."""
    env = {**aura.env(), "AURA_DIRECTOR_KEY": aura.director_key, "AURA_UI_PORT": str(port)}
    log = (aura.root / "tui-web.log").open("wb")
    proc = subprocess.Popen(aura_cli("tui", "--web", "--url", aura.api), cwd=REPO_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WITHIN_S
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert proc.poll() is None, (aura.root / "tui-web.log").read_text()
            assert time.monotonic() < deadline, "aura tui --web did not listen"
            time.sleep(0.1)
        yield proc
    finally:
        stop(proc)
        log.close()


@contextlib.contextmanager
def headless_chromium(profile: Path) -> Iterator[int]:
    """Headless Chromium with its DevTools port (returned); only loopback is reachable."""
    proc = subprocess.Popen([
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--remote-debugging-port=0",
        # The page links a web font; nothing leaves this machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--window-size=1280,800", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + WITHIN_S
        while not port_file.exists() or not port_file.read_text().strip():
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        stop(proc)


class Page:
    """One tab over the DevTools protocol; `frames` is the text of every websocket frame the
    page received (the console's output as the browser got it)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = message.json()
            if "id" in data and data["id"] in self._answers:
                self._answers.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                response = data["params"]["response"]
                payload = response["payloadData"]
                raw = base64.b64decode(payload) if response["opcode"] == 2 else payload.encode()
                self.frames.append(raw.decode("utf-8", errors="replace"))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[self._next] = answer
        await self.ws.send_json({"id": self._next, "method": method, "params": params})
        result = await asyncio.wait_for(answer, WITHIN_S)
        assert "error" not in result, result
        return dict(result.get("result", {}))

    async def shown_since(self, start: int, *texts: str) -> None:
        deadline = time.monotonic() + WITHIN_S
        while not all(t in "".join(self.frames[start:]) for t in texts):
            assert time.monotonic() < deadline, f"the page never showed {texts}"
            await asyncio.sleep(0.2)

    async def type(self, text: str) -> None:
        # Keys go to the terminal's hidden textarea, which has the focus once clicked.
        await self.call("Runtime.evaluate", expression=(
            "document.querySelector('.xterm-helper-textarea').focus()"))
        await self.call("Input.insertText", text=text)

    async def enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                            windowsVirtualKeyCode=13, text="\r" if kind == "keyDown" else "")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


async def test_the_web_console_asks_for_the_key_in_chromium_and_opens_with_it(
        aura: Aura, tmp_path: Path) -> None:  # noqa: F811
    port = _free_port()
    with web_console(aura, port), headless_chromium(tmp_path / "profile") as devtools:
        async with aiohttp.ClientSession() as http:
            tabs = await (await http.get(f"http://127.0.0.1:{devtools}/json/list")).json()
            tab = next(t for t in tabs if t["type"] == "page")
            async with http.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                try:
                    await page.call("Network.enable")
                    await page.call("Page.enable")
                    await page.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
                    await page.shown_since(0, KEY_PROMPT)
                    # The app asked instead of using the key in its environment.
                    assert "Dashboard" not in "".join(page.frames)
                    await page.screenshot(tmp_path / "key-prompt.png")
                    asked = len(page.frames)
                    await page.type("not-the-key")
                    await page.enter()
                    await page.shown_since(asked, "refused the Director key")
                    refused = len(page.frames)
                    await page.type(aura.director_key)
                    await page.enter()
                    await page.shown_since(refused, "Dashboard", "Slots", "● live")
                    await page.screenshot(tmp_path / "dashboard.png")
                finally:
                    await page.close()
    for shot in ("key-prompt.png", "dashboard.png"):
        png = (tmp_path / shot).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5_000, shot
