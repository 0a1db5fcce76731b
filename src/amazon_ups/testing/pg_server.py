"""A PostgreSQL server of a test's own: ``initdb`` into a fresh folder, ``pg_ctl start``
(in a host of ``hosts.Hosts``, listening on its address), trust for the hosts' network,
and ``pg_ctl stop`` plus the folder deleted at the end.

initdb refuses to run as root: as root the server is the ``postgres`` user's (``runuser``),
in a folder that user owns; as anyone else, the caller's. ``unavailable()`` says why no
server can be made here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

SERVER_USER = "postgres"  # who runs the server when we are root
PORT = 5432  # in a namespace of its own, no other server shares it


def _bin(name: str) -> str | None:
    if found := shutil.which(name):
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def unavailable() -> str | None:
    """Why this machine cannot run a server of our own, or None when it can."""
    for name in ("initdb", "pg_ctl"):
        if _bin(name) is None:
            return f"no {name} (PostgreSQL's server programs) on PATH or in /usr/lib/postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root, and initdb refuses root: no {SERVER_USER!r} user to run it"
        if shutil.which("runuser") is None:
            return "running as root, and no runuser to run initdb as another user"
    return None


class PostgresServer:
    """One server, its data in a temporary folder. ``wrap(argv)`` places a command (in a
    network namespace, say); ``address`` is where it listens; ``trust`` the network whose
    clients log in without a password. The server's log is ``log``, until ``stop``."""

    def __init__(
        self,
        address: str,
        trust: str,
        wrap: Callable[[Sequence[str]], list[str]] = list,
    ) -> None:
        self.address = address
        self.trust = trust
        self.wrap = wrap
        self.folder = Path(tempfile.mkdtemp(prefix="au-postgres-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"  # the server's user must write it
        self.started = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{SERVER_USER}@{self.address}:{PORT}/{database}"

    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return list(argv)

    def _run(self, argv: Sequence[str], timeout: float = 120) -> None:
        done = subprocess.run(
            self.wrap(self._as_server_user(argv)), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}\n{log}"
            )

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.log.touch()
            os.chown(self.log, user.pw_uid, user.pw_gid)
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        assert initdb and pg_ctl, unavailable()
        self._run(
            [
                initdb,
                "-D",
                str(self.data),
                "-U",
                SERVER_USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.trust} trust\n")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{self.address}'\n"
                f"port = {PORT}\n"
                f"unix_socket_directories = '{self.folder}'\n"
                # A throwaway server: speed over durability.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])
        self.started = True
        return self

    def create(self, *databases: str) -> dict[str, str]:
        """Create ``databases``; their URLs by name."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as admin:
            for name in databases:
                admin.execute(f'CREATE DATABASE "{name}"')
        return {name: self.url(name) for name in databases}

    def stop(self) -> None:
        pg_ctl = _bin("pg_ctl")
        if self.started and pg_ctl:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run([pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"], 60)
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)
