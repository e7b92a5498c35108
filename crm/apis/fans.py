"""/api/crm/fans and /api/crm/fans/{id}: validate → service or selector → serialize."""

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
    FanCreateInputSerializer,
    FanInputSerializer,
    FanListQuerySerializer,
    FanOutputSerializer,
    FanPageOutputSerializer,
)
from huntaze.core.parsers import AnyContentTypeJSONParser
from onlyfans.selectors import account_for_user

TAG = ["CRM fans"]
FAN_ID = path_id("id", "fan")
NOT_FOUND = "No such fan among your accounts' fans (another user's fan is not found either)."
INVALID_BODY = (
    "Invalid body: a field is unknown, read-only, of the wrong type, too long, or a negative "
    "amount; `details` names each field."
)
TAKEN = "Another fan of this account already has this onlyfansUserId."


class FanListApi(APIView):
    @extend_schema(
        operation_id="crm_fans_list",
        summary="List fans: search, filter, order, paginate",
        tags=TAG,
        parameters=[FanListQuerySerializer],
        responses={
            200: FanPageOutputSerializer,
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
        filters = FanListQuerySerializer.parse(request)
        page = selectors.fans_list(user=request.user, filters=filters)
        return Response(FanPageOutputSerializer(page).data)


class FanCreateApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_fans_create",
        summary="Add a fan to one of your OnlyFans accounts",
        tags=TAG,
        request=FanCreateInputSerializer,
        responses={
            201: FanOutputSerializer,
            **errors(
                e400=INVALID_BODY,
                e404="accountId is not one of your OnlyFans accounts.",
                e409=TAKEN,
            ),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = FanCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        account = account_for_user(user=request.user, account_pk=data.pop("accountId", None))
        fan = services.fan_create(account=account, data=data)
        fan.conversation_id = None
        return Response(FanOutputSerializer(fan).data, status=status.HTTP_201_CREATED)


class FanRetrieveApi(APIView):
    @extend_schema(
        operation_id="crm_fans_retrieve",
        summary="One fan",
        tags=TAG,
        parameters=[FAN_ID],
        responses={200: FanOutputSerializer, **errors(e404=NOT_FOUND)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fan = selectors.fan_get(user=request.user, fan_id=kwargs["id"])
        return Response(FanOutputSerializer(fan).data)


class FanReplaceApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_fans_replace",
        summary="Replace a fan (fields left out go back to their defaults)",
        tags=TAG,
        parameters=[FAN_ID],
        request=FanInputSerializer,
        responses={
            200: FanOutputSerializer,
            **errors(e400=INVALID_BODY, e404=NOT_FOUND, e409=TAKEN),
        },
    )
    def put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fan = selectors.fan_get(user=request.user, fan_id=kwargs["id"])
        serializer = FanInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fan = services.fan_update(fan=fan, data=serializer.validated_data)
        return Response(FanOutputSerializer(fan).data)


class FanUpdateApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_fans_update",
        summary="Change some of a fan's fields",
        tags=TAG,
        parameters=[FAN_ID],
        request=FanInputSerializer(partial=True),
        responses={
            200: FanOutputSerializer,
            **errors(e400=INVALID_BODY, e404=NOT_FOUND, e409=TAKEN),
        },
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fan = selectors.fan_get(user=request.user, fan_id=kwargs["id"])
        serializer = FanInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fan = services.fan_update(fan=fan, data=serializer.validated_data)
        return Response(FanOutputSerializer(fan).data)


class FanDeleteApi(APIView):
    @extend_schema(
        operation_id="crm_fans_delete",
        summary="Delete a fan and their conversation",
        description="Messages already handed to the delivery pipeline are not recalled.",
        tags=TAG,
        parameters=[FAN_ID],
        responses={204: None, **errors(e404=NOT_FOUND)},
    )
    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fan = selectors.fan_get(user=request.user, fan_id=kwargs["id"])
        services.fan_delete(fan=fan)
        return Response(status=status.HTTP_204_NO_CONTENT)
