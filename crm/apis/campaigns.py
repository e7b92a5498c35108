"""/api/crm/campaigns: create, launch, pause, resume, cancel; progress and recipients."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.apis.common import errors, path_id
from crm.campaigns import selectors, services
from crm.campaigns.models import Campaign, CampaignRecipient, CampaignState
from crm.campaigns.selectors import RECIPIENT_STATES
from crm.campaigns.serializers import CampaignCreateInputSerializer, ProgressOutputSerializer
from crm.serializers import PageOutputSerializer, PageQuerySerializer, PagingQuerySerializer
from huntaze.core.fields import IsoDateTimeField
from huntaze.core.parsers import AnyContentTypeJSONParser

TAG = ["CRM campaigns"]
CAMPAIGN_ID = path_id("id", "campaign")
NOT_FOUND = "No such campaign among your accounts' (another user's campaign is not found either)."
CONFLICT = (
    "The campaign's state does not allow this (`campaign_state_conflict`; details.state says "
    "which it is in)."
)


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    accountId = serializers.IntegerField(source="account_id")
    name = serializers.CharField()
    content = serializers.CharField()
    mediaUrls = serializers.ListField(source="media_urls", child=serializers.CharField())
    segmentId = serializers.IntegerField(source="segment_id", allow_null=True)
    filter = serializers.JSONField(source="rules", allow_null=True)
    scheduledAt = IsoDateTimeField(source="scheduled_at", allow_null=True)
    skipIfRepliedWithinMinutes = serializers.IntegerField(source="skip_if_replied_within_minutes")
    state = serializers.ChoiceField(choices=CampaignState.values)
    createdAt = IsoDateTimeField(source="created_at")
    launchedAt = IsoDateTimeField(source="launched_at", allow_null=True)
    finishedAt = IsoDateTimeField(source="finished_at", allow_null=True)
    cancelledAt = IsoDateTimeField(source="cancelled_at", allow_null=True)


class CampaignDetailOutputSerializer(CampaignOutputSerializer):
    progress = serializers.SerializerMethodField()

    @extend_schema_field(ProgressOutputSerializer)
    def get_progress(self, campaign: Campaign) -> dict:
        return ProgressOutputSerializer(selectors.campaign_progress(campaign)).data


class CampaignPageOutputSerializer(PageOutputSerializer):
    results = CampaignOutputSerializer(many=True)


class CampaignListQuerySerializer(PageQuerySerializer):
    state = serializers.ChoiceField(choices=CampaignState.values, required=False)


class RecipientListQuerySerializer(PagingQuerySerializer):
    state = serializers.ChoiceField(choices=RECIPIENT_STATES, required=False)


class RecipientOutputSerializer(serializers.Serializer):
    fanId = serializers.IntegerField(source="fan_id", allow_null=True)
    recipientId = serializers.CharField(
        source="recipient_id", help_text="The fan's OnlyFans user id."
    )
    username = serializers.SerializerMethodField()
    displayName = serializers.SerializerMethodField()
    messageId = serializers.UUIDField(source="message_id", allow_null=True)
    state = serializers.SerializerMethodField(help_text=f"One of {', '.join(RECIPIENT_STATES)}.")
    skipReason = serializers.CharField(source="skip_reason", allow_blank=True)

    def get_username(self, recipient: CampaignRecipient) -> str:
        return recipient.fan.username if recipient.fan else ""

    def get_displayName(self, recipient: CampaignRecipient) -> str:  # noqa: N802 - the API's camelCase field
        return recipient.fan.display_name if recipient.fan else ""

    def get_state(self, recipient: CampaignRecipient) -> str:
        return selectors.recipient_state(recipient)


class RecipientPageOutputSerializer(PageOutputSerializer):
    results = RecipientOutputSerializer(many=True)


class CampaignListApi(APIView):
    @extend_schema(
        operation_id="crm_campaigns_list",
        summary="List your campaigns, newest first",
        tags=TAG,
        parameters=[CampaignListQuerySerializer],
        responses={
            200: CampaignPageOutputSerializer,
            **errors(e400="A bad query parameter.", e404="accountId is not yours."),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = CampaignListQuerySerializer.parse(request)
        return Response(
            CampaignPageOutputSerializer(
                selectors.campaigns_list(user=request.user, filters=filters)
            ).data
        )


class CampaignCreateApi(APIView):
    parser_classes = [AnyContentTypeJSONParser]

    @extend_schema(
        operation_id="crm_campaigns_create",
        summary="Create a campaign (a draft: launch it to send)",
        tags=TAG,
        request=CampaignCreateInputSerializer,
        responses={
            201: CampaignDetailOutputSerializer,
            **errors(
                e400="Invalid body; `details` names the field.",
                e404="accountId or segmentId is not yours.",
            ),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CampaignCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create_from_input(
            user=request.user, data=serializer.validated_data
        )
        return Response(
            CampaignDetailOutputSerializer(campaign).data, status=status.HTTP_201_CREATED
        )


class CampaignRetrieveApi(APIView):
    @extend_schema(
        operation_id="crm_campaigns_retrieve",
        summary="One campaign: state, recipients by state, rate, projected finish, why it waits",
        tags=TAG,
        parameters=[CAMPAIGN_ID],
        responses={200: CampaignDetailOutputSerializer, **errors(e404=NOT_FOUND)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = selectors.campaign_get(user=request.user, campaign_id=kwargs["id"])
        return Response(CampaignDetailOutputSerializer(campaign).data)


# What launching or resuming can meet besides a state conflict: the refusals of a send.
SENDING_REFUSED = {
    "e409": f"{CONFLICT} Or the OnlyFans account is inactive (`account_inactive`).",
    "e503": "The rate limiter is disabled (`rate_limiter_disabled`): nothing can be sent.",
}


def _action_api(action: str, summary: str) -> type[APIView]:
    service = getattr(services, f"campaign_{action}")
    refusals = SENDING_REFUSED if action in ("launch", "resume") else {"e409": CONFLICT}

    @extend_schema(
        operation_id=f"crm_campaigns_{action}",
        summary=summary,
        tags=TAG,
        request=None,
        parameters=[CAMPAIGN_ID],
        responses={200: CampaignDetailOutputSerializer, **errors(e404=NOT_FOUND, **refusals)},
    )
    def post(self: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = selectors.campaign_get(user=request.user, campaign_id=kwargs["id"])
        return Response(CampaignDetailOutputSerializer(service(campaign=campaign)).data)

    return type(f"Campaign{action.title()}Api", (APIView,), {"post": post})


CampaignLaunchApi = _action_api(
    "launch", "Launch: now, or at scheduledAt (draft → scheduled or running)"
)
CampaignPauseApi = _action_api(
    "pause", "Pause: no new delivery after the current slot; the rest is held"
)
CampaignResumeApi = _action_api("resume", "Resume a paused campaign")
CampaignCancelApi = _action_api("cancel", "Cancel: every unsent message is cancelled")


class CampaignRecipientsApi(APIView):
    @extend_schema(
        operation_id="crm_campaigns_recipients",
        summary="A campaign's recipients: fan, message state, skip reason",
        tags=TAG,
        parameters=[CAMPAIGN_ID, RecipientListQuerySerializer],
        responses={
            200: RecipientPageOutputSerializer,
            **errors(e400="A bad query parameter.", e404=NOT_FOUND),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = selectors.campaign_get(user=request.user, campaign_id=kwargs["id"])
        filters = RecipientListQuerySerializer.parse(request)
        return Response(
            RecipientPageOutputSerializer(
                selectors.recipients_page(campaign=campaign, filters=filters)
            ).data
        )
