"""A fake OnlyFans gateway on a real local HTTP server (pytest-httpserver): it records every
call with its arrival time, honours Idempotency-Key like a real gateway, and answers what the
test scripts (200 by default)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from werkzeug import Request, Response


@dataclass
class Call:
    at: float  # time.time() when the request arrived
    account: str
    recipient: str
    idempotency_key: str
    authorization: str
    body: dict
    status: int


@dataclass
class FakeGateway:
    calls: list[Call] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> upstream id
    script: list[tuple[int, dict, float, dict | None]] = field(
        default_factory=list
    )  # (status, headers, delay, body)
    on_call: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    PATH = re.compile(r"^/api/(?P<account>[^/]+)/chats/(?P<recipient>[^/]+)/messages$")

    def respond_next(
        self,
        status: int,
        headers: dict | None = None,
        *,
        delay: float = 0,
        times: int = 1,
        body: dict | None = None,
    ):
        self.script.extend([(status, headers or {}, delay, body)] * times)

    def handler(self, request: Request) -> Response:
        arrived = time.time()
        match = self.PATH.match(request.path)
        key = request.headers.get("Idempotency-Key", "")
        with self.lock:
            status, headers, delay, scripted_body = (
                self.script.pop(0) if self.script else (200, {}, 0, None)
            )
            replay = key in self.accepted
            if replay:
                status, headers, delay, scripted_body = 200, {}, 0, None
            self.calls.append(
                Call(
                    at=arrived,
                    account=match["account"] if match else "",
                    recipient=match["recipient"] if match else "",
                    idempotency_key=key,
                    authorization=request.headers.get("Authorization", ""),
                    body=json.loads(request.data or b"{}"),
                    status=status,
                )
            )
            if status == 200 and not replay:
                self.accepted[key] = f"up_{uuid.uuid4().hex[:12]}"
            upstream = self.accepted.get(key, "")
        if callable(self.on_call):
            self.on_call(self)
        if delay:
            time.sleep(delay)
        if status == 200:
            return Response(
                json.dumps({"id": upstream}), status=200, content_type="application/json"
            )
        body = scripted_body or {"error": f"scripted {status}"}
        if status == 400 and scripted_body is None:
            body = {"error": "Recipient is not subscribed"}
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    def calls_for(self, key: str) -> list[Call]:
        return [call for call in self.calls if call.idempotency_key == key]


def max_calls_in_window(times: list[float], window: float) -> int:
    """The most calls any half-open window [t, t + window) holds."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
