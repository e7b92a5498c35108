"""The pipeline's routes (send, batch, status, detail, cancel): validate → call a service →
serialize. No business logic here."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from huntaze.core.idempotency import IDEMPOTENCY_HEADER, idempotency_key
from huntaze.core.openapi import (
    IDEMPOTENCY_KEY_PARAMETER,
    SERVER_ERROR,
    UNAUTHENTICATED,
    error_response,
)
from huntaze.core.parsers import AnyContentTypeJSONParser
from huntaze.core.throttles import UserSendThrottle
from onlyfans import selectors, services
from onlyfans import status as pipeline_status
from onlyfans.models import MessageStatus
from onlyfans.serializers import (
    BatchInputSerializer,
    BatchItem,
    BatchOutputSerializer,
    MessageDetailOutputSerializer,
    QueueStatusOutputSerializer,
    SendInputSerializer,
    SendOutputSerializer,
    message_detail,
    message_input,
    send_result,
)

logger = logging.getLogger(__name__)


COMMON_ERRORS = {
    400: error_response(
        "Invalid request: the body is not JSON, or a field is missing, blank, too long or of "
        "the wrong type."
    ),
    401: UNAUTHENTICATED,
    404: error_response("The OnlyFans account (accountId) is not one of yours."),
    409: error_response(
        "The account is inactive, or the Idempotency-Key was used for another message."
    ),
    413: error_response(
        "The body is larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default)."
    ),
    429: error_response("More than 60 requests a minute from this user; see Retry-After."),
    503: error_response("The rate limiter is disabled (RATE_LIMITER_ENABLED=false)."),
    500: SERVER_ERROR,
}

MESSAGE_ID = OpenApiParameter(
    "messageId",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The messageId that send or batch returned.",
)


class LoggedApi(APIView):
    """Refusals and failures are logged under the route's event name too (operators grep
    `OnlyFans send message` and `OnlyFans queue status`), with the status and error code."""

    log_event = ""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
        if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            level, outcome = logging.WARNING, "unavailable"
        elif response.status_code >= 500:
            level, outcome = logging.ERROR, "failed"
        else:
            level, outcome = logging.WARNING, "rejected"
        logger.log(
            level,
            f"{self.log_event}: {outcome}",
            extra={
                "status": response.status_code,
                "code": error.get("code"),
                # `_user`, not `user`: reading `user` authenticates again, and when what failed was
                # the database (the user lookup), that raises a second time, now unhandled.
                "userId": getattr(getattr(self.request, "_user", None), "pk", None),
            },
        )
        return response


class MessageSendApi(LoggedApi):
    log_event = "OnlyFans send message"
    parser_classes = [AnyContentTypeJSONParser]
    throttle_classes = [UserSendThrottle]

    @extend_schema(
        operation_id="onlyfans_messages_send",
        summary="Queue one message for rate-limited delivery",
        request=SendInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={202: SendOutputSerializer, **COMMON_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.ensure_enabled()
        key = idempotency_key(request)
        serializer = SendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = selectors.account_for_user(
            user=request.user, account_pk=serializer.validated_data.get("accountId")
        )
        outcome = services.message_send(
            user=request.user,
            account=account,
            data=serializer.to_message_input(),
            idempotency_key=key,
        )
        logger.info(
            "OnlyFans send message: accepted",
            extra={
                "messageId": str(outcome.message.id),
                "userId": request.user.pk,
                "accountId": account.pk,
                "status": outcome.message.status,
                "replayed": outcome.replayed,
            },
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(
            send_result(outcome.message), status=status.HTTP_202_ACCEPTED, headers=headers
        )


class MessageBatchApi(LoggedApi):
    log_event = "OnlyFans send message"
    parser_classes = [AnyContentTypeJSONParser]
    throttle_classes = [UserSendThrottle]

    @extend_schema(
        operation_id="onlyfans_messages_batch",
        summary="Queue 1 to 10 messages in one request (one SQS SendMessageBatch)",
        description=(
            "All messages are validated first: one invalid message rejects the batch (400; "
            "`details.messages` is keyed by the index of each invalid item and the error "
            "message names `messages[i].field`) and nothing is written. Each accepted message "
            "reports its own status: `queued`, or `pending` with an `error` when SQS refused "
            "that entry (the relay publishes it later)."
        ),
        request=BatchInputSerializer,
        responses={202: BatchOutputSerializer, **COMMON_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.ensure_enabled()
        if IDEMPOTENCY_HEADER in request.headers:
            # Silently ignoring it would let a client believe its retries are safe.
            raise ValidationError(
                {
                    IDEMPOTENCY_HEADER: [
                        "Not supported on batch; send each message with its own key."
                    ]
                }
            )
        serializer = BatchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = selectors.account_for_user(
            user=request.user, account_pk=serializer.validated_data.get("accountId")
        )
        outcomes = services.messages_send_batch(
            user=request.user,
            account=account,
            items=[message_input(item) for item in serializer.validated_data["messages"]],
        )
        results = [
            BatchItem(index=index, message=outcome.message, error=outcome.publish_error or None)
            for index, outcome in enumerate(outcomes)
        ]
        queued = sum(1 for o in outcomes if o.message.status == MessageStatus.QUEUED)
        logger.info(
            "OnlyFans send message: batch accepted",
            extra={
                "userId": request.user.pk,
                "accountId": account.pk,
                "count": len(results),
                "queued": queued,
            },
        )
        body = BatchOutputSerializer(
            {
                "accepted": len(results),
                "queued": queued,
                "pending": len(results) - queued,
                "results": results,
            }
        ).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class QueueStatusApi(LoggedApi):
    log_event = "OnlyFans queue status"

    @extend_schema(
        operation_id="onlyfans_messages_status",
        summary="Queue depth, in-flight and DLQ counts, drain time and health",
        description=(
            "`health.status` is `degraded` when the DLQ holds messages or Redis is unreachable."
        ),
        responses={
            200: QueueStatusOutputSerializer,
            401: UNAUTHENTICATED,
            503: error_response("The queue cannot be reached."),
            500: SERVER_ERROR,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queue_status = pipeline_status.queue_status_get(user=request.user)
        logger.info(
            "OnlyFans queue status: fetched",
            extra={
                "userId": request.user.pk,
                "depth": queue_status.depth,
                "inFlight": queue_status.in_flight,
                "dlqCount": queue_status.dlq_count,
                "health": queue_status.health_status,
            },
        )
        return Response(QueueStatusOutputSerializer(queue_status).data)


class MessageDetailApi(APIView):
    @extend_schema(
        operation_id="onlyfans_messages_retrieve",
        summary="One message: its status and every delivery attempt",
        parameters=[MESSAGE_ID],
        responses={
            200: MessageDetailOutputSerializer,
            401: UNAUTHENTICATED,
            404: error_response("Not one of your messages."),
        },
    )
    def get(
        self,
        request: Request,
        messageId: str,  # noqa: N803 - the documented path parameter
        *args: Any,
        **kwargs: Any,
    ) -> Response:
        message = selectors.message_for_user(user=request.user, message_id=messageId)
        return Response(message_detail(message))


class MessageCancelApi(LoggedApi):
    log_event = "OnlyFans cancel message"

    @extend_schema(
        operation_id="onlyfans_messages_cancel",
        summary="Cancel a message that is still waiting (pending or queued)",
        description=(
            "Exactly one of cancel and delivery wins: a message already being sent (`sending`) or "
            "final (`sent`, `failed`, `dead_lettered`, `cancelled`) answers 409 `not_cancellable`."
        ),
        request=None,
        parameters=[MESSAGE_ID],
        responses={
            200: MessageDetailOutputSerializer,
            401: UNAUTHENTICATED,
            404: error_response("Not one of your messages."),
            409: error_response(
                "The message is being sent or already final (code `not_cancellable`)."
            ),
        },
    )
    def post(
        self,
        request: Request,
        messageId: str,  # noqa: N803 - the documented path parameter
        *args: Any,
        **kwargs: Any,
    ) -> Response:
        message = services.message_cancel(user=request.user, message_id=messageId)
        return Response(message_detail(message))
