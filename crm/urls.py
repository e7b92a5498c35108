"""/api/crm/…: paths as the seed writes them (no trailing slash), with a trailing slash too."""

from django.urls import re_path

from crm.apis import campaigns, conversations, fans, messages, segments
from crm.apis.routing import route

urlpatterns = [
    re_path(
        r"^fans/?$",
        route("FansRoute", GET=fans.FanListApi, POST=fans.FanCreateApi),
        name="crm-fans",
    ),
    re_path(
        r"^fans/(?P<id>[^/]+)/?$",
        route(
            "FanRoute",
            GET=fans.FanRetrieveApi,
            PUT=fans.FanReplaceApi,
            PATCH=fans.FanUpdateApi,
            DELETE=fans.FanDeleteApi,
        ),
        name="crm-fan",
    ),
    re_path(
        r"^conversations/?$",
        route(
            "ConversationsRoute",
            GET=conversations.ConversationListApi,
            POST=conversations.ConversationOpenApi,
        ),
        name="crm-conversations",
    ),
    re_path(
        r"^conversations/(?P<id>[^/]+)/?$",
        route(
            "ConversationRoute",
            GET=conversations.ConversationRetrieveApi,
            PATCH=conversations.ConversationUpdateApi,
        ),
        name="crm-conversation",
    ),
    re_path(
        r"^conversations/(?P<id>[^/]+)/read/?$",
        route("ConversationReadRoute", POST=conversations.ConversationReadApi),
        name="crm-conversation-read",
    ),
    re_path(
        r"^conversations/(?P<id>[^/]+)/messages/?$",
        route(
            "ConversationMessagesRoute",
            GET=messages.ConversationMessageListApi,
            POST=messages.ConversationMessageSendApi,
        ),
        name="crm-conversation-messages",
    ),
    re_path(
        r"^segments/?$",
        route("SegmentsRoute", GET=segments.SegmentListApi, POST=segments.SegmentCreateApi),
        name="crm-segments",
    ),
    re_path(
        r"^segments/(?P<id>[^/]+)/?$",
        route(
            "SegmentRoute",
            GET=segments.SegmentRetrieveApi,
            PATCH=segments.SegmentUpdateApi,
            DELETE=segments.SegmentDeleteApi,
        ),
        name="crm-segment",
    ),
    re_path(
        r"^segments/(?P<id>[^/]+)/preview/?$",
        route("SegmentPreviewRoute", GET=segments.SegmentPreviewApi),
        name="crm-segment-preview",
    ),
    re_path(
        r"^campaigns/?$",
        route("CampaignsRoute", GET=campaigns.CampaignListApi, POST=campaigns.CampaignCreateApi),
        name="crm-campaigns",
    ),
    re_path(
        r"^campaigns/(?P<id>[^/]+)/?$",
        route("CampaignRoute", GET=campaigns.CampaignRetrieveApi),
        name="crm-campaign",
    ),
    re_path(
        r"^campaigns/(?P<id>[^/]+)/recipients/?$",
        route("CampaignRecipientsRoute", GET=campaigns.CampaignRecipientsApi),
        name="crm-campaign-recipients",
    ),
    *[
        re_path(
            rf"^campaigns/(?P<id>[^/]+)/{action}/?$",
            route(f"Campaign{action.title()}Route", POST=view),
            name=f"crm-campaign-{action}",
        )
        for action, view in (
            ("launch", campaigns.CampaignLaunchApi),
            ("pause", campaigns.CampaignPauseApi),
            ("resume", campaigns.CampaignResumeApi),
            ("cancel", campaigns.CampaignCancelApi),
        )
    ],
]
