"""A PostgreSQL server a test owns outright: it listens on TCP addresses the test chooses (a
veth address other network namespaces reach) and the test may stop and start it at will,
which the shared embedded server of `tests/conftest.py` must never be.

It uses the embedded server's own binaries (pgserver's), so it is the same version the rest of
the suite runs on. As root it runs as pgserver's system user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import asyncpg

from mcp_server.embedded_pg import pg_bin_dir
from orchestra.migrations import migrate
from tests.e2e.conftest import free_port

SYSTEM_USER = "pgserver"  # the user pgserver itself creates and runs as under root
START_WITHIN_S = 30


@dataclass
class PgCluster:
    """`initdb` into a fresh directory, then `start`/`stop` with `pg_ctl`. Connections over
    TCP need the superuser's random password (scram); the Unix socket is not used."""

    listen: list[str]
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aura-test-pgc-")))

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", host: str | None = None) -> str:
        return (f"postgresql://postgres:{quote(self.password, safe='')}@"
                f"{host or self.listen[0]}:{self.port}/{database}")

    def init(self) -> None:
        self.root.chmod(0o755)
        pwfile = self.root / "pw"
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.password + "\n")
        self.pgdata.mkdir()
        self._own(self.root)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "-A", "scram-sha-256",
                  "--pwfile", str(pwfile), "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '{','.join(self.listen)}'\n"
                       f"port = {self.port}\nunix_socket_directories = ''\n"
                       "fsync = off\nmax_connections = 200\n")
        with (self.pgdata / "pg_hba.conf").open("w") as hba:
            # Only TCP from the addresses the test listens on (loopback, its veth subnets).
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.root / "server.log"),
                  "-w", "-t", str(START_WITHIN_S), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
            if path.exists() else ""

    def _own(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        from pgserver.utils import ensure_user_exists

        entry = ensure_user_exists(SYSTEM_USER) or pwd.getpwnam(SYSTEM_USER)
        for folder, _, files in os.walk(path):
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(Path(folder) / name, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(pg_bin_dir() / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"{self.log_tail()}")


@contextlib.asynccontextmanager
async def migrated_cluster(listen: list[str]) -> AsyncIterator[PgCluster]:
    """A started server listening on `listen` with a migrated database `aura`; destroyed after."""
    server = PgCluster(listen=listen)
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        admin = await asyncpg.connect(server.url())
        try:
            await admin.execute("CREATE DATABASE aura")
        finally:
            await admin.close()
        await migrate(server.url("aura"))
        yield server
    finally:
        await asyncio.to_thread(server.destroy)
