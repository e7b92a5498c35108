"""Tenancy: every CRM route and method, as the owner and as an outsider (a user with an account
and fans of their own). The outsider gets a 404 for everything of the owner's — never a 403 that
would reveal it exists — sees none of it in lists, and changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from crm.models import Conversation, Fan, Message
from onlyfans.models import OutboundMessage
from tests.conftest import make_account
from tests.crm.factories import make_conversation, make_fan, make_message, sign


@dataclass
class World:
    account: object
    fan: Fan
    conversation: Conversation
    message: Message
    outsider_fan: Fan


@pytest.fixture
def world(account, outsider) -> World:
    fan = make_fan(account, username="owners_fan", tags=["vip"])
    conversation = make_conversation(fan, unread_count=3)
    message = make_message(conversation, content="private")
    outsider_fan = make_fan(make_account(outsider), username="outsiders_fan")
    make_conversation(outsider_fan)
    return World(account, fan, conversation, message, outsider_fan)


# (method, path, body, owner's status); {fan}, {conversation}, {account} are the owner's ids.
DETAIL_ROUTES = [
    ("get", "/api/crm/fans/{fan}", None, 200),
    ("put", "/api/crm/fans/{fan}", {"onlyfansUserId": "renamed"}, 200),
    ("patch", "/api/crm/fans/{fan}", {"notes": "changed"}, 200),
    ("delete", "/api/crm/fans/{fan}", None, 204),
    ("post", "/api/crm/fans", {"onlyfansUserId": "new", "accountId": "{account}"}, 201),
    ("get", "/api/crm/fans?accountId={account}", None, 200),
    ("post", "/api/crm/conversations", {"fanId": "{fan}"}, 200),
    ("get", "/api/crm/conversations?accountId={account}", None, 200),
    ("get", "/api/crm/conversations/{conversation}", None, 200),
    ("patch", "/api/crm/conversations/{conversation}", {"pinned": True}, 200),
    ("post", "/api/crm/conversations/{conversation}/read", None, 200),
    ("get", "/api/crm/conversations/{conversation}/messages", None, 200),
    ("get", "/api/crm/conversations/{conversation}/messages?before=999999", None, 200),
    ("post", "/api/crm/conversations/{conversation}/messages", {"content": "hello"}, 202),
]


def fill(template, world: World):
    ids = {"fan": world.fan.pk, "conversation": world.conversation.pk, "account": world.account.pk}
    if isinstance(template, dict):
        return {key: fill(value, world) for key, value in template.items()}
    if isinstance(template, str):
        text = template.format(**ids)
        return int(text) if template.startswith("{") and text.isdigit() else text
    return template


def call(client, method, path, body):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


def snapshot() -> list:
    return [
        list(Fan.objects.order_by("pk").values()),
        list(Conversation.objects.order_by("pk").values()),
        list(Message.objects.order_by("pk").values()),
        OutboundMessage.objects.count(),
    ]


@pytest.mark.parametrize(("method", "path", "body", "owner_status"), DETAIL_ROUTES)
def test_it_serves_the_owner(world, api, method, path, body, owner_status):
    response = call(api, method, fill(path, world), fill(body, world))
    assert response.status_code == owner_status, response.content


@pytest.mark.parametrize(("method", "path", "body", "owner_status"), DETAIL_ROUTES)
def test_it_answers_404_to_an_outsider_and_changes_nothing(
    world, outsider_api, method, path, body, owner_status
):
    before = snapshot()
    response = call(outsider_api, method, fill(path, world), fill(body, world))
    assert response.status_code == 404, (method, path, response.content)
    assert response.json()["error"]["code"] == "not_found"
    assert snapshot() == before


@pytest.mark.parametrize(
    "path", ["/api/crm/fans", "/api/crm/conversations", "/api/crm/fans?tag=vip&search=owners"]
)
def test_it_lists_only_each_users_own_rows(world, api, outsider_api, path):
    owner_rows = api.get(path).json()["results"]
    outsider_rows = outsider_api.get(path).json()["results"]
    assert owner_rows and all(row["accountId"] == world.account.pk for row in owner_rows)
    assert all(row["accountId"] != world.account.pk for row in outsider_rows)


def test_it_keeps_the_owners_messages_out_of_the_outsiders_threads(world, outsider_api):
    make_message(world.conversation, content="also private")  # ids 1 and 2 are the owner's
    [own] = outsider_api.get("/api/crm/conversations").json()["results"]
    path = f"/api/crm/conversations/{own['id']}/messages"
    # Cursors are ids; one around the owner's message id shows nothing of the owner's thread.
    for query in (
        "",
        "?after=1",
        f"?before={world.message.pk + 1}",
        f"?after=1&before={world.message.pk + 1}",
    ):
        assert outsider_api.get(path + query).json()["results"] == []


def test_it_refuses_a_webhook_signed_with_another_accounts_secret(world, outsider):
    from rest_framework.test import APIClient

    world.account.webhook_secret = "owners-secret"
    world.account.save()
    outsiders_account = world.outsider_fan.account
    outsiders_account.webhook_secret = "outsiders-secret"
    outsiders_account.save()
    body = json.dumps(
        {
            "id": "e1",
            "type": "fan.expired",
            "data": {"fan": {"onlyfansUserId": world.fan.onlyfans_user_id}},
        }
    ).encode()
    before = snapshot()
    response = APIClient().post(
        f"/api/onlyfans/webhooks/{world.account.pk}",
        data=body,
        content_type="application/json",
        **sign("outsiders-secret", body),
    )
    assert response.status_code == 401
    assert snapshot() == before
