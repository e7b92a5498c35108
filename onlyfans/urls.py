from django.urls import re_path

from onlyfans import apis

# The API's documented paths have no trailing slash; both forms are served.
urlpatterns = [
    re_path(r"^messages/send/?$", apis.MessageSendApi.as_view(), name="onlyfans-send"),
    re_path(r"^messages/batch/?$", apis.MessageBatchApi.as_view(), name="onlyfans-batch"),
    re_path(r"^messages/status/?$", apis.QueueStatusApi.as_view(), name="onlyfans-status"),
    re_path(
        r"^messages/(?P<messageId>[^/]+)/cancel/?$",
        apis.MessageCancelApi.as_view(),
        name="onlyfans-message-cancel",
    ),
    re_path(
        r"^messages/(?P<messageId>[^/]+)/?$",
        apis.MessageDetailApi.as_view(),
        name="onlyfans-message",
    ),
]
