"""The recording gateway, as a process: the contract, the arrival log and each fault mode."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from tests.chaos.stack import GatewayProcess, wait_until

pytestmark = [pytest.mark.chaos]

KEY = "chaos-key"


@pytest.fixture
def gw(tmp_path):
    process = GatewayProcess(tmp_path, api_key=KEY)
    process.start()
    yield process
    process.stop()


def send(
    gw: GatewayProcess, key: str, *, account: str = "acc1", timeout: float = 5, auth: str = KEY
):
    return requests.post(
        f"{gw.url}/api/{account}/chats/fan_1/messages",
        json={"text": "hi"},
        headers={"Authorization": f"Bearer {auth}", "Idempotency-Key": key},
        timeout=timeout,
    )


def test_delivers_once_and_replays_a_known_key(gw):
    first = send(gw, "k1")
    again = send(gw, "k1")
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert send(gw, "k1", auth="wrong").status_code == 401
    log = gw.arrivals()
    assert [a["outcome"] for a in log] == ["delivered", "replay", "unauthorized"]
    assert all(a["account"] == "acc1" and a["key"] == "k1" for a in log)
    assert log[0]["t"] <= log[1]["t"] <= log[2]["t"]


def test_status_faults_with_retry_after_in_seconds_and_as_a_date(gw):
    gw.fault(kind="status", status=429, retryAfter=3, count=1)
    answer = send(gw, "k1")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
    gw.fault(kind="status", status=429, retryAfter=3, retryAfterFormat="date", count=1)
    answer = send(gw, "k1")
    assert parsedate_to_datetime(answer.headers["Retry-After"]).timestamp() >= time.time() + 2
    for status in (503, 408, 409):
        gw.fault(kind="status", status=status, count=1)
        assert send(gw, "k1").status_code == status
    assert send(gw, "k1").status_code == 200  # count exhausted: healthy again
    assert [a["outcome"] for a in gw.arrivals()] == [
        "status_429",
        "status_429",
        "status_503",
        "status_408",
        "status_409",
        "delivered",
    ]


def test_a_fault_for_some_accounts_spares_the_others(gw):
    gw.fault(kind="status", status=500, accounts=["acc2"])
    assert send(gw, "k1", account="acc1").status_code == 200
    assert send(gw, "k2", account="acc2").status_code == 500


def test_hang_and_reset_reach_the_client_as_errors_but_deliver(gw):
    gw.fault(kind="hang", seconds=3, count=1)
    with pytest.raises(requests.ReadTimeout):
        send(gw, "k1", timeout=0.5)
    gw.fault(kind="reset", count=1)
    with pytest.raises(requests.ConnectionError):
        send(gw, "k2")
    time.sleep(3)  # the hang is over: k1's delivery is now replayable
    assert send(gw, "k1").json().get("replayed") is True
    assert [a["outcome"] for a in gw.arrivals()] == ["delivered", "delivered", "replay"]


def test_slow_drip_answers_within_a_per_read_timeout(gw):
    gw.fault(kind="drip", seconds=1.5, interval=0.1, count=1)
    started = time.monotonic()
    answer = send(gw, "k1", timeout=0.5)  # never 0.5 s without a byte
    assert answer.status_code == 200 and json.loads(answer.text)["id"]
    assert time.monotonic() - started >= 1.0


def concurrent_pair(gw: GatewayProcess) -> list[int]:
    gw.fault(kind="delay", seconds=1.5, count=1)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(send, gw, "k1")
        time.sleep(0.3)
        second = pool.submit(send, gw, "k1")
        return [first.result().status_code, second.result().status_code]


def test_an_in_flight_key_is_409_with_dedupe(gw):
    assert concurrent_pair(gw) == [200, 409]
    assert [a["outcome"] for a in gw.arrivals()] == ["delivered", "in_use"]


def test_without_dedupe_two_concurrent_calls_both_deliver(gw):
    gw.dedupe(False)
    assert concurrent_pair(gw) == [200, 200]
    assert [a["outcome"] for a in gw.arrivals()] == ["delivered", "delivered"]


CLIENT = """
import sys, time, requests
answer = requests.post(sys.argv[1], json={"text": "hi"}, timeout=5,
                       headers={"Authorization": "Bearer chaos-key",
                                "Idempotency-Key": sys.argv[2]})
time.sleep(0.5)  # a consumer records the answer in its database now
print("answered", answer.status_code, flush=True)
"""


def fake_consumer(gw: GatewayProcess, key: str) -> subprocess.CompletedProcess:
    # `consume_messages` in its command line: the gateway kills only consumer processes.
    url = f"{gw.url}/api/acc1/chats/fan_1/messages"
    return subprocess.run(
        [sys.executable, "-c", CLIENT, url, key, "consume_messages"],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("on_arrival", "killed_on_arrival"),
        ("before_answer", "delivered"),
        ("after_answer", "delivered"),
    ],
)
def test_it_kills_the_calling_consumer_at_each_point(gw, when, outcome):
    gw.fault(kind="kill", killClient=when, count=1)
    killed = fake_consumer(gw, "k1")
    assert killed.returncode == -9 and "answered" not in killed.stdout
    survivor = fake_consumer(gw, "k1")  # the fault is spent: a healthy call
    assert survivor.returncode == 0 and "answered 200" in survivor.stdout
    log = gw.arrivals()
    assert log[0]["outcome"] == outcome
    assert [line["outcome"] for line in log[1:]] == (
        ["delivered"] if when == "on_arrival" else ["kill", "replay"]
    )


def test_it_never_kills_a_process_that_is_not_a_consumer(gw):
    gw.fault(kind="kill", killClient="after_answer", count=1)
    assert send(gw, "k1").status_code == 200  # this very test process: still alive
    # The kill line follows the answer: wait for it (bounded).
    wait_until(lambda: len(gw.arrivals()) == 2, timeout=10, what="the gateway's kill line")
    assert gw.arrivals()[-1] == {**gw.arrivals()[-1], "outcome": "kill", "killed": None}
