"""A recording OnlyFans gateway for the chaos harness, as a standalone process.

    python -m tests.chaos.gateway --port P --control-port C --log arrivals.jsonl [--api-key K]

The gateway contract of onlyfans/gateway.py: `POST /api/{account}/chats/{recipientId}/messages`,
`Authorization: Bearer {key}`, `Idempotency-Key: {messageId}`; 2xx with `{"id": …}` when
delivered, and the original delivery again for a key it already delivered (a replay).

Every arrival is appended to the log *when it arrives*, by this process' clock, as one JSON line
`{"t", "account", "recipient", "key", "outcome", "fault"}`, before any answer is written, so that
a call whose answer never reaches the client (hang, reset, killed consumer) is still counted.
The outcome is decided at arrival:

- `delivered`: this call delivered the message (the only outcome that counts as a delivery);
- `replay`: the key was delivered before; answered 200 with the original id, nothing delivered;
- `in_use`: 409, the key is being delivered by a call still in flight (dedupe on), or injected;
- `status_NNN`: an injected failure (429, 5xx, 408…), nothing delivered;
- `unauthorized`, `bad_request`: the contract refused the call.

Faults are switched at run time on the control port (JSON over HTTP, see `Control`):
`POST /fault` `{"kind": …, "count": n, "accounts": […], …}`, `DELETE /fault`,
`POST /dedupe` `{"enabled": false}`, `GET /stats`. Kinds:

- `status`: answer `status` (429, 500, 503, 408, 409…); a 429 carries `Retry-After`, in seconds
  (`retryAfter`) or as an HTTP date when `retryAfterFormat` is `"date"`;
- `delay`: deliver, answer after `seconds`;
- `hang`: deliver (unless `deliver` is false), then hold the connection `seconds` and close it
  without an answer (past the client's read timeout);
- `drip`: deliver, then send the answer's body one byte every `interval` seconds for `seconds`
  (a per-read timeout never fires);
- `reset`: read the request, deliver (unless `deliver` is false), reset the connection (RST).

Any fault may also carry `"killClient": "on_arrival" | "before_answer" | "after_answer"`: the
gateway SIGKILLs the calling process (found by the connection's port in /proc, and only if it is a
`consume_messages` process) when the request arrives (its slot taken, nothing delivered), after
delivering but before answering (mid call), or right after the answer is written (before the
consumer can record it). The log line then says `"killed": pid`.

Standard library only: the harness runs it with the project's interpreter but it imports nothing
of the project.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = re.compile(r"^/api/(?P<account>[^/]+)/chats/(?P<recipient>[^/]+)/messages/?$")
FAULT_KINDS = {"status", "delay", "hang", "drip", "reset", "kill"}


def client_pid(peer_port: int) -> int | None:
    """The process that owns the loopback connection whose local port is `peer_port`."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == peer_port and fields[9] != "0":
                    inode = fields[9]
                    break
        if inode:
            break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") == target:
                        return int(entry)
    return None


def find_consumer(peer_port: int) -> int | None:
    """The `consume_messages` process at the other end of the connection, if that is one."""
    pid = client_pid(peer_port)
    if pid is None:
        return None
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        if b"consume_messages" in cmdline.read():
            return pid
    return None


def kill(pid: int | None) -> int | None:
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return pid


def kill_consumer(peer_port: int) -> int | None:
    return kill(find_consumer(peer_port))


