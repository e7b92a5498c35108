"""/api/crm/segments: saved audiences of fans (for campaigns), and a preview of who is in one."""

from __future__ import annotations

from typing import Any

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import selectors, services
from crm.apis.common import errors, path_id
from crm.fields import IdField
from crm.models import Segment
from crm.serializers import (
    FanOutputSerializer,
    PageOutputSerializer,
    PageQuerySerializer,
    RulesSerializer,
)
from huntaze.core.fields import IsoDateTimeField, RejectUnknownFieldsMixin, StrictCharField
from huntaze.core.parsers import AnyContentTypeJSONParser
from onlyfans.selectors import account_for_user

TAG = ["CRM segments"]
SEGMENT_ID = path_id("id", "segment")
NOT_FOUND = "No such segment among your accounts' (another user's segment is not found either)."
INVALID_BODY = (
    "Invalid body: an unknown field, a bad rule, or a fan id that is not this account's; "
    "`details` names it."
)
FAN_IDS_MAX = 10_000
PREVIEW_SIZE = 20


class FanIdsField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=IdField(), max_length=FAN_IDS_MAX, **kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        return list(dict.fromkeys(super().to_internal_value(data)))


class SegmentInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    name = StrictCharField(max_length=120)
    rules = RulesSerializer(
        required=False, allow_null=True,
        help_text=("Which fans match ({} or absent: every fan of the account; "
                   "null: none, only includeFanIds)."),
    )  # fmt: skip
    includeFanIds = FanIdsField(
        required=False, source="include", help_text="Fans in the segment whatever the rules."
    )
    excludeFanIds = FanIdsField(
        required=False, source="exclude", help_text="Fans never in the segment."
    )


class SegmentCreateInputSerializer(SegmentInputSerializer):
    accountId = IdField(
        required=False, help_text="Required when you run several OnlyFans accounts."
    )


class SegmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    accountId = serializers.IntegerField(source="account_id")
    name = serializers.CharField()
    rules = serializers.JSONField(allow_null=True)
    includeFanIds = serializers.SerializerMethodField()
    excludeFanIds = serializers.SerializerMethodField()
    createdAt = IsoDateTimeField(source="created_at")
    updatedAt = IsoDateTimeField(source="updated_at")

    def get_includeFanIds(self, segment: Segment) -> list[int]:  # noqa: N802 - the API's camelCase field
        return sorted(fan.pk for fan in segment.included_fans.all())

    def get_excludeFanIds(self, segment: Segment) -> list[int]:  # noqa: N802 - the API's camelCase field
        return sorted(fan.pk for fan in segment.excluded_fans.all())


class SegmentPageOutputSerializer(PageOutputSerializer):
    results = SegmentOutputSerializer(many=True)


class SegmentPreviewOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many fans the segment holds now.")
    fans = FanOutputSerializer(
        many=True, help_text=f"The first {PREVIEW_SIZE}, biggest spenders first."
    )


def _with_fans(segment: Segment) -> Segment:
    """The segment with its included/excluded fans prefetched, for the output serializer."""
    prefetch_related_objects([segment], "included_fans", "excluded_fans")
    return segment


class SegmentListApi(APIView):
    @extend_schema(
        operation_id="crm_segments_list",
        summary="List your segments, newest first",
        tags=TAG,
        parameters=[PageQuerySerializer],
        responses={
            200: SegmentPageOutputSerializer,
            **errors(e400="A bad query parameter.", e404="accountId is not yours."),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = PageQuerySerializer.parse(request)
        page = selectors.segments_list(user=request.user, filters=filters)
        prefetch_related_objects(page.results, "included_fans", "excluded_fans")
        return Response(SegmentPageOutputSerializer(page).data)


class SegmentCreateApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_segments_create",
        summary="Save a segment: filter rules plus fans added or left out by hand",
        tags=TAG,
        request=SegmentCreateInputSerializer,
        responses={
            201: SegmentOutputSerializer,
            **errors(e400=INVALID_BODY, e404="accountId is not yours."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = SegmentCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        account = account_for_user(user=request.user, account_pk=data.pop("accountId", None))
        segment = services.segment_create(account=account, user=request.user, data=data)
        return Response(
            SegmentOutputSerializer(_with_fans(segment)).data, status=status.HTTP_201_CREATED
        )


class SegmentRetrieveApi(APIView):
    @extend_schema(
        operation_id="crm_segments_retrieve",
        summary="One segment",
        tags=TAG,
        parameters=[SEGMENT_ID],
        responses={200: SegmentOutputSerializer, **errors(e404=NOT_FOUND)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        segment = selectors.segment_get(user=request.user, segment_id=kwargs["id"])
        return Response(SegmentOutputSerializer(_with_fans(segment)).data)


class SegmentUpdateApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_segments_update",
        summary="Change a segment's name, rules or hand-picked fans",
        tags=TAG,
        parameters=[SEGMENT_ID],
        request=SegmentInputSerializer(partial=True),
        responses={200: SegmentOutputSerializer, **errors(e400=INVALID_BODY, e404=NOT_FOUND)},
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        segment = selectors.segment_get(user=request.user, segment_id=kwargs["id"])
        serializer = SegmentInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        segment = services.segment_update(segment=segment, data=dict(serializer.validated_data))
        return Response(SegmentOutputSerializer(_with_fans(segment)).data)


class SegmentDeleteApi(APIView):
    @extend_schema(
        operation_id="crm_segments_delete",
        summary="Delete a segment (campaigns already launched keep their frozen audience)",
        tags=TAG,
        parameters=[SEGMENT_ID],
        responses={
            204: None,
            **errors(
                e404=NOT_FOUND,
                e409="A campaign not launched yet uses it (code `segment_in_use`, its ids in "
                "`details.campaignIds`).",
            ),
        },
    )
    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        segment = selectors.segment_get(user=request.user, segment_id=kwargs["id"])
        services.segment_delete(segment=segment)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentPreviewApi(APIView):
    @extend_schema(
        operation_id="crm_segments_preview",
        summary="Who is in the segment now: the count and the first 20 fans",
        tags=TAG,
        parameters=[SEGMENT_ID],
        responses={200: SegmentPreviewOutputSerializer, **errors(e404=NOT_FOUND)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        segment = selectors.segment_get(user=request.user, segment_id=kwargs["id"])
        preview = selectors.segment_preview(segment=segment, limit=PREVIEW_SIZE)
        return Response(SegmentPreviewOutputSerializer(preview).data)
