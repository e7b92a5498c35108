"""Every gateway call has a hard wall-clock deadline below the claim lease: requests'
read timeout bounds each socket read, so an answer dripping one byte at a time never times out
by itself and would outlive the lease, letting a second consumer call with the same key."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from onlyfans import delivery, dispatcher, gateway


class DripServer:
    """A real HTTP server that delivers, then drips its answer one byte every `interval`."""

    def __init__(self, *, seconds: float, interval: float = 0.05) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.seconds, self.interval = seconds, interval
        self.closed_early = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            body = b" " * int(self.seconds / self.interval) + b'{"id": "up-1"}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            try:
                for index in range(len(body)):
                    conn.sendall(body[index : index + 1])
                    time.sleep(self.interval)
            except OSError:
                self.closed_early.set()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def drip(settings):
    server = DripServer(seconds=20)
    settings.ONLYFANS_API_BASE_URL = server.url
    settings.ONLYFANS_READ_TIMEOUT = 10  # every byte comes far sooner: no read ever times out
    yield server
    server.close()


def _send(deadline: float | None = None) -> gateway.GatewayResult:
    return gateway.send_message(
        onlyfans_id="acc",
        recipient_id="fan",
        message_id="m-1",
        text="hi",
        media_urls=[],
        deadline=deadline,
    )


def test_a_dripping_answer_is_cut_at_the_calls_deadline(drip):
    result = _send(deadline=time.monotonic() + 0.5)
    assert not result.ok and not result.permanent
    assert "no complete answer" in result.error
    # The connection is closed: the gateway sees the call end (its next write fails).
    assert drip.closed_early.wait(10)


def test_the_retry_after_a_cut_call_waits_a_read_timeout(drip, settings):
    result = _send(deadline=time.monotonic() + 0.3)
    assert result.retry_after == settings.ONLYFANS_READ_TIMEOUT
    assert delivery.retry_delay(1, result) == settings.ONLYFANS_READ_TIMEOUT


def test_the_default_deadline_is_the_setting(drip, settings):
    settings.ONLYFANS_CALL_DEADLINE_SECONDS = 0.4
    assert "no complete answer" in _send().error


def test_a_call_past_its_deadline_is_not_made(settings):
    settings.ONLYFANS_API_BASE_URL = "http://127.0.0.1:9"  # would be refused, if it were called
    result = _send(deadline=time.monotonic() - 0.01)
    assert not result.ok and "not made" in result.error


def test_the_consumers_deadline_ends_the_call_well_inside_the_claim_lease(settings):
    settings.ONLYFANS_CLAIM_LEASE_SECONDS = 60
    settings.ONLYFANS_CALL_DEADLINE_SECONDS = 30
    now = time.monotonic()
    # A claim taken just now: the setting binds.
    assert dispatcher.call_deadline(timezone.now() + timedelta(seconds=60)) - now <= 30 + 0.5
    # A claim whose lease has 20 s left (a slow limiter before the call): a quarter of the
    # lease before it runs out, never the full 30 s.
    left = dispatcher.call_deadline(timezone.now() + timedelta(seconds=20)) - now
    assert left <= 20 - 15 + 0.5


def test_a_complete_answer_keeps_its_connection_for_the_next_call(settings):
    """Reading the body in pieces must not cost keep-alive: two calls, one TCP connection."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    peers: set = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            peers.add(self.client_address)
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"id": "up-1"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ONLYFANS_API_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        gateway._local.session = None  # a fresh session: no connection from another test
        first, second = _send(), _send()
    finally:
        server.shutdown()
        server.server_close()
    assert first.ok and second.ok and first.upstream_id == "up-1"
    assert len(peers) == 1


def test_the_session_reads_the_environments_proxy_once(monkeypatch, settings):
    """requests re-reads every environment variable on each call unless told not to; the
    gateway's session reads the proxy settings (and NO_PROXY) once, when it is made."""
    import threading

    from onlyfans import gateway as gateway_module

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "")
    settings.ONLYFANS_API_BASE_URL = "https://gateway.example"
    sessions = {}

    def make(name: str) -> None:
        sessions[name] = gateway_module._session()

    thread = threading.Thread(target=make, args=("proxied",))
    thread.start()
    thread.join()
    monkeypatch.setenv("NO_PROXY", "gateway.example")
    thread = threading.Thread(target=make, args=("direct",))
    thread.start()
    thread.join()

    assert sessions["proxied"].trust_env is False
    assert sessions["proxied"].proxies.get("https") == "http://proxy.internal:3128"
    assert "https" not in sessions["direct"].proxies