class State:
    """Everything the two servers share; one lock, held only for bookkeeping (never across I/O
    waits), so that slow answers never serialise arrivals."""

    def __init__(self, log_path: str, api_key: str) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - process lifetime
        self.accepted: dict[str, str] = {}  # key -> upstream id of its delivery
        self.in_flight: dict[str, int] = {}  # key -> calls still being answered
        self.dedupe = True
        self.fault: dict[str, Any] | None = None
        self.counts: dict[str, int] = {}

    def arrive(
        self, account: str, recipient: str, key: str, authorized: bool, peer_port: int = 0
    ) -> tuple[str, dict | None, str]:
        """Decide and log the arrival's outcome; returns (outcome, fault, upstream id)."""
        with self.lock:
            fault = self._take_fault(account)
            killed = None
            if fault is not None and fault.get("killClient") == "on_arrival":
                killed = kill_consumer(peer_port)
            upstream = ""
            if not authorized:
                outcome = "unauthorized"
            elif not key:
                outcome = "bad_request"
            elif key in self.accepted:
                outcome, upstream = "replay", self.accepted[key]
            elif fault is not None and fault["kind"] == "status":
                outcome = f"status_{int(fault.get('status', 503))}"
            elif self.dedupe and self.in_flight.get(key):
                outcome = "in_use"
            elif killed is not None:
                outcome = "killed_on_arrival"
            elif (
                fault is not None
                and fault["kind"] in ("hang", "reset")
                and not fault.get("deliver", True)
            ):
                outcome = f"lost_{fault['kind']}"
            else:
                outcome, upstream = "delivered", uuid.uuid4().hex
            if outcome in ("delivered", "lost_hang", "lost_reset"):
                self.in_flight[key] = self.in_flight.get(key, 0) + 1
            record = {
                "t": time.time(),
                "account": account,
                "recipient": recipient,
                "key": key,
                "outcome": outcome,
                "fault": fault["kind"] if fault else None,
            }
            if killed is not None:
                record["killed"] = killed
            self.log.write(json.dumps(record) + "\n")
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            return outcome, fault, upstream

    def note_kill(self, key: str, pid: int | None, when: str) -> None:
        """A kill after the arrival line: its own line (outcome `kill`, not a call)."""
        with self.lock:
            self.log.write(
                json.dumps(
                    {"t": time.time(), "key": key, "outcome": "kill", "when": when, "killed": pid}
                )
                + "\n"
            )
            self.counts["kill"] = self.counts.get("kill", 0) + 1

    def finish(self, key: str, outcome: str, upstream: str) -> None:
        """The call is over (answered or abandoned): its delivery, if any, is now replayable."""
        with self.lock:
            if outcome in ("delivered", "lost_hang", "lost_reset"):
                left = self.in_flight.get(key, 1) - 1
                if left > 0:
                    self.in_flight[key] = left
                else:
                    self.in_flight.pop(key, None)
            if outcome == "delivered":
                self.accepted.setdefault(key, upstream)

    def _take_fault(self, account: str) -> dict | None:
        fault = self.fault
        if fault is None:
            return None
        accounts = fault.get("accounts")
        if accounts and account not in accounts:
            return None
        if fault.get("count") is not None:
            fault["count"] -= 1
            if fault["count"] <= 0:
                self.fault = None
        return dict(fault)


