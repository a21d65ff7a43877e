"""A throwaway PostgreSQL server on a loopback port, for the tests and the benchmark.

:func:`start` runs ``initdb`` in a fresh temporary folder and ``pg_ctl start`` on a
free 127.0.0.1 port (the socket in that folder too, so nothing touches the system's
``/run/postgresql``). Password authentication (scram) on TCP, so the tests can try a
wrong password and a role that may only read. As root, the server runs as the
``postgres`` user (``initdb`` refuses root). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
"""Debian's PostgreSQL binaries (newest version first); else ``initdb`` on PATH."""

SUPERUSER = "ktui"
PASSWORD = "ktui-test-secret"
START_TIMEOUT = 30.0


def binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is missing."""
    for folder in BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running throwaway server; :meth:`url` names a database on it."""

    folder: Path
    bin_dir: Path
    port: int
    run_as: str | None
    durable: bool = False

    def url(
        self, database: str = "postgres", user: str = SUPERUSER, password: str = PASSWORD
    ) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    def pg_ctl(self, action: str, *extra: str, timeout: float = START_TIMEOUT) -> None:
        """``pg_ctl start`` / ``stop`` / ``restart``, waiting (bounded) until it is done."""
        argv = [str(self.bin_dir / "pg_ctl"), action, "-D", str(self.folder / "data"), "-w"]
        argv += ["-t", str(int(timeout))]
        if action in ("start", "restart"):
            argv += ["-l", str(self.folder / "server.log"), "-o", self._options()]
        if action in ("stop", "restart"):
            argv += ["-m", "fast"]
        subprocess.run(
            self._cmd(*argv, *extra), check=True, capture_output=True, timeout=timeout + 10
        )

    def _options(self) -> str:
        # fsync off: a throwaway server need not survive a power cut, and the tests
        # share 2 cores with others. The benchmark passes durable=True.
        options = f"-k {self.folder} -h 127.0.0.1 -p {self.port} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        return options

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (autocommit: CREATE DATABASE needs it)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.pg_ctl("stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def start(*, durable: bool = False) -> Server:
    """Start a throwaway server (RuntimeError with initdb's words when it cannot)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL's initdb and pg_ctl are not installed")
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            owner = pwd.getpwnam(run_as)
        except KeyError:
            raise RuntimeError("running as root needs the 'postgres' user for initdb") from None
    folder = Path(tempfile.mkdtemp(prefix="ktui-pg-"))
    try:
        (folder / "pw").write_text(PASSWORD + "\n")
        if run_as:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            os.chown(folder / "pw", owner.pw_uid, owner.pw_gid)
        server = Server(folder, bin_dir, free_port(), run_as, durable)
        subprocess.run(
            server._cmd(
                str(bin_dir / "initdb"),
                "-D",
                str(folder / "data"),
                "-U",
                SUPERUSER,
                f"--pwfile={folder / 'pw'}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between the probe and the start
            try:
                server.pg_ctl("start")
                break
            except subprocess.CalledProcessError as exc:
                last = exc
                server.port = free_port()
        else:
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {last}\n{log}")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                server.sql("SELECT 1")
                return server
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
