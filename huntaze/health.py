"""Health endpoints for load balancers and orchestrators.

- `/healthz` (liveness): the process answers. No authentication, no database, Redis or SQS call,
  whatever the Host header: a balancer probing by IP address gets its 200.
- `/readyz` (readiness): the database, Redis and SQS answer; 503 names what failed.

Served by a middleware placed before SecurityMiddleware, so that neither ALLOWED_HOSTS nor the
HTTPS redirect applies to them (balancers probe over plain HTTP by address).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from huntaze.core.errors import error_body
from onlyfans import limiter, sqs

logger = logging.getLogger(__name__)

LIVENESS_PATHS = {"/healthz", "/healthz/"}
READINESS_PATHS = {"/readyz", "/readyz/"}


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure means not ready
        logger.warning("Readiness: the database is unreachable", exc_info=True)
        return False
    finally:
        # A probe runs outside Django's request cycle: never keep a broken connection around.
        connection.close_if_unusable_or_obsolete()


def _sqs_ok() -> bool:
    try:
        sqs.attributes(timeout=settings.SQS_REQUEST_TIMEOUT * 4)
        return True
    except sqs.QueueUnavailable as exc:
        logger.warning("Readiness: SQS is unreachable", extra={"error": str(exc)})
        return False


CHECKS: dict[str, Callable[[], bool]] = {
    "database": _database_ok,
    "redis": limiter.redis_ok,
    "sqs": _sqs_ok,
}


def readiness() -> JsonResponse:
    checks = {name: "ok" if check() else "unavailable" for name, check in CHECKS.items()}
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        body = error_body(
            "not_ready", f"Not ready: {', '.join(failed)} unavailable.", {"checks": checks}
        )
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ready", "checks": checks})


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in {"GET", "HEAD"}:
            if request.path in LIVENESS_PATHS:
                return JsonResponse({"status": "ok"})
            if request.path in READINESS_PATHS:
                return readiness()
        return self.get_response(request)
