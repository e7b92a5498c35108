"""Every CRM API route, mounted at /api/: the CRM's own resources (/api/crm/…), and the two it
serves under the pipeline's prefix, the fans CSV import (/api/onlyfans/import/…) and the signed
inbound events (/api/onlyfans/webhooks/{accountId}).

Paths are written without a trailing slash, as the OpenAPI schema documents them, and answer
with one too.
"""

from django.urls import include, path, re_path

from crm.apis import campaigns, conversations, fans, imports, messages, segments, webhooks
from crm.apis.routing import endpoint

_IMPORT_JOB = r"(?P<jobId>[0-9A-Fa-f-]{32,36})"

crm_patterns = [
    endpoint(r"fans", "crm-fans", "FansRoute", GET=fans.FanListApi, POST=fans.FanCreateApi),
    endpoint(
        r"fans/(?P<id>[^/]+)",
        "crm-fan",
        "FanRoute",
        GET=fans.FanRetrieveApi,
        PUT=fans.FanReplaceApi,
        PATCH=fans.FanUpdateApi,
        DELETE=fans.FanDeleteApi,
    ),
    endpoint(
        r"conversations",
        "crm-conversations",
        "ConversationsRoute",
        GET=conversations.ConversationListApi,
        POST=conversations.ConversationOpenApi,
    ),
    endpoint(
        r"conversations/(?P<id>[^/]+)",
        "crm-conversation",
        "ConversationRoute",
        GET=conversations.ConversationRetrieveApi,
        PATCH=conversations.ConversationUpdateApi,
    ),
    endpoint(
        r"conversations/(?P<id>[^/]+)/read",
        "crm-conversation-read",
        "ConversationReadRoute",
        POST=conversations.ConversationReadApi,
    ),
    endpoint(
        r"conversations/(?P<id>[^/]+)/messages",
        "crm-conversation-messages",
        "ConversationMessagesRoute",
        GET=messages.ConversationMessageListApi,
        POST=messages.ConversationMessageSendApi,
    ),
    endpoint(
        r"segments",
        "crm-segments",
        "SegmentsRoute",
        GET=segments.SegmentListApi,
        POST=segments.SegmentCreateApi,
    ),
    endpoint(
        r"segments/(?P<id>[^/]+)",
        "crm-segment",
        "SegmentRoute",
        GET=segments.SegmentRetrieveApi,
        PATCH=segments.SegmentUpdateApi,
        DELETE=segments.SegmentDeleteApi,
    ),
    endpoint(
        r"segments/(?P<id>[^/]+)/preview",
        "crm-segment-preview",
        "SegmentPreviewRoute",
        GET=segments.SegmentPreviewApi,
    ),
    endpoint(
        r"campaigns",
        "crm-campaigns",
        "CampaignsRoute",
        GET=campaigns.CampaignListApi,
        POST=campaigns.CampaignCreateApi,
    ),
    endpoint(
        r"campaigns/(?P<id>[^/]+)",
        "crm-campaign",
        "CampaignRoute",
        GET=campaigns.CampaignRetrieveApi,
    ),
    endpoint(
        r"campaigns/(?P<id>[^/]+)/recipients",
        "crm-campaign-recipients",
        "CampaignRecipientsRoute",
        GET=campaigns.CampaignRecipientsApi,
    ),
    *[
        endpoint(
            rf"campaigns/(?P<id>[^/]+)/{action}",
            f"crm-campaign-{action}",
            f"Campaign{action.title()}Route",
            POST=view,
        )
        for action, view in (
            ("launch", campaigns.CampaignLaunchApi),
            ("pause", campaigns.CampaignPauseApi),
            ("resume", campaigns.CampaignResumeApi),
            ("cancel", campaigns.CampaignCancelApi),
        )
    ],
]

import_patterns = [
    re_path(r"^csv/?$", imports.FansImportCsvApi.as_view(), name="fans-import-csv"),
    re_path(rf"^{_IMPORT_JOB}/?$", imports.FansImportJobApi.as_view(), name="fans-import-job"),
    re_path(
        rf"^{_IMPORT_JOB}/failed-rows\.csv$",
        imports.FansImportFailedRowsApi.as_view(),
        name="fans-import-failed-rows",
    ),
]

webhook_patterns = [
    endpoint(
        r"(?P<accountId>[^/]+)", "onlyfans-webhook", "WebhookRoute", POST=webhooks.WebhookReceiveApi
    ),
]

urlpatterns = [
    path("crm/", include(crm_patterns)),
    path("onlyfans/webhooks/", include(webhook_patterns)),
    path("onlyfans/import/", include(import_patterns)),
]
