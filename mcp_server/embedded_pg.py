"""The embedded PostgreSQL (the `pgserver` package) used when no database URL is set."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EmbeddedPostgres:
    """A running embedded server under `data_dir/pg`; `stop()` stops it."""

    dsn: str
    bin_dir: Path
    _server: Any

    def stop(self) -> None:
        self._server.cleanup()


def pg_bin_dir() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def start(data_dir: Path) -> EmbeddedPostgres:
    """Start (or attach to) the server for `data_dir/pg`; a second start reuses the data."""
    with warnings.catch_warnings():
        # platformdirs warns on every start where XDG_RUNTIME_DIR is unset (servers, SSH);
        # pgserver then uses its /tmp fallback, which is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        return _start(data_dir)


def _start(data_dir: Path) -> EmbeddedPostgres:
    import pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return EmbeddedPostgres(server.get_uri(), pg_bin_dir(), server)
