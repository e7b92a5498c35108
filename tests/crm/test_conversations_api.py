"""The inbox: GET /api/crm/conversations, open, read, pin and archive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm.models import Conversation
from tests.conftest import make_account
from tests.crm.factories import (
    MALFORMED_IDS,
    error_of,
    make_conversation,
    make_fan,
    make_message,
    send_json,
    url_id,
)

CONVERSATIONS = "/api/crm/conversations"


SQLITE_PLANS = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="reads SQLite's EXPLAIN QUERY PLAN"
)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


def conversation_at(account, minutes_ago: int, **kwargs) -> Conversation:
    return make_conversation(
        make_fan(account),
        last_activity_at=timezone.now() - timedelta(minutes=minutes_ago),
        **kwargs,
    )


def test_it_lists_the_newest_activity_first(api, account):
    old = conversation_at(account, 60)
    new = conversation_at(account, 1)
    middle = conversation_at(account, 30)
    assert ids(api.get(CONVERSATIONS)) == [new.pk, middle.pk, old.pk]


def test_it_moves_a_conversation_to_the_top_when_a_message_arrives(api, account):
    from crm.services import message_receive

    quiet = conversation_at(account, 60)
    recent = conversation_at(account, 1)
    message_receive(
        account=account, fan_values={}, onlyfans_user_id=quiet.fan.onlyfans_user_id,
        external_id="m1", content="hey", media_urls=[], sent_at=timezone.now(),
    )  # fmt: skip
    assert ids(api.get(CONVERSATIONS)) == [quiet.pk, recent.pk]


def test_it_keeps_pinned_conversations_on_top(api, account):
    pinned_old = conversation_at(account, 600, pinned=True)
    new = conversation_at(account, 1)
    assert ids(api.get(CONVERSATIONS)) == [pinned_old.pk, new.pk]


def test_it_shows_the_fan_summary_unread_count_and_last_message_preview(api, account):
    fan = make_fan(
        account, username="anna", display_name="Anna", total_spent="99.90", onlyfans_user_id="u1"
    )
    sent_at = timezone.now() - timedelta(minutes=3)
    conversation = make_conversation(
        fan, unread_count=2, last_message_at=sent_at, last_message_preview="See you soon",
        last_message_direction="inbound",
    )  # fmt: skip
    [item] = api.get(CONVERSATIONS).json()["results"]
    assert item["id"] == conversation.pk
    assert item["accountId"] == account.pk
    assert item["fan"] == {
        "id": fan.pk, "onlyfansUserId": "u1", "username": "anna", "displayName": "Anna",
        "subscriptionStatus": "active", "expiresAt": None, "totalSpent": "99.90",
    }  # fmt: skip
    assert (item["unreadCount"], item["lastMessagePreview"], item["lastMessageDirection"]) == (
        2,
        "See you soon",
        "inbound",
    )
    assert item["lastMessageAt"].endswith("Z")
    assert (item["pinned"], item["archived"]) == (False, False)


def test_it_filters_unread(api, account):
    unread = conversation_at(account, 5, unread_count=3)
    read = conversation_at(account, 1)
    assert ids(api.get(CONVERSATIONS, {"unread": "true"})) == [unread.pk]
    assert ids(api.get(CONVERSATIONS, {"unread": "false"})) == [read.pk]


def test_it_hides_archived_conversations_unless_asked(api, account):
    archived = conversation_at(account, 1, archived=True)
    inbox = conversation_at(account, 5)
    assert ids(api.get(CONVERSATIONS)) == [inbox.pk]
    assert ids(api.get(CONVERSATIONS, {"archived": "true"})) == [archived.pk]
    assert ids(api.get(CONVERSATIONS, {"archived": "false"})) == [inbox.pk]


def test_it_filters_pinned(api, account):
    pinned = conversation_at(account, 5, pinned=True)
    other = conversation_at(account, 1)
    assert ids(api.get(CONVERSATIONS, {"pinned": "true"})) == [pinned.pk]
    assert ids(api.get(CONVERSATIONS, {"pinned": "false"})) == [other.pk]


def test_it_searches_the_fans_username_and_display_name(api, account):
    anna = make_conversation(make_fan(account, username="anna_b", display_name="Anna"))
    make_conversation(make_fan(account, username="zed", display_name="Zed"))
    assert ids(api.get(CONVERSATIONS, {"search": "ANNA"})) == [anna.pk]


def test_it_paginates_with_a_total(api, account):
    conversations = [conversation_at(account, minutes) for minutes in range(5)]
    first = api.get(CONVERSATIONS, {"pageSize": 2}).json()
    second = api.get(CONVERSATIONS, {"pageSize": 2, "page": 2}).json()
    assert (first["total"], first["totalPages"]) == (5, 3)
    assert [c["id"] for c in first["results"] + second["results"]] == [
        c.pk for c in conversations[:4]
    ]


@pytest.mark.parametrize(
    ("query", "param"),
    [("unread=maybe", "unread"), ("folder=inbox", "folder"), ("pageSize=0", "pageSize")],
)
def test_it_rejects_an_unknown_or_invalid_query_parameter_naming_it(api, account, query, param):
    error = error_of(api.get(f"{CONVERSATIONS}?{query}"), 400, "validation_error")
    assert list(error["details"]) == [param]


def test_it_marks_a_conversation_read(api, account):
    conversation = conversation_at(account, 1, unread_count=4)
    response = api.post(f"{CONVERSATIONS}/{conversation.pk}/read")
    assert response.status_code == 200, response.content
    assert response.json()["unreadCount"] == 0
    assert api.get(f"{CONVERSATIONS}/{conversation.pk}").json()["unreadCount"] == 0
    assert ids(api.get(CONVERSATIONS, {"unread": "true"})) == []


def test_it_pins_and_archives_through_patch(api, account):
    conversation = conversation_at(account, 1)
    url = f"{CONVERSATIONS}/{conversation.pk}"
    pinned = send_json(api, "patch", url, {"pinned": True})
    assert pinned.status_code == 200, pinned.content
    assert (pinned.json()["pinned"], pinned.json()["archived"]) == (True, False)
    archived = send_json(api, "patch", url, {"archived": True, "pinned": False})
    assert (archived.json()["pinned"], archived.json()["archived"]) == (False, True)
    conversation.refresh_from_db()
    assert (conversation.pinned, conversation.archived) == (False, True)
    assert ids(api.get(CONVERSATIONS, {"archived": "true"})) == [conversation.pk]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pinned": "yes"}, "pinned"),
        ({"archived": 1}, "archived"),
        ({"unreadCount": 0}, "unreadCount"),
        ({}, "nonFieldErrors"),
    ],
)
def test_it_rejects_an_invalid_patch_and_changes_nothing(api, account, body, field):
    conversation = conversation_at(account, 1)
    error = error_of(
        send_json(api, "patch", f"{CONVERSATIONS}/{conversation.pk}", body), 400, "validation_error"
    )
    assert field in error["details"]
    conversation.refresh_from_db()
    assert (conversation.pinned, conversation.archived) == (False, False)


def test_it_opens_a_fans_conversation_once(api, account):
    fan = make_fan(account)
    created = send_json(api, "post", CONVERSATIONS, {"fanId": fan.pk})
    assert created.status_code == 201, created.content
    again = send_json(api, "post", CONVERSATIONS, {"fanId": fan.pk})
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    assert created.json()["fan"]["id"] == fan.pk
    assert Conversation.objects.count() == 1
    assert ids(api.get(CONVERSATIONS)) == [created.json()["id"]]


@pytest.mark.parametrize(
    ("body", "status"), [({"fanId": "1"}, 400), ({}, 400), ({"fanId": 999999}, 404)]
)
def test_it_rejects_opening_a_conversation_with_a_bad_fan(api, account, body, status):
    error_of(send_json(api, "post", CONVERSATIONS, body), status)
    assert not Conversation.objects.exists()


def test_it_lists_conversations_of_all_the_users_accounts_or_one(api, owner, account):
    second = make_account(owner)
    a = conversation_at(account, 2)
    b = conversation_at(second, 1)
    assert ids(api.get(CONVERSATIONS)) == [b.pk, a.pk]
    assert ids(api.get(CONVERSATIONS, {"accountId": account.pk})) == [a.pk]


def test_it_shows_the_preview_of_an_outgoing_message_too(api, account):
    from crm.services import _record_in_conversation

    conversation = conversation_at(account, 10)
    message = make_message(
        conversation, content="  Thanks\nfor   subscribing! " * 20, direction="outbound"
    )
    _record_in_conversation(conversation, message, unread=False)
    [item] = api.get(CONVERSATIONS).json()["results"]
    assert item["lastMessageDirection"] == "outbound"
    assert item["lastMessagePreview"].startswith("Thanks for subscribing! Thanks")
    assert len(item["lastMessagePreview"]) == 140
    assert item["unreadCount"] == 0


@SQLITE_PLANS
def test_it_uses_the_inbox_index(account):
    from django.db import connection

    from crm.selectors import conversations_query

    conversation_at(account, 1)
    for filters, index in [
        ({}, "conversation_inbox_idx"),
        ({"unread": True}, "conversation_unread_idx"),
    ]:
        sql, params = conversations_query(
            user=account.owner, filters=filters
        ).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " | ".join(row[-1] for row in cursor.fetchall())
        assert f"USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"pinned": True}),
        ("post", "/read", None),
        ("get", "/messages", None),
        ("post", "/messages", {"content": "hello"}),
    ],
)
def test_it_answers_404_for_a_malformed_or_unknown_conversation_id(
    api, account, bad_id, method, suffix, body
):
    make_conversation(make_fan(account))
    url = f"{CONVERSATIONS}/{url_id(bad_id)}{suffix}"
    response = getattr(api, method)(url) if body is None else send_json(api, method, url, body)
    error_of(response, 404, "not_found")
