#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL cluster, then stop and delete the cluster.

    scripts/with_postgres.py -- pytest -m concurrency

initdb + pg_ctl from the installed server binaries, in a temporary directory, listening on a
free loopback port with trust authentication; DATABASE_URL points the command at it. PostgreSQL
refuses to run as root, so as root the cluster runs as the `postgres` user (runuser) in a
directory that user owns. Durability is off: the data is thrown away anyway.
The cluster is stopped and its directory deleted even when the command fails or is interrupted.
Exits with the command's exit code. Standard library only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
}


class PostgresError(Exception):
    pass


def server_bindir() -> Path:
    """The directory of initdb/pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        raise PostgresError(
            "PostgreSQL server binaries not found: install Debian's `postgresql` package "
            "(`make system-packages` does it)."
        )
    newest = max(candidates, key=lambda path: int(Path(path).parent.parent.name))
    return Path(newest).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        self.bindir = server_bindir()
        self.as_root = os.geteuid() == 0
        # As root, somewhere the postgres user can reach whatever TMPDIR says.
        self.dir = Path(
            tempfile.mkdtemp(prefix="huntaze-pg-", dir="/tmp" if self.as_root else None)
        )
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.started = False
        if self.as_root:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresError(
                    "PostgreSQL refuses to run as root and there is no `postgres` user: "
                    "install Debian's `postgresql` package."
                ) from None
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        os.chmod(self.dir, 0o700)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, cwd=self.dir, capture_output=True, text=True)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise PostgresError(
                f"{' '.join(argv[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        options = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
        options += f" -p {self.port} -k {self.dir}"
        self.started = True
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        try:
            if self.started:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop"
                )
        except PostgresError as exc:
            print(f"with_postgres: could not stop the cluster cleanly: {exc}", file=sys.stderr)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _raise_on_signal(signum: int, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGHUP, _raise_on_signal)
    try:
        cluster = Cluster()
    except PostgresError as exc:
        print(f"with_postgres: {exc}", file=sys.stderr)
        return 1
    process: subprocess.Popen | None = None
    try:
        cluster.start()
        print(
            f"with_postgres: PostgreSQL ({cluster.bindir.parent.name}) on port {cluster.port}",
            flush=True,
        )
        process = subprocess.Popen(argv, env=dict(os.environ, DATABASE_URL=cluster.url))
        return process.wait()
    except PostgresError as exc:
        print(f"with_postgres: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return 130
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
