"""/api/onlyfans/webhooks/{accountId}: signed inbound events."""

from django.urls import re_path

from crm.apis.routing import route
from crm.apis.webhooks import WebhookReceiveApi

urlpatterns = [
    re_path(
        r"^(?P<accountId>[^/]+)/?$",
        route("WebhookRoute", POST=WebhookReceiveApi),
        name="onlyfans-webhook",
    ),
]
