"""Checks that a port is free before a server tries it, so a clash is one clear line."""

from __future__ import annotations

import errno
import socket

from orchestra.errors import Unavailable


class PortInUse(Unavailable):
    """Another process listens on a port this process needs."""


def ensure_free(host: str, port: int, setting: str) -> None:
    """Raise `PortInUse` naming the port, its setting and the likely cause."""
    if port == 0:
        return  # any free port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise Unavailable(f"cannot listen on {host}:{port} ({setting}): {exc}") from exc
            raise PortInUse(
                f"port {port} on {host} ({setting}) is already in use: Aura may already be "
                f"running (try `aura pool`), or another program holds it; stop it or set "
                f"{setting} to another port"
            ) from None
