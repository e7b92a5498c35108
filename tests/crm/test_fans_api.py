"""Fans: create, read, replace, update, delete — and every way a request can be wrong."""

from __future__ import annotations

import pytest

from crm.models import Conversation, Fan, Message
from tests.conftest import make_account, make_user
from tests.crm.factories import (
    MALFORMED_IDS,
    error_of,
    make_conversation,
    make_fan,
    make_message,
    send_json,
    url_id,
)

FANS = "/api/crm/fans"

FULL = {
    "onlyfansUserId": "fan_123",
    "username": "bigspender",
    "displayName": "Big Spender",
    "subscriptionStatus": "active",
    "subscribedAt": "2025-10-01T12:00:00Z",
    "expiresAt": "2025-11-01T12:00:00Z",
    "autoRenew": True,
    "subscriptionPrice": "9.99",
    "totalSpent": "1250.50",
    "tips": "300.00",
    "lastSeenAt": "2025-10-30T08:15:00Z",
    "tags": ["vip", "whale"],
    "notes": "Likes behind-the-scenes content.",
}


def test_it_round_trips_a_fan_through_create_read_replace_update_delete(api, account):
    created = send_json(api, "post", FANS, FULL)
    assert created.status_code == 201, created.content
    fan = created.json()
    assert fan == {
        **FULL,
        "id": fan["id"],
        "accountId": account.pk,
        "subscribedAt": "2025-10-01T12:00:00.000Z",
        "expiresAt": "2025-11-01T12:00:00.000Z",
        "lastSeenAt": "2025-10-30T08:15:00.000Z",
        "conversationId": None,
        "createdAt": fan["createdAt"],
        "updatedAt": fan["updatedAt"],
    }
    url = f"{FANS}/{fan['id']}"
    assert api.get(url).json() == fan

    replaced = send_json(api, "put", url, {"onlyfansUserId": "fan_123", "username": "renamed"})
    assert replaced.status_code == 200, replaced.content
    body = replaced.json()
    assert body["username"] == "renamed"
    # A PUT replaces: what it leaves out goes back to the defaults.
    assert (body["totalSpent"], body["tags"], body["autoRenew"], body["expiresAt"]) == (
        "0.00",
        [],
        False,
        None,
    )

    patched = send_json(api, "patch", url, {"totalSpent": "42.10", "tags": ["vip"]})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["totalSpent"], patched.json()["tags"], patched.json()["username"]) == (
        "42.10",
        ["vip"],
        "renamed",
    )
    assert api.get(url).json()["totalSpent"] == "42.10"

    assert api.delete(url).status_code == 204
    error_of(api.get(url), 404, "not_found")
    assert not Fan.objects.exists()


def test_it_serializes_money_as_decimal_strings_and_keeps_cents_exact(api, account):
    response = send_json(
        api,
        "post",
        FANS,
        {"onlyfansUserId": "f", "totalSpent": 0.1, "tips": "0.20", "subscriptionPrice": 19},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["totalSpent"], body["tips"], body["subscriptionPrice"]) == (
        "0.10",
        "0.20",
        "19.00",
    )
    fan = Fan.objects.get()
    assert fan.total_spent + fan.tips == fan.total_spent.__class__("0.30")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"onlyfansUserId": "f", "totalSpent": "-1.00"}, "totalSpent"),
        ({"onlyfansUserId": "f", "tips": -5}, "tips"),
        ({"onlyfansUserId": "f", "subscriptionPrice": "-0.01"}, "subscriptionPrice"),
        ({"onlyfansUserId": "f", "totalSpent": "12.345"}, "totalSpent"),
        ({"onlyfansUserId": "f", "totalSpent": "lots"}, "totalSpent"),
        ({"onlyfansUserId": "f", "totalSpent": True}, "totalSpent"),
        ({"onlyfansUserId": "f", "totalSpent": "99999999999.00"}, "totalSpent"),
        ({"username": "nobody"}, "onlyfansUserId"),
        ({"onlyfansUserId": "   "}, "onlyfansUserId"),
        ({"onlyfansUserId": 123}, "onlyfansUserId"),
        ({"onlyfansUserId": "f", "subscriptionStatus": "paused"}, "subscriptionStatus"),
        ({"onlyfansUserId": "f", "expiresAt": "next tuesday"}, "expiresAt"),
        ({"onlyfansUserId": "f", "autoRenew": "yes"}, "autoRenew"),
        ({"onlyfansUserId": "f", "tags": "vip"}, "tags"),
        ({"onlyfansUserId": "f", "tags": [1]}, "tags"),
        ({"onlyfansUserId": "f", "tags": ["x" * 65]}, "tags"),
        ({"onlyfansUserId": "f", "total_spent": "1.00"}, "total_spent"),
        ({"onlyfansUserId": "f", "accountId": "one"}, "accountId"),
        ({"onlyfansUserId": "f", "id": 7}, "id"),
    ],
)
def test_it_rejects_an_invalid_fan_naming_the_field(api, account, body, field):
    error = error_of(send_json(api, "post", FANS, body), 400, "validation_error")
    assert field in error["details"], error
    assert field in error["message"]
    assert not Fan.objects.exists()