def make_gateway_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # the arrival log is the record; stderr stays quiet

        def do_GET(self) -> None:
            if self.path == "/_health":
                self._json(200, {"ok": True})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            match = PATH.match(self.path.split("?", 1)[0])
            if match is None:
                self._json(404, {"error": "not found"})
                return
            try:
                json.loads(body or b"{}")
            except ValueError:
                self._json(400, {"error": "invalid JSON"})
                return
            key = self.headers.get("Idempotency-Key", "")
            authorized = self.headers.get("Authorization", "") == f"Bearer {state.api_key}"
            peer = self.client_address[1]
            outcome, fault, upstream = state.arrive(
                match["account"], match["recipient"], key, authorized, peer
            )
            when = (fault or {}).get("killClient")
            # Found before answering, so that the kill follows the answer within microseconds.
            victim = find_consumer(peer) if when in ("before_answer", "after_answer") else None
            try:
                if outcome == "delivered" and when == "before_answer":
                    state.note_kill(key, kill(victim), when)
                    self.close_connection = True
                    return
                self._answer(outcome, fault, upstream, key)
                if outcome in ("delivered", "replay") and when == "after_answer":
                    state.note_kill(key, kill(victim), when)
            finally:
                state.finish(key, outcome, upstream)

        def _answer(self, outcome: str, fault: dict | None, upstream: str, key: str) -> None:
            if outcome == "unauthorized":
                self._json(401, {"error": "invalid API key"})
            elif outcome == "bad_request":
                self._json(400, {"error": "Idempotency-Key is required"})
            elif outcome == "replay":
                self._json(200, {"id": upstream, "replayed": True})
            elif outcome == "in_use":
                self._json(409, {"error": "idempotency key in use"})
            elif outcome.startswith("status_"):
                self._status_fault(int(outcome[len("status_") :]), fault or {})
            elif fault is not None and fault["kind"] == "kill":
                self._json(200, {"id": upstream})  # a healthy answer; the kill is the fault
            elif fault is not None and fault["kind"] == "delay":
                time.sleep(float(fault.get("seconds", 1)))
                self._json(200, {"id": upstream})
            elif fault is not None and fault["kind"] == "hang":
                time.sleep(float(fault.get("seconds", 15)))
                self.close_connection = True  # no answer at all
            elif fault is not None and fault["kind"] == "reset":
                self._reset()
            elif fault is not None and fault["kind"] == "drip":
                self._drip(
                    upstream, float(fault.get("seconds", 5)), float(fault.get("interval", 0.5))
                )
            else:
                self._json(200, {"id": upstream})

        def _status_fault(self, status: int, fault: dict) -> None:
            headers: dict[str, str] = {}
            if status == 429:
                seconds = float(fault.get("retryAfter", 1))
                if fault.get("retryAfterFormat") == "date":
                    # HTTP dates have one-second resolution: round up so the wait is never short.
                    headers["Retry-After"] = formatdate(time.time() + seconds + 1, usegmt=True)
                else:
                    headers["Retry-After"] = f"{seconds:g}"
            message = "idempotency key in use" if status == 409 else f"injected {status}"
            self._json(status, {"error": message}, headers)

        def _reset(self) -> None:
            # SO_LINGER 0 makes close() send RST: the client has sent everything and reads nothing.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _drip(self, upstream: str, seconds: float, interval: float) -> None:
            payload = json.dumps({"id": upstream}).encode()
            pad = max(int(seconds / max(interval, 0.01)) - len(payload), 0)
            data = b" " * pad + payload  # leading whitespace is valid JSON
            interval = seconds / len(data)  # the whole answer takes `seconds`, whatever its size
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for index in range(len(data)):
                    self.wfile.write(data[index : index + 1])
                    self.wfile.flush()
                    time.sleep(interval)
            except OSError:
                self.close_connection = True

        def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True  # the client went away (killed consumer)

    return Gateway


def make_control_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Control(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}") if length else {}

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with state.lock:
                self._json(
                    200,
                    {
                        "dedupe": state.dedupe,
                        "fault": state.fault,
                        "counts": dict(state.counts),
                        "inFlight": sum(state.in_flight.values()),
                        "delivered": len(state.accepted),
                    },
                )

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/fault":
                if body.get("kind") not in FAULT_KINDS:
                    self._json(400, {"error": f"kind must be one of {sorted(FAULT_KINDS)}"})
                    return
                with state.lock:
                    state.fault = body
                self._json(200, {"fault": body})
            elif self.path == "/dedupe":
                with state.lock:
                    state.dedupe = bool(body.get("enabled", True))
                self._json(200, {"dedupe": state.dedupe})
            else:
                self._json(404, {"error": "not found"})

        def do_DELETE(self) -> None:
            if self.path == "/fault":
                with state.lock:
                    state.fault = None
                self._json(200, {"fault": None})
            else:
                self._json(404, {"error": "not found"})

    return Control


def serve(port: int, control_port: int, log: str, api_key: str) -> None:
    state = State(log, api_key)
    gateway = ThreadingHTTPServer(("127.0.0.1", port), make_gateway_handler(state))
    control = ThreadingHTTPServer(("127.0.0.1", control_port), make_control_handler(state))
    for server in (gateway, control):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print(
        json.dumps(
            {
                "ready": True,
                "port": gateway.server_address[1],
                "controlPort": control.server_address[1],
            }
        ),
        flush=True,
    )
    stopping.wait()
    gateway.shutdown()
    control.shutdown()
    state.log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--log", required=True, help="the JSON-lines arrival log (appended)")
    parser.add_argument("--api-key", default="chaos-key")
    args = parser.parse_args(argv)
    serve(args.port, args.control_port, args.log, args.api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
