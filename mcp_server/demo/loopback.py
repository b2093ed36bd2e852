"""Serving a fake's ASGI app with uvicorn on loopback, in a background thread."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp


@dataclass
class ServingThread:
    """A running uvicorn server and its thread; `stop()` ends both."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: ASGIApp, host: str, port: int, name: str) -> ServingThread:
    """Bind `host:port` (0: any free port) and serve `app` until stopped; returns once the
    server accepts connections, so a test can call it at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2, backlog=1024)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: server.run(sockets=[sock]), name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.005)
    return ServingThread(server, thread, sock.getsockname()[1])


class LoopbackFake:
    """The life every fake server shares: `start()` serves `self.app` on `host:port` (0: a
    free port) in a background thread and returns the base URL, `stop()` ends it, and a `with`
    block does both. Subclasses set `app`, `host` and `port`, and `name` for the thread;
    `_stopping` is set on stop so a fake's delays end with it."""

    name = "fake"
    app: ASGIApp
    host: str
    port: int

    def __init__(self) -> None:
        self._serving: ServingThread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Serve in a background thread; returns the base URL once connections are accepted."""
        if self._serving is None:
            self._stopping.clear()
            self._serving = serve_in_thread(self.app, self.host, self.port, self.name)
            self.port = self._serving.port
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_until_signalled(fake: LoopbackFake) -> int:
    """A fake as a process of its own (`python -m mcp_server.demo.fake_ollama`, `python -m
    tests.fakes.…`): serve until SIGTERM or SIGINT, after a first line on stdout with the URL
    it listens on; returns the exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    url = fake.start()
    print(f"{fake.name.replace('-', ' ')} listening on {url}", flush=True)  # "fake ollama …"
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.5):
            pass
    fake.stop()
    return 0
