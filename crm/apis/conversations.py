"""/api/crm/conversations, /{id} and /{id}/read: the inbox."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import selectors, services
from crm.apis.common import errors, path_id
from crm.serializers import (
    ConversationListQuerySerializer,
    ConversationOpenInputSerializer,
    ConversationOutputSerializer,
    ConversationPageOutputSerializer,
    ConversationUpdateInputSerializer,
)
from huntaze.core.parsers import AnyContentTypeJSONParser

TAG = ["CRM conversations"]
CONVERSATION_ID = path_id("id", "conversation")
NOT_FOUND = "No such conversation among your accounts' (another user's is not found either)."


class ConversationListApi(APIView):
    @extend_schema(
        operation_id="crm_conversations_list",
        summary="The inbox: pinned first, then newest activity first",
        description=(
            "Each conversation carries its fan's summary, its unread count and a preview of its "
            "last message. Archived conversations are left out unless `archived=true`."
        ),
        tags=TAG,
        parameters=[ConversationListQuerySerializer],
        responses={
            200: ConversationPageOutputSerializer,
            **errors(
                e400=(
                    "An unknown or repeated query parameter, or an invalid value; "
                    "`details` names it."
                ),
                e404="accountId is not one of your OnlyFans accounts.",
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = ConversationListQuerySerializer.parse(request)
        page = selectors.conversations_list(user=request.user, filters=filters)
        return Response(ConversationPageOutputSerializer(page).data)


class ConversationOpenApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_conversations_open",
        summary="Open the conversation with a fan (or get the one already open)",
        tags=TAG,
        request=ConversationOpenInputSerializer,
        responses={
            201: ConversationOutputSerializer,
            200: ConversationOutputSerializer,
            **errors(e400="fanId is missing or not an integer.", e404="No such fan among yours."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ConversationOpenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fan = selectors.fan_get(user=request.user, fan_id=serializer.validated_data["fan_id"])
        conversation, created = services.conversation_open(fan=fan)
        return Response(
            ConversationOutputSerializer(conversation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ConversationRetrieveApi(APIView):
    @extend_schema(
        operation_id="crm_conversations_retrieve",
        summary="One conversation",
        tags=TAG,
        parameters=[CONVERSATION_ID],
        responses={200: ConversationOutputSerializer, **errors(e404=NOT_FOUND)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=kwargs["id"])
        return Response(ConversationOutputSerializer(conversation).data)


class ConversationUpdateApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_conversations_update",
        summary="Pin or archive a conversation",
        tags=TAG,
        parameters=[CONVERSATION_ID],
        request=ConversationUpdateInputSerializer,
        responses={
            200: ConversationOutputSerializer,
            **errors(
                e400="Neither pinned nor archived given, a non-boolean, or an unknown field.",
                e404=NOT_FOUND,
            ),
        },
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=kwargs["id"])
        serializer = ConversationUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation = services.conversation_update(
            conversation=conversation, data=serializer.validated_data
        )
        return Response(ConversationOutputSerializer(conversation).data)


class ConversationReadApi(APIView):
    @extend_schema(
        operation_id="crm_conversations_read",
        summary="Mark a conversation read (unread count back to 0)",
        tags=TAG,
        parameters=[CONVERSATION_ID],
        request=None,
        responses={200: ConversationOutputSerializer, **errors(e404=NOT_FOUND)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=kwargs["id"])
        conversation = services.conversation_mark_read(conversation=conversation)
        return Response(ConversationOutputSerializer(conversation).data)
