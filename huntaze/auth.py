"""JWT login (simplejwt) with login attempts limited per client IP."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from huntaze.core.parsers import AnyContentTypeJSONParser
from huntaze.core.throttles import LoginThrottle


@extend_schema(summary="Log in: a username and password for an access and a refresh token")
class LoginApi(TokenObtainPairView):
    throttle_classes = [LoginThrottle]
    parser_classes = [AnyContentTypeJSONParser]


@extend_schema(summary="A new access token for a refresh token")
class RefreshApi(TokenRefreshView):
    parser_classes = [AnyContentTypeJSONParser]
