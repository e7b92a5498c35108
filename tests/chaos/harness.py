"""The chaos orchestrator: the whole pipeline on real components, loaded through the API, with
fault actions, and the checker's verdict at the end.

    with ChaosStack(Config(per_account=20), workdir) as stack:
        stack.load()
        stack.kill_random_consumer(); ...
        verdict = stack.finish(timeout=120)

Components, all on 127.0.0.1: a throwaway PostgreSQL cluster (scripts/with_postgres.py's), a
redis-server without persistence, moto's server mode behind a proxy that can black-hole, the
recording gateway (tests/chaos/gateway.py), gunicorn serving the app, `publish_pending` relays
(the beat's job, as a loop) and `consume_messages` processes. Time is compressed through the
settings the code already has (`ONLYFANS_RATE_WINDOW_SECONDS`); the scheduler's options (lanes,
the minimum gap) are configuration here, sent or checked only when set, so that the same harness
runs on main and on the scheduler branch.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.chaos import checker
from tests.chaos.proxy import BlackholeProxy
from tests.chaos.stack import (
    PYTHON,
    ROOT,
    GatewayProcess,
    MotoProcess,
    Postgres,
    Proc,
    RedisProcess,
    free_port,
    port_open,
    wait_until,
)

FINAL = ("sent", "failed", "dead_lettered", "cancelled")
PASSWORD = "chaos-password-not-a-secret"
# The API's SQS call bound (moto on a loaded 2-core machine needs room): during a black hole a
# send answers 202 within it plus 100 ms (p99).
SQS_REQUEST_TIMEOUT = 2.0
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "chaos-fake",
    "AWS_SECRET_ACCESS_KEY": "chaos-fake-secret",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Config:
    accounts: int = 5
    per_account: int = 20
    consumers: int = 3
    relays: int = 1
    relay_interval: float = 2.0
    limit: int = 10
    window: float = 6.0
    # None: the app's ONLYFANS_MIN_GAP_SECONDS if it has that setting (the scheduler), else 0.
    min_gap: float | None = None
    # Each message's `lane`, in turn: every scenario loads both lanes (an empty tuple sends none).
    lanes: tuple[str, ...] = ("interactive", "bulk")
    env: dict[str, str] = field(default_factory=dict)  # extra settings for every app process


@dataclass
class ApiCall:
    at: float
    status: int | None
    seconds: float
    ids: list[str]


class ChaosStack:
    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self.consumers: list[Proc] = []
        self.relays: list[Proc] = []
        self.accepted: list[str] = []
        self.api_calls: list[ApiCall] = []
        # (start, end) of a PostgreSQL stop / an SQS black hole, for the API's rules during each.
        self.down_window: tuple[float, float] | None = None
        self.sqs_window: tuple[float, float] | None = None
        self.faults: list[checker.Fault] = []
        self.actions: list[dict] = []
        self.account_ids: list[int] = []
        self.min_gap = 0.0
        self._lock = threading.Lock()
        self.pg: Postgres | None = None
        self.proxy: BlackholeProxy | None = None
        self._supervising = threading.Event()
        self._pg_watchdog: subprocess.Popen | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> ChaosStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.pg = Postgres()
        self.pg.start()
        self._pg_watchdog = self.pg.start_watchdog()
        self.redis = self._own(RedisProcess(self.dir)).start()
        self.moto = self._own(MotoProcess(self.dir, self._base_env())).start()
        self.proxy = BlackholeProxy(self.moto.port)
        self.gateway = self._own(GatewayProcess(self.dir, env=self._base_env())).start()
        self.web_port = free_port()
        self.env = self._app_env()
        self.manage("migrate", "--noinput")
        self._setup_queues()
        self._seed()
        self.web = self._own(
            Proc(
                "web",
                [PYTHON, "-m", "gunicorn", "huntaze.wsgi", "--config", "gunicorn.conf.py"],
                self.dir,
                self.env,
            )
        ).start()
        wait_until(
            lambda: requests.get(f"{self.api}/healthz", timeout=2).ok, timeout=60, what="gunicorn"
        )
        for index in range(self.config.relays):
            self.relays.append(self._own(self._relay(index)).start())
        for index in range(self.config.consumers):
            self.consumers.append(self._own(self._consumer(index)).start())
        self.token = self._login()

    def close(self) -> None:
        self._supervising.clear()
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.kill()
        if self.proxy is not None:
            self.proxy.close()
        if self._pg_watchdog is not None:
            self._pg_watchdog.kill()
            self._pg_watchdog.wait()
        if self.pg is not None:
            self.pg.stop()  # immediate stop, and the cluster's directory is deleted

    def _own(self, proc: Proc) -> Any:
        self.procs.append(proc)
        return proc

    # --- environment ----------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        # Nothing inherited but the basics: the test process' own settings must not leak in.
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
        env = {key: os.environ[key] for key in keep if key in os.environ}
        return dict(env, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **FAKE_AWS)

    def _app_env(self) -> dict[str, str]:
        window = self.config.window
        env = dict(
            self._base_env(),
            DJANGO_SETTINGS_MODULE="huntaze.settings",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="chaos-harness-only-" + "x" * 40,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SESSION_COOKIE_SECURE="false",
            DJANGO_CSRF_COOKIE_SECURE="false",
            DJANGO_STATIC_MANIFEST="false",
            HUNTAZE_LOCAL_ENV_FILE="",
            PORT=str(self.web_port),
            WEB_CONCURRENCY="2",
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            SQS_ENDPOINT_URL=self.proxy.url,
            CLOUDWATCH_ENABLED="false",
            ONLYFANS_API_BASE_URL=self.gateway.url,
            ONLYFANS_API_KEY=self.gateway.api_key,
            ONLYFANS_RATE_LIMIT_PER_MINUTE=str(self.config.limit),
            ONLYFANS_RATE_WINDOW_SECONDS=f"{window:g}",
            # Compressing the window does not compress the machine's stalls (scheduling, GC, a slow
            # socket): keep the guard's production size in seconds (3 % of 60 s = 1.8 s) rather
            # than 3 % of the compressed window (0.18 s on a 6-s window, which a loaded 2-core
            # machine overruns and the checker then rightly reports as 11 calls in a window).
            ONLYFANS_RATE_GUARD=f"{min(1.8 / window, 1.0):g}",
            # Retries back off in compressed time too (production: 2 s doubling up to 300 s).
            ONLYFANS_RETRY_BASE_SECONDS=f"{window / 30:g}",
            ONLYFANS_RETRY_MAX_SECONDS=f"{window:g}",
            # The scenarios inject bursts of up to 26 transient answers in a row across 5 accounts:
            # the retry budget must outlast a burst, or an unlucky message is rightly dead-lettered
            # after 5 real transient failures (seen in gateway_transient once the dispatcher
            # retried one account's message as soon as its back-off ended).
            ONLYFANS_MAX_ATTEMPTS="12",
            SEND_RATE_LIMIT="100000/m",
            LOGIN_RATE_LIMIT="1000/m",
            SQS_REQUEST_TIMEOUT=f"{SQS_REQUEST_TIMEOUT:g}",
            # The lease and the visibility timeout in compressed time too (production: 60 s and
            # 90 s), with the gateway's timeouts below the lease as in production (3 + 10 < 60).
            ONLYFANS_CLAIM_LEASE_SECONDS="10",
            SQS_VISIBILITY_TIMEOUT="15",
            ONLYFANS_CONNECT_TIMEOUT="1",
            ONLYFANS_READ_TIMEOUT="3",
            LOG_LEVEL="WARNING",
            LOG_FILE="",
        )
        env.update(self.config.env)
        return env

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def _setup_queues(self) -> None:
        out = self.manage("setup_queues")
        for line in out.splitlines():
            name, _, value = line.strip().partition("=")
            if name in ("SQS_RATE_LIMITER_QUEUE_URL", "SQS_RATE_LIMITER_DLQ_URL"):
                self.env[name] = value
        if "SQS_RATE_LIMITER_QUEUE_URL" not in self.env:
            raise RuntimeError(f"setup_queues printed no queue URL: {out}")

    def _seed(self) -> None:
        code = (
            "import json\n"
            "from django.conf import settings\n"
            "from django.contrib.auth import get_user_model\n"
            "from onlyfans.models import OnlyFansAccount\n"
            f"user, _ = get_user_model().objects.get_or_create(username='chaos')\n"
            f"user.set_password({PASSWORD!r}); user.save()\n"
            "ids = [OnlyFansAccount.objects.get_or_create(owner=user, onlyfans_id=f'chaos-{i}',"
            " defaults={'username': f'chaos{i}'})[0].pk"
            f" for i in range({self.config.accounts})]\n"
            "print(json.dumps({'ids': ids,"
            " 'minGap': getattr(settings, 'ONLYFANS_MIN_GAP_SECONDS', 0)}))\n"
        )
        seeded = json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])
        self.account_ids = seeded["ids"]
        self.min_gap = (
            self.config.min_gap if self.config.min_gap is not None else float(seeded["minGap"] or 0)
        )

    def _relay(self, index: int) -> Proc:
        # Celery beat runs the relay every few seconds; a shell loop is the same job, as a process.
        loop = (
            f"while :; do {PYTHON} manage.py publish_pending >/dev/null;"
            f" sleep {self.config.relay_interval:g}; done"
        )
        return Proc(f"relay-{index}", ["sh", "-c", loop], self.dir, self.env)

    def _consumer(self, index: int) -> Proc:
        return Proc(
            f"consumer-{index}",
            [PYTHON, "manage.py", "consume_messages", "--wait-seconds", "1"],
            self.dir,
            self.env,
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _login(self) -> str:
        answer = requests.post(
            f"{self.api}/api/auth/token/",
            json={"username": "chaos", "password": PASSWORD},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["access"]

    # --- load -------------------------------------------------------------------------------
    def load(
        self, per_account: int | None = None, *, batch: int = 10, pause: float = 0.0
    ) -> list[str]:
        """Send per_account messages to every account through POST /batch; returns the ids
        answered 202. Failed calls are recorded (status, time) and not retried: not accepted."""
        per_account = per_account or self.config.per_account
        ids: list[str] = []
        for start in range(0, per_account, batch):
            for account in self.account_ids:
                items = []
                for i in range(start, min(start + batch, per_account)):
                    item: dict[str, Any] = {
                        "recipientId": f"fan_{i}",
                        "content": f"chaos {account}/{i}",
                    }
                    if self.config.lanes:
                        item["lane"] = self.config.lanes[i % len(self.config.lanes)]
                    items.append(item)
                ids += self._post_batch(account, items)
                if pause:
                    time.sleep(pause)
        return ids

    def _post_batch(self, account: int, items: list[dict]) -> list[str]:
        started = time.monotonic()
        status, ids = None, []
        try:
            answer = requests.post(
                f"{self.api}/api/onlyfans/messages/batch",
                json={"accountId": account, "messages": items},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=15,
            )
            status = answer.status_code
            if status == 202:
                ids = [r["messageId"] for r in answer.json()["results"]]
        except requests.RequestException:
            pass
        with self._lock:
            self.api_calls.append(ApiCall(time.time(), status, time.monotonic() - started, ids))
            self.accepted += ids
        return ids

    # --- faults -----------------------------------------------------------------------------
    def act(self, name: str, **details: Any) -> None:
        self.actions.append({"t": time.time(), "action": name, **details})

    def fault(self, name: str, started_at: float, ended_at: float | None = None) -> None:
        self.faults.append(
            checker.Fault(name, started_at, ended_at if ended_at is not None else time.time())
        )

    def kill_random_consumer(self, restart_after: float = 0.0) -> None:
        victim = random.choice(self.consumers)  # noqa: S311 - chaos, not crypto
        at = time.time()
        victim.kill()
        self.act("sigkill consumer", consumer=victim.name)
        if restart_after:
            time.sleep(restart_after)
        victim.start()
        self.fault(f"kill -9 {victim.name}", at)

    def stall_random_consumer(self, seconds: float) -> None:
        """SIGSTOP a consumer for `seconds`, then SIGCONT: a stall (GC, a starved CPU, a slow
        socket) wherever it happens to be, possibly between its slot grant and its call."""
        victim = random.choice(self.consumers)  # noqa: S311
        at = time.time()
        victim.signal(signal.SIGSTOP)
        self.act("sigstop consumer", consumer=victim.name, seconds=seconds)
        try:
            time.sleep(seconds)
        finally:
            victim.signal(signal.SIGCONT)
        self.fault(f"stall {victim.name}", at)

    def supervise_consumers(self) -> None:
        """Restart any consumer that dies (a process manager's job): the gateway's `killClient`
        faults SIGKILL consumers mid call, and someone has to bring them back."""
        self._supervising.set()

        def loop() -> None:
            while self._supervising.is_set():
                for proc in self.consumers:
                    if not proc.running() and self._supervising.is_set():
                        self.act("restart dead consumer", consumer=proc.name)
                        proc.start()
                time.sleep(0.3)

        threading.Thread(target=loop, name="chaos-supervisor", daemon=True).start()

    def redis_flushall(self) -> None:
        at = time.time()
        self.redis.flushall()
        self.act("redis flushall")
        self.fault("redis flushall", at)

    def redis_outage(self, seconds: float) -> None:
        """Kill redis-server, keep it down `seconds`, start it again empty on the same port."""
        at = time.time()
        self.redis.kill()
        self.act("redis down", seconds=seconds)
        time.sleep(seconds)
        self.redis.start()
        self.fault(
            f"redis outage {seconds:g}s" if seconds else "redis restart (no persistence)", at
        )

    def sqs_blackhole(self, on: bool) -> None:
        self.proxy.set_blackhole(on)
        self.act("sqs blackhole " + ("on" if on else "off"))

    def pg_restart(self) -> None:
        at = time.time()
        self.pg.restart_fast()
        self.act("pg_ctl restart -m fast")
        self.fault("postgres restart", at)

    def kill_stack(self) -> None:
        """SIGKILL every process of the local stack (web, relays, consumers, Redis, the in-memory
        SQS) at once; the database and the gateway (OnlyFans' side) survive."""
        at = time.time()
        stack = [self.web, *self.relays, *self.consumers, self.redis, self.moto]
        for proc in stack:
            proc.signal(9)
        for proc in stack:
            proc.kill()
        self.act("sigkill the whole stack")
        self.moto.start()
        self.redis.start()
        self._setup_queues()  # a fresh in-memory SQS: same queue URLs, empty
        self.web.start()
        wait_until(
            lambda: requests.get(f"{self.api}/healthz", timeout=2).ok, timeout=60, what="gunicorn"
        )
        for proc in (*self.relays, *self.consumers):
            proc.start()
        self.fault("sigkill the whole stack", at)

    # --- observation ------------------------------------------------------------------------
    def _db(self):
        return psycopg.connect(
            self.pg.url.replace("postgres://", "postgresql://"), connect_timeout=3
        )

    def rows(self) -> list[dict]:
        with self._db() as conn:
            cursor = conn.execute(
                "SELECT m.id::text, a.onlyfans_id, m.status, m.last_error, m.attempt_count "
                "FROM onlyfans_outboundmessage m "
                "JOIN onlyfans_onlyfansaccount a ON a.id = m.account_id"
            )
            return [
                dict(zip(("id", "account", "status", "last_error", "attempts"), r, strict=True))
                for r in cursor.fetchall()
            ]

    def unfinished(self) -> int:
        with self._db() as conn:
            return conn.execute(
                "SELECT count(*) FROM onlyfans_outboundmessage WHERE NOT status = ANY(%s)",
                (list(FINAL),),
            ).fetchone()[0]

    def wait_final(self, timeout: float) -> bool:
        """Until every message is final, or `timeout`; False when time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.Error):
                if self.unfinished() == 0:
                    return True
            time.sleep(0.5)
        return False

    def dlq_depth(self) -> int | None:
        import boto3

        with contextlib.suppress(Exception):
            client = boto3.client(
                "sqs",
                endpoint_url=f"http://127.0.0.1:{self.moto.port}",
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            attributes = client.get_queue_attributes(
                QueueUrl=self.env["SQS_RATE_LIMITER_DLQ_URL"],
                AttributeNames=["ApproximateNumberOfMessages"],
            )
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        return None

    def verdict(
        self, *, expected_failures: dict[str, str] | None = None, recovery_bound: float = 30.0
    ) -> checker.Verdict:
        return checker.check(
            self.gateway.arrivals(),
            self.rows(),
            limit=self.config.limit,
            window=self.config.window,
            accepted=self.accepted,
            min_gap=self.min_gap,
            expected_failures=expected_failures,
            faults=self.faults,
            recovery_bound=recovery_bound,
        )

    def finish(self, timeout: float, **kwargs: Any) -> checker.Verdict:
        self.completed = self.wait_final(timeout)
        return self.verdict(**kwargs)

    def diagnostics(self) -> str:
        """The tail of every process' log, for a failing assertion."""
        alive = {p.name: p.running() for p in self.procs}
        return (
            json.dumps(alive) + "\n" + "\n".join(f"== {p.name}\n{p.tail(15)}" for p in self.procs)
        )

    def healthy(self) -> bool:
        return all(port_open(p) for p in (self.redis.port, self.moto.port, self.web_port))
