"""DRF throttles backed by django-ratelimit's counters in the Redis cache."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from huntaze.core.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class RatelimitThrottle(BaseThrottle):
    group: str = ""
    rate_setting: str = ""
    # What a request gets when the counters (Redis) cannot be reached: let through, or a 503.
    fail_open: bool = False

    def key(self, group: str, request: HttpRequest | Request) -> str:
        raise NotImplementedError

    def allow_request(self, request: HttpRequest | Request, view: APIView | None) -> bool:
        self._wait: float | None = None
        try:
            usage = get_usage(
                request,
                group=self.group,
                key=self.key,
                rate=getattr(settings, self.rate_setting),
                increment=True,
            )
        except Exception as exc:  # any cache failure: decide by fail_open
            if self.fail_open:
                logger.warning(
                    "API throttle unavailable, request allowed",
                    extra={"group": self.group, "error": str(exc)},
                )
                return True
            logger.error(
                "API throttle unavailable, request refused",
                extra={"group": self.group, "error": str(exc)},
            )
            raise ServiceUnavailable(
                "This request cannot be rate limited right now "
                "(the limiter's store is unreachable); try again shortly.",
                code="throttle_unavailable",
                headers={"Retry-After": "5"},
            ) from exc
        if usage and usage["should_limit"]:
            self._wait = max(1, usage["time_left"])
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


class UserSendThrottle(RatelimitThrottle):
    """60 requests per minute per user on the send endpoints (`SEND_RATE_LIMIT`).

    Fails open: with Redis down, accepting a message still only writes it to the database (the
    record); its delivery waits for the limiter, which fails closed, so OnlyFans stays protected.
    """

    group = "onlyfans-send"
    rate_setting = "SEND_RATE_LIMIT"
    fail_open = True

    def key(self, group: str, request: HttpRequest | Request) -> str:
        return f"user:{request.user.pk}"


class LoginThrottle(RatelimitThrottle):
    """Login attempts per client IP. Fails closed: without its counters it would allow an
    unlimited password-guessing run, so with Redis down login answers 503."""

    group = "auth-login"
    rate_setting = "LOGIN_RATE_LIMIT"

    def key(self, group: str, request: Request) -> str:  # type: ignore[override]  # DRF only
        # DRF's get_ident honours NUM_PROXIES: behind a load balancer REMOTE_ADDR is the
        # balancer's, and one limit for everyone would lock every user out.
        return f"ip:{self.get_ident(request) or 'unknown'}"
