"""The pages: `/` (to the inbox or the login), `/login`, `/logout`, the inbox and the campaigns."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from crm.ui import campaigns, views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("messages/onlyfans", views.inbox, name="inbox"),
    path("messages/onlyfans/conversations", views.conversation_list, name="inbox-list"),
    path("messages/onlyfans/poll", views.poll, name="inbox-poll"),
    path("messages/onlyfans/<int:conversation_id>", views.inbox, name="inbox-conversation"),
    path("messages/onlyfans/<int:conversation_id>/older", views.thread_older, name="inbox-older"),
    path("messages/onlyfans/<int:conversation_id>/send", views.send, name="inbox-send"),
    path("messages/onlyfans/<int:conversation_id>/fan", views.fan_update, name="inbox-fan"),
    path(
        "messages/onlyfans/messages/<int:message_id>/cancel",
        views.message_cancel,
        name="inbox-cancel",
    ),
    path(
        "messages/onlyfans/messages/<int:message_id>/retry", views.message_retry, name="inbox-retry"
    ),
    path("campaigns", campaigns.campaign_list, name="campaign-list"),
    path("campaigns/new", campaigns.campaign_new, name="campaign-new"),
    path("campaigns/new/audience", campaigns.campaign_audience, name="campaign-audience"),
    path("campaigns/<int:campaign_id>", campaigns.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/poll", campaigns.campaign_poll, name="campaign-poll"),
    re_path(
        r"^campaigns/(?P<campaign_id>[0-9]+)/(?P<action>launch|pause|resume|cancel)$",
        campaigns.campaign_action,
        name="campaign-action",
    ),
]
