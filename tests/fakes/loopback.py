"""Serving a fake's ASGI app with uvicorn on loopback, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

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
