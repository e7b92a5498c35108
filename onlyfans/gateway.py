"""The client of the OnlyFans gateway: the contract that the sandbox gateway (onlyfans/sandbox/)
serves too.

`POST {ONLYFANS_API_BASE_URL}/api/{account}/chats/{recipientId}/messages` with a bearer key
and `Idempotency-Key: {messageId}`. Every answer is classified once, here:

- 2xx: sent, with the upstream message id;
- 429: waiting, retry after `Retry-After` (seconds or an HTTP date);
- 409 "idempotency key in use": waiting, an earlier call with this key is still running;
- 408, 5xx, timeouts, connection errors: transient, retry with backoff;
- any other 4xx: permanent, with the gateway's reason.

Every call has a hard wall-clock deadline (`deadline`, the caller's claim lease less a margin):
requests' timeouts bound each socket read, not the call, so an answer dripping a byte at a time
would never time out. The body is read in small pieces against the deadline and the connection
is closed when it passes: the call is over, for us, before another consumer can claim the
message again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import requests
import urllib3
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

_REASON_MAX = 500


@dataclass(frozen=True)
class GatewayResult:
    ok: bool
    http_status: int | None
    latency_ms: int
    upstream_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None  # seconds, from a 429's Retry-After
    # A 409 "idempotency key in use": the gateway is still handling an earlier call with this
    # key (ours, from a consumer whose lease ran out). Waiting, not failing.
    key_in_use: bool = False
    # The call was never made (its send-by moment or deadline had passed): no attempt to record.
    not_made: bool = False

    @property
    def rate_limited(self) -> bool:
        return self.http_status == 429


_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread. The environment's proxy and CA-bundle settings are
    read once, when the session is made, not on every call (requests' `trust_env` re-reads and
    re-parses every environment variable per request: a measurable share of a delivery)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.proxies.update(requests.utils.get_environ_proxies(settings.ONLYFANS_API_BASE_URL))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
        _local.session = session
    return session


def message_url(base_url: str, onlyfans_id: str, recipient_id: str) -> str:
    return (
        f"{base_url.rstrip('/')}/api/{quote(onlyfans_id, safe='')}"
        f"/chats/{quote(recipient_id, safe='')}/messages"
    )


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((moment - timezone.now()).total_seconds(), 0.0)


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "")[:_REASON_MAX]
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "reason"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("code")
            if value:
                return str(value)[:_REASON_MAX]
    return str(body)[:_REASON_MAX]


class _DeadlineExceeded(Exception):
    pass


_PIECE = 16 * 1024


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """The whole body, or `_DeadlineExceeded` once the wall-clock deadline passes: `read1` answers
    with whatever has arrived, so a byte-at-a-time answer is checked after every byte."""
    raw = response.raw
    pieces: list[bytes] = []
    while True:
        if time.monotonic() >= deadline:
            raise _DeadlineExceeded
        try:
            piece = raw.read1(_PIECE, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.ConnectionError(exc) from exc
        if not piece:
            return b"".join(pieces)
        pieces.append(piece)


def send_message(
    *,
    onlyfans_id: str,
    recipient_id: str,
    message_id: str,
    text: str,
    media_urls: list[str],
    deadline: float | None = None,
    send_by: float | None = None,
) -> GatewayResult:
    """One call. `deadline` (time.monotonic()) ends it whatever the gateway does; by default
    ONLYFANS_CALL_DEADLINE_SECONDS from now. `send_by` (time.monotonic()): the request must be on
    its way by then (the limiter's grant is only good for so long), so the call is not made past
    it and the connection may take no longer to open."""
    url = message_url(settings.ONLYFANS_API_BASE_URL, onlyfans_id, recipient_id)
    payload: dict = {"text": text}
    if media_urls:
        payload["mediaFiles"] = media_urls
    headers = {
        "Authorization": f"Bearer {settings.ONLYFANS_API_KEY}",
        "Idempotency-Key": message_id,
        "Accept": "application/json",
    }
    started = time.monotonic()
    if deadline is None:
        deadline = started + settings.ONLYFANS_CALL_DEADLINE_SECONDS
    left = deadline - started
    to_send = left if send_by is None else min(left, send_by - started)
    if to_send <= 0:
        return GatewayResult(
            False, None, 0, error="Gateway call not made: its deadline had passed", not_made=True
        )
    try:
        response = _session().post(
            url,
            json=payload,
            headers=headers,
            timeout=(
                min(settings.ONLYFANS_CONNECT_TIMEOUT, to_send),
                min(settings.ONLYFANS_READ_TIMEOUT, left),
            ),
            stream=True,
        )
        try:
            # Read to the end, the connection goes back to the pool (keep-alive); cut short at
            # the deadline, close() shuts its socket, which ends the call for the gateway too.
            response._content = _read_body(response, deadline)
        finally:
            response.close()
    except _DeadlineExceeded:
        # The gateway may still be finishing the call it received: the retry waits a read
        # timeout, by which a gateway writing to the closed connection has seen it end.
        return GatewayResult(
            False,
            None,
            _since(started),
            error=f"Gateway timeout: no complete answer within {left:.1f} s",
            retry_after=settings.ONLYFANS_READ_TIMEOUT,
        )
    except requests.Timeout as exc:
        return GatewayResult(False, None, _since(started), error=f"Gateway timeout: {exc}")
    except requests.RequestException as exc:
        return GatewayResult(False, None, _since(started), error=f"Gateway unreachable: {exc}")
    latency = _since(started)
    status = response.status_code
    if 200 <= status < 300:
        upstream_id = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                upstream_id = str(body.get("id") or body.get("messageId") or "")
        except ValueError:
            pass
        return GatewayResult(True, status, latency, upstream_id=upstream_id)
    reason = f"HTTP {status}: {_reason(response)}"
    if status == 429:
        return GatewayResult(
            False,
            status,
            latency,
            error=reason,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status == 409 and "idempotency" in reason.lower():
        return GatewayResult(False, status, latency, error=reason, key_in_use=True)
    if status == 408 or status >= 500:
        return GatewayResult(False, status, latency, error=reason)
    return GatewayResult(False, status, latency, error=reason, permanent=True)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
