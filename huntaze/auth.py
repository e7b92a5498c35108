"""JWT login (simplejwt) with login attempts limited per client IP."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from huntaze.core.openapi import error_response as _error
from huntaze.core.parsers import AnyContentTypeJSONParser
from huntaze.core.throttles import LoginThrottle

INVALID_BODY = _error("The body is not JSON, or a field is missing or blank; `details` names it.")


@extend_schema(
    summary="Log in: a username and password for an access and a refresh token",
    responses={
        200: TokenObtainPairSerializer,
        400: INVALID_BODY,
        401: _error("No active account with this username and password (`authentication_failed`)."),
        429: _error("Too many login attempts from this client IP; see Retry-After."),
        503: _error(
            "Login attempts cannot be counted right now (the limiter's store is unreachable)."
        ),
    },
)
class LoginApi(TokenObtainPairView):
    throttle_classes = [LoginThrottle]
    parser_classes = [AnyContentTypeJSONParser]


@extend_schema(
    summary="A new access token for a refresh token",
    responses={
        200: TokenRefreshSerializer,
        400: INVALID_BODY,
        401: _error("The refresh token is invalid or expired (`authentication_failed`)."),
    },
)
class RefreshApi(TokenRefreshView):
    parser_classes = [AnyContentTypeJSONParser]
