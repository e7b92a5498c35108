"""/api/crm/segments: saved audiences of fans — rules, hand-picked fans, preview, tenancy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import MessageDirection, Segment
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

SEGMENTS = "/api/crm/segments"

pytestmark = pytest.mark.django_db


def create(api, body: dict, status: int = 201) -> dict:
    response = send_json(api, "post", SEGMENTS, body)
    assert response.status_code == status, response.content
    return response.json()


def preview_ids(api, segment_id: int) -> tuple[int, list[int]]:
    response = api.get(f"{SEGMENTS}/{segment_id}/preview")
    assert response.status_code == 200, response.content
    body = response.json()
    return body["count"], sorted(fan["id"] for fan in body["fans"])


def test_it_saves_rules_and_previews_who_matches(api, account):
    now = timezone.now()
    vip = make_fan(
        account,
        tags=["vip", "whale"],
        total_spent=500,
        tips=120,
        subscribed_at=now - timedelta(days=3),
    )
    make_fan(account, tags=["vip"], total_spent=20, tips=0, subscribed_at=now - timedelta(days=300))
    make_fan(account, tags=["new"], total_spent=900, subscription_status="expired")
    segment = create(
        api, {"name": "Big VIPs", "rules": {"tagsAll": ["vip", "whale"], "minSpent": "100"}}
    )
    assert segment["name"] == "Big VIPs"
    assert segment["accountId"] == account.pk
    assert segment["rules"] == {"tagsAll": ["vip", "whale"], "minSpent": "100.00"}
    assert preview_ids(api, segment["id"]) == (1, [vip.pk])


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"tagsAny": ["vip", "new"]}, {"vip", "new"}),
        ({"tagsAll": ["vip", "whale"]}, {"vip"}),
        ({"subscriptionStatus": "expired"}, {"lapsed"}),
        ({"minTips": "50", "maxTips": "150"}, {"vip"}),
        ({"maxSpent": "10"}, {"new", "lapsed"}),
        ({"expiringWithinDays": 5}, {"new"}),
        ({"subscribedWithinDays": 7}, {"vip"}),
        ({"lastInboundWithinDays": 2}, {"chatty"}),
        ({}, {"vip", "new", "lapsed", "chatty"}),
    ],
)
def test_each_rule_narrows_the_audience(api, account, rules, expected):
    now = timezone.now()
    fans = {
        "vip": make_fan(account, tags=["vip", "whale"], total_spent=400, tips=100,
                        subscribed_at=now - timedelta(days=2), expires_at=now + timedelta(days=20)),
        "new": make_fan(account, tags=["new"], total_spent=5, expires_at=now + timedelta(days=3),
                        subscribed_at=now - timedelta(days=40)),
        "lapsed": make_fan(account, subscription_status="expired", total_spent=0,
                           expires_at=now - timedelta(days=1)),
        "chatty": make_fan(account, total_spent=50, tips=10,
                           subscribed_at=now - timedelta(days=90)),
    }  # fmt: skip
    # An old inbound message does not count; a recent one does; an outbound one never does.
    make_message(make_conversation(fans["chatty"]), sent_at=now - timedelta(hours=5))
    old = make_conversation(fans["vip"])
    make_message(old, sent_at=now - timedelta(days=10))
    make_message(old, direction=MessageDirection.OUTBOUND, sent_at=now - timedelta(hours=1))
    segment = create(api, {"name": "s", "rules": rules})
    count, members = preview_ids(api, segment["id"])
    assert members == sorted(fans[name].pk for name in expected)
    assert count == len(expected)


def test_hand_picked_fans_are_added_and_left_out(api, account):
    whale, minnow, other = (
        make_fan(account, total_spent=900),
        make_fan(account, total_spent=1),
        make_fan(account, total_spent=800),
    )
    segment = create(
        api,
        {
            "name": "s",
            "rules": {"minSpent": "500"},
            "includeFanIds": [minnow.pk],
            "excludeFanIds": [other.pk],
        },
    )
    assert (segment["includeFanIds"], segment["excludeFanIds"]) == ([minnow.pk], [other.pk])
    assert preview_ids(api, segment["id"]) == (2, sorted([whale.pk, minnow.pk]))
    # No rules at all: exactly the included fans.
    only = create(api, {"name": "picked", "rules": None, "includeFanIds": [other.pk]})
    assert preview_ids(api, only["id"]) == (1, [other.pk])


def test_the_preview_counts_everyone_but_lists_twenty(api, account):
    for spent in range(25):
        make_fan(account, total_spent=spent)
    segment = create(api, {"name": "all"})
    response = api.get(f"{SEGMENTS}/{segment['id']}/preview").json()
    assert response["count"] == 25
    assert [fan["totalSpent"] for fan in response["fans"]][:2] == ["24.00", "23.00"]
    assert len(response["fans"]) == 20


def test_it_lists_gets_updates_and_deletes(api, account):
    fan = make_fan(account)
    first = create(api, {"name": "one"})
    second = create(api, {"name": "two", "rules": {"tagsAny": ["vip"]}})
    listed = api.get(SEGMENTS).json()
    assert [s["id"] for s in listed["results"]] == [second["id"], first["id"]]
    assert listed["total"] == 2
    assert api.get(f"{SEGMENTS}/{first['id']}/").json()["name"] == "one"

    patched = send_json(
        api, "patch", f"{SEGMENTS}/{first['id']}", {"name": "renamed", "includeFanIds": [fan.pk]}
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["name"], patched.json()["includeFanIds"]) == ("renamed", [fan.pk])
    assert patched.json()["rules"] == {}

    assert api.delete(f"{SEGMENTS}/{first['id']}").status_code == 204
    assert not Segment.objects.filter(pk=first["id"]).exists()
    error_of(api.get(f"{SEGMENTS}/{first['id']}"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "x", "rules": {"minSpnt": "5"}}, "rules.minSpnt"),
        ({"name": "x", "rules": {"minSpent": "9", "maxSpent": "1"}}, "rules.maxSpent"),
        ({"name": "x", "rules": {"minSpent": "-1"}}, "rules.minSpent"),
        ({"name": "x", "rules": {"expiringWithinDays": "soon"}}, "rules.expiringWithinDays"),
        ({"name": "x", "rules": {"subscriptionStatus": "vip"}}, "rules.subscriptionStatus"),
        ({"name": "x", "rules": {"tagsAny": "vip"}}, "rules.tagsAny"),
        ({"name": "x", "includeFanIds": ["1"]}, "includeFanIds[0]"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, account, body, field):
    error = error_of(send_json(api, "post", SEGMENTS, body), 400, "validation_error")
    assert field in error["message"], error
    assert not Segment.objects.exists()


def test_another_accounts_fans_cannot_be_picked(api, account, outsider):
    theirs = make_fan(make_account(outsider))
    error = error_of(
        send_json(api, "post", SEGMENTS, {"name": "x", "includeFanIds": [theirs.pk]}),
        400,
        "validation_error",
    )
    assert error["details"]["includeFanIds"] == [f"Not fans of this account: {theirs.pk}."]
    assert not Segment.objects.exists()


def test_another_users_segment_is_a_404(api, outsider_api, account, outsider):
    segment = create(api, {"name": "mine"})
    make_account(outsider)
    for method, path in [
        ("get", f"{SEGMENTS}/{segment['id']}"),
        ("get", f"{SEGMENTS}/{segment['id']}/preview"),
        ("patch", f"{SEGMENTS}/{segment['id']}"),
        ("delete", f"{SEGMENTS}/{segment['id']}"),
    ]:
        response = (
            send_json(outsider_api, method, path, {"name": "stolen"})
            if method == "patch"
            else getattr(outsider_api, method)(path)
        )
        error_of(response, 404, "not_found")
    assert outsider_api.get(SEGMENTS).json()["total"] == 0
    error_of(outsider_api.get(SEGMENTS, {"accountId": account.pk}), 404)
    error_of(outsider_api.get(f"{SEGMENTS}/not-a-number"), 404, "not_found")
    assert Segment.objects.get(pk=segment["id"]).name == "mine"


def test_a_user_with_several_accounts_names_one(api, owner, account):
    other = make_account(owner)
    error_of(send_json(api, "post", SEGMENTS, {"name": "x"}), 400, "validation_error")
    segment = create(api, {"name": "x", "accountId": other.pk})
    assert segment["accountId"] == other.pk
    assert api.get(SEGMENTS, {"accountId": account.pk}).json()["total"] == 0


def test_the_preview_runs_a_constant_number_of_queries(api, account, django_assert_max_num_queries):
    segment = create(api, {"name": "all", "rules": {"tagsAny": ["a", "b"]}})
    for n in range(30):
        make_conversation(make_fan(account, tags=["a" if n % 2 else "b"]))
    with django_assert_max_num_queries(6):
        assert api.get(f"{SEGMENTS}/{segment['id']}/preview").json()["count"] == 30


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("patch", ""), ("delete", ""), ("get", "/preview")]
)
def test_it_answers_404_for_a_malformed_or_unknown_segment_id(api, account, bad_id, method, suffix):
    Segment.objects.create(account=account, name="mine")
    url = f"{SEGMENTS}/{url_id(bad_id)}{suffix}"
    response = (
        send_json(api, method, url, {"name": "renamed"})
        if method == "patch"
        else getattr(api, method)(url)
    )
    error_of(response, 404, "not_found")
    assert Segment.objects.get().name == "mine"
