"""POST /api/onlyfans/webhooks/{accountId}: signed inbound events (see crm/webhooks/)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import webhooks
from crm.apis.common import error
from crm.webhooks import services as webhook_services
from crm.webhooks import signatures
from huntaze.core.errors import ApplicationError
from huntaze.core.ids import parse_id
from huntaze.core.openapi import SERVER_ERROR
from onlyfans.models import OnlyFansAccount


class WebhookResultSerializer(serializers.Serializer):
    """What became of an event, from crm.webhooks.services.WebhookResult."""

    status = serializers.ChoiceField(choices=["processed", "duplicate", "ignored"])
    eventId = serializers.CharField(source="event_id", allow_null=True)
    type = serializers.CharField(source="event_type", allow_null=True)


class WebhookReceiveApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="onlyfans_webhooks_receive",
        summary="Receive a signed OnlyFans event",
        description=webhooks.__doc__,
        tags=["Webhooks"],
        auth=[],
        parameters=[
            OpenApiParameter(
                "accountId",
                int,
                OpenApiParameter.PATH,
                description="The OnlyFans account's id in Huntaze.",
            ),
            OpenApiParameter(
                signatures.TIMESTAMP_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="Unix seconds when the event was signed.",
            ),
            OpenApiParameter(
                signatures.SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description='"sha256=" + hex HMAC-SHA256 of "{timestamp}.{raw body}".',
            ),
        ],
        request=OpenApiTypes.OBJECT,
        responses={
            200: WebhookResultSerializer,
            400: error(
                "Not JSON, or a malformed event (details name the field); nothing was written."
            ),
            401: error(
                "Missing or wrong signature (invalid_signature), or a timestamp outside the window "
                "(timestamp_out_of_range)."
            ),
            404: error("No such account."),
            413: error("The body is too large."),
            503: error("No webhook secret is configured for this account."),
            500: SERVER_ERROR,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        pk = parse_id(kwargs["accountId"])
        account = OnlyFansAccount.objects.filter(pk=pk).first() if pk else None
        if account is None:
            raise ApplicationError("OnlyFans account not found.", code="not_found", status_code=404)
        try:
            body = request.body
        except RequestDataTooBig:
            raise ApplicationError(
                "The body is too large.", code="too_large", status_code=413
            ) from None
        signatures.verify_signature(
            account=account,
            timestamp=request.headers.get(signatures.TIMESTAMP_HEADER),
            signatures=request.headers.get(signatures.SIGNATURE_HEADER),
            body=body,
        )
        result = webhook_services.webhook_receive(account=account, body=body)
        return Response(WebhookResultSerializer(result).data, status=status.HTTP_200_OK)
