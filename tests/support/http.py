"""JSON over real HTTP to a server the test started (the local stack, gunicorn)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def json_call(
    port: int, method: str, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, Any]:
    """(status, parsed body) of one request to 127.0.0.1:port; HTTP errors are answers too."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
