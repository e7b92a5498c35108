"""What every CRM view documents: the one error shape, by status."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from huntaze.core.openapi import SERVER_ERROR, UNAUTHENTICATED
from huntaze.core.openapi import error_response as error


def errors(**by_status: str) -> dict[int, OpenApiResponse]:
    """`errors(e404="…")` → the listed errors plus 401 and 500, which every route can answer."""
    documented = {int(key.lstrip("e")): error(text) for key, text in by_status.items()}
    return {**documented, 401: UNAUTHENTICATED, 500: SERVER_ERROR}


def path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=f"The {what}'s id.")
