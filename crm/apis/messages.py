"""/api/crm/conversations/{id}/messages: the thread, and sending into it through the pipeline."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import selectors, services
from crm.apis.common import errors
from crm.apis.conversations import CONVERSATION_ID, NOT_FOUND
from crm.serializers import MessageListQuerySerializer
from crm.thread_serializers import (
    MessagePageOutputSerializer,
    ThreadMessageInputSerializer,
    ThreadSendOutputSerializer,
    thread_context,
)
from huntaze.core.idempotency import idempotency_key
from huntaze.core.openapi import IDEMPOTENCY_KEY_PARAMETER
from huntaze.core.parsers import AnyContentTypeJSONParser
from huntaze.core.throttles import UserSendThrottle
from onlyfans.models import DEFAULT_PRIORITY

logger = logging.getLogger(__name__)

TAG = ["CRM messages"]


class ConversationMessageListApi(APIView):
    @extend_schema(
        operation_id="crm_conversation_messages_list",
        summary="The thread, newest first, with before/after cursors",
        description=(
            "Without cursors: the newest `limit` messages. `before=<id>`: the page older than that "
            "message. `after=<id>`: the `limit` messages right after it (poll with the last "
            "`after` to get new messages; none is skipped or repeated while messages arrive). "
            "Outbound messages show the pipeline's delivery status."
        ),
        tags=TAG,
        parameters=[CONVERSATION_ID, MessageListQuerySerializer],
        responses={
            200: MessagePageOutputSerializer,
            **errors(
                e400="An unknown parameter, or a cursor that is not a message id.", e404=NOT_FOUND
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=kwargs["id"])
        query = MessageListQuerySerializer.parse(request)
        page = selectors.messages_page(
            conversation=conversation,
            before=query.get("before"),
            after=query.get("after"),
            limit=query["limit"],
        )
        return Response(
            MessagePageOutputSerializer(page, context=thread_context(page.results)).data
        )


class ConversationMessageSendApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]
    throttle_classes = [UserSendThrottle]

    @extend_schema(
        operation_id="crm_conversation_messages_send",
        summary="Send a message to the conversation's fan (rate-limited delivery)",
        description=(
            "Goes through the same pipeline as POST /api/onlyfans/messages/send: same body minus "
            "`recipientId` (the fan is the recipient), same per-user limit, same Idempotency-Key. "
            "The message appears in the thread at once as `queued` (or `pending` while SQS is "
            "unreachable) and becomes `sent` or `failed` as delivery proceeds."
        ),
        tags=TAG,
        parameters=[
            CONVERSATION_ID,
            IDEMPOTENCY_KEY_PARAMETER,
        ],
        request=ThreadMessageInputSerializer,
        responses={
            202: ThreadSendOutputSerializer,
            **errors(
                e400=(
                    "Invalid body (unknown field such as recipientId, blank content, "
                    "bad media URL…)."
                ),
                e404=NOT_FOUND,
                e409=(
                    "fan_subscription_expired: the fan's subscription has expired; "
                    "account_inactive: the OnlyFans account is inactive; idempotency_key_reused: "
                    "the key was used for another message."
                ),
                e429=(
                    "More than 60 sends a minute from this user (shared with the pipeline's send); "
                    "see Retry-After."
                ),
                e503="The rate limiter is disabled (RATE_LIMITER_ENABLED=false).",
            ),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=kwargs["id"])
        key = idempotency_key(request)
        serializer = ThreadMessageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = services.conversation_message_send(
            user=request.user,
            conversation=conversation,
            content=data["content"],
            media_urls=data.get("mediaUrls", []),
            priority=data.get("priority", DEFAULT_PRIORITY),
            metadata=data.get("metadata", {}),
            idempotency_key=key,
        )
        body = ThreadSendOutputSerializer(
            outcome.pipeline.message,
            context={"conversation_id": conversation.pk, "thread_message_id": outcome.message.pk},
        ).data
        headers = {"Idempotent-Replayed": "true"} if outcome.pipeline.replayed else {}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)