def test_it_rejects_a_body_that_is_not_json(api, account):
    error_of(send_json(api, "post", FANS, "{not json"), 400, "invalid_json")


def test_it_refuses_a_second_fan_with_the_same_onlyfans_id_on_one_account(api, account):
    make_fan(account, onlyfans_user_id="fan_1")
    error = error_of(send_json(api, "post", FANS, {"onlyfansUserId": "fan_1"}), 409, "fan_exists")
    assert "onlyfansUserId" in error["details"]
    other = make_fan(account, onlyfans_user_id="fan_2")
    error_of(
        send_json(api, "patch", f"{FANS}/{other.pk}", {"onlyfansUserId": "fan_1"}),
        409,
        "fan_exists",
    )


def test_it_allows_the_same_onlyfans_id_on_two_accounts(api, owner, account):
    second = make_account(owner)
    make_fan(account, onlyfans_user_id="fan_1")
    response = send_json(api, "post", FANS, {"onlyfansUserId": "fan_1", "accountId": second.pk})
    assert response.status_code == 201, response.content
    assert response.json()["accountId"] == second.pk


def test_it_needs_the_account_when_the_user_runs_several(api, owner, account):
    make_account(owner)
    error = error_of(send_json(api, "post", FANS, {"onlyfansUserId": "f"}), 400, "validation_error")
    assert "accountId" in error["details"]


def test_it_does_not_create_a_fan_on_another_users_account(api, account):
    stranger = make_account(make_user())
    error_of(send_json(api, "post", FANS, {"onlyfansUserId": "f", "accountId": stranger.pk}), 404)
    assert not Fan.objects.exists()


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_it_answers_404_for_a_malformed_or_unknown_fan_id(api, account, bad_id, method):
    make_fan(account)
    url = f"{FANS}/{url_id(bad_id)}"
    response = api.get(url) if method == "get" else send_json(api, method, url, {"username": "x"})
    error_of(response, 404, "not_found")


def test_it_says_which_fields_are_read_only_on_update(api, account):
    fan = make_fan(account)
    fetched = api.get(f"{FANS}/{fan.pk}").json()
    error = error_of(send_json(api, "put", f"{FANS}/{fan.pk}", fetched), 400, "validation_error")
    assert set(error["details"]) == {"id", "accountId", "conversationId", "createdAt", "updatedAt"}
    assert error["details"]["accountId"] == ["This field is read-only."]


def test_it_requires_the_onlyfans_id_on_put_but_not_on_patch(api, account):
    fan = make_fan(account, username="before")
    error = error_of(send_json(api, "put", f"{FANS}/{fan.pk}", {"username": "after"}), 400)
    assert "onlyfansUserId" in error["details"]
    response = send_json(api, "patch", f"{FANS}/{fan.pk}", {"username": "after"})
    assert response.status_code == 200
    assert response.json()["onlyfansUserId"] == fan.onlyfans_user_id


def test_it_rejects_a_negative_amount_on_patch_and_changes_nothing(api, account):
    fan = make_fan(account, total_spent="10.00")
    error = error_of(send_json(api, "patch", f"{FANS}/{fan.pk}", {"totalSpent": "-3"}), 400)
    assert "totalSpent" in error["details"]
    fan.refresh_from_db()
    assert str(fan.total_spent) == "10.00"


def test_it_deletes_the_fans_conversation_and_thread_with_the_fan(api, account):
    fan = make_fan(account)
    conversation = make_conversation(fan)
    make_message(conversation)
    assert api.delete(f"{FANS}/{fan.pk}/").status_code == 204
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_it_shows_the_fans_conversation_id(api, account):
    fan = make_fan(account)
    assert api.get(f"{FANS}/{fan.pk}").json()["conversationId"] is None
    conversation = make_conversation(fan)
    assert api.get(f"{FANS}/{fan.pk}").json()["conversationId"] == conversation.pk
    assert api.get(FANS).json()["results"][0]["conversationId"] == conversation.pk


def test_it_serves_the_paths_with_and_without_a_trailing_slash(api, account):
    fan = make_fan(account)
    assert api.get(f"{FANS}/").status_code == 200
    assert api.get(f"{FANS}/{fan.pk}/").status_code == 200
    assert send_json(api, "post", f"{FANS}/", {"onlyfansUserId": "slash"}).status_code == 201


def test_it_answers_405_with_the_allowed_methods(api, account):
    response = api.delete(FANS)
    error_of(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, POST"


def test_it_requires_a_token(account):
    from rest_framework.test import APIClient

    fan = make_fan(account)
    anonymous = APIClient()
    error_of(anonymous.get(FANS), 401, "not_authenticated")
    error_of(anonymous.delete(f"{FANS}/{fan.pk}"), 401, "not_authenticated")
    assert Fan.objects.filter(pk=fan.pk).exists()
