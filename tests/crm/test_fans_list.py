"""GET /api/crm/fans: search, filters, ordering, pagination, strict query parameters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import make_account, make_user
from tests.crm.factories import error_of, make_fan

FANS = "/api/crm/fans"


SQLITE_PLANS = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="reads SQLite's EXPLAIN QUERY PLAN"
)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [fan["id"] for fan in response.json()["results"]]


def test_it_searches_username_display_name_and_exact_onlyfans_id(api, account):
    alice = make_fan(
        account, username="alice_w", display_name="Alice Wonder", onlyfans_user_id="u100"
    )
    bob = make_fan(
        account, username="bobby", display_name="Robert WONDERS", onlyfans_user_id="u200"
    )
    make_fan(account, username="carol", display_name="Carol", onlyfans_user_id="u300")
    assert ids(api.get(FANS, {"search": "ALICE"})) == [alice.pk]
    assert sorted(ids(api.get(FANS, {"search": "wonder"}))) == [alice.pk, bob.pk]
    assert ids(api.get(FANS, {"search": "u200"})) == [bob.pk]
    assert ids(api.get(FANS, {"search": "u2"})) == []


def test_it_treats_an_empty_search_or_tag_as_no_filter(api, account):
    fans = [make_fan(account, tags=["vip"]), make_fan(account)]
    assert sorted(ids(api.get(f"{FANS}?search=&tag="))) == [fan.pk for fan in fans]


def test_it_filters_by_subscription_status(api, account):
    active = make_fan(account, subscription_status="active")
    expired = make_fan(account, subscription_status="expired")
    assert ids(api.get(FANS, {"subscriptionStatus": "active"})) == [active.pk]
    assert ids(api.get(FANS, {"subscriptionStatus": "expired"})) == [expired.pk]


def test_it_filters_by_tag_exactly(api, account):
    vip = make_fan(account, tags=["vip", "whale"])
    make_fan(account, tags=["vipish"])
    make_fan(account, tags=[])
    also_vip = make_fan(account, tags=["new", "vip"])
    assert sorted(ids(api.get(FANS, {"tag": "vip"}))) == [vip.pk, also_vip.pk]
    assert ids(api.get(FANS, {"tag": "whale"})) == [vip.pk]
    assert ids(api.get(FANS, {"tag": "nobody"})) == []


@pytest.mark.parametrize("tag", ["café crème", 'say "hi"', "a/b", "back\\slash", "100%"])
def test_it_filters_by_a_tag_with_any_characters(api, account, tag):
    fan = make_fan(account, tags=["other", tag])
    make_fan(account, tags=[tag + "x"])
    assert ids(api.get(FANS, {"tag": tag})) == [fan.pk]


def test_it_filters_by_a_spend_range_inclusive(api, account):
    low = make_fan(account, total_spent="9.99")
    mid = make_fan(account, total_spent="10.00")
    high = make_fan(account, total_spent="250.50")
    assert sorted(ids(api.get(FANS, {"minSpent": "10"}))) == [mid.pk, high.pk]
    assert sorted(ids(api.get(FANS, {"maxSpent": "10.00"}))) == [low.pk, mid.pk]
    assert ids(api.get(FANS, {"minSpent": "10.00", "maxSpent": "250.49"})) == [mid.pk]


def test_it_lists_active_fans_expiring_within_n_days(api, account):
    now = timezone.now()
    soon = make_fan(account, expires_at=now + timedelta(days=2))
    later = make_fan(account, expires_at=now + timedelta(days=10))
    make_fan(account, expires_at=now - timedelta(days=1))  # already past
    make_fan(account, expires_at=now + timedelta(days=1), subscription_status="expired")
    make_fan(account, expires_at=None)
    assert ids(api.get(FANS, {"expiringWithinDays": 3})) == [soon.pk]
    assert sorted(ids(api.get(FANS, {"expiringWithinDays": 30}))) == [soon.pk, later.pk]


def test_it_combines_filters(api, account):
    match = make_fan(
        account, username="vip_anna", tags=["vip"], total_spent="500", subscription_status="active"
    )
    make_fan(
        account, username="vip_ben", tags=["vip"], total_spent="500", subscription_status="expired"
    )
    make_fan(
        account, username="vip_cat", tags=["vip"], total_spent="5", subscription_status="active"
    )
    make_fan(account, username="dan", tags=["vip"], total_spent="500", subscription_status="active")
    query = {"search": "vip_", "tag": "vip", "minSpent": "100", "subscriptionStatus": "active"}
    assert ids(api.get(FANS, query)) == [match.pk]


def test_it_orders_by_spend_both_ways_with_the_id_breaking_ties(api, account):
    a = make_fan(account, total_spent="50.00")
    b = make_fan(account, total_spent="100.00")
    c = make_fan(account, total_spent="50.00")
    d = make_fan(account, total_spent="0.50")
    assert ids(api.get(FANS, {"ordering": "-totalSpent"})) == [b.pk, c.pk, a.pk, d.pk]
    assert ids(api.get(FANS, {"ordering": "totalSpent"})) == [d.pk, a.pk, c.pk, b.pk]


@pytest.mark.parametrize(
    ("ordering", "field"), [("lastSeenAt", "last_seen_at"), ("subscribedAt", "subscribed_at")]
)
def test_it_orders_by_a_date_with_missing_dates_as_the_smallest(api, account, ordering, field):
    now = timezone.now()
    old = make_fan(account, **{field: now - timedelta(days=30)})
    never = make_fan(account, **{field: None})
    recent = make_fan(account, **{field: now - timedelta(hours=1)})
    assert ids(api.get(FANS, {"ordering": f"-{ordering}"})) == [recent.pk, old.pk, never.pk]
    assert ids(api.get(FANS, {"ordering": ordering})) == [never.pk, old.pk, recent.pk]


def test_it_lists_newest_fans_first_by_default(api, account):
    now = timezone.now()
    first = make_fan(account, created_at=now - timedelta(days=2))
    second = make_fan(account, created_at=now - timedelta(days=1))
    assert ids(api.get(FANS)) == [second.pk, first.pk]


def test_it_paginates_with_a_total_and_no_overlap(api, account):
    fans = [make_fan(account, total_spent=str(n)) for n in range(7)]
    seen = []
    for page in (1, 2, 3):
        response = api.get(FANS, {"ordering": "totalSpent", "pageSize": 3, "page": page})
        body = response.json()
        assert (body["total"], body["page"], body["pageSize"], body["totalPages"]) == (
            7,
            page,
            3,
            3,
        )
        seen += ids(response)
    assert seen == [fan.pk for fan in fans]
    beyond = api.get(FANS, {"pageSize": 3, "page": 4}).json()
    assert (beyond["total"], beyond["results"]) == (7, [])


def test_it_counts_the_filtered_total(api, account):
    for n in range(5):
        make_fan(account, tags=["vip"] if n % 2 else [])
    body = api.get(FANS, {"tag": "vip", "pageSize": 1}).json()
    assert (body["total"], len(body["results"]), body["totalPages"]) == (2, 1, 2)


def test_it_lists_only_the_users_own_fans_across_their_accounts(api, owner, account):
    second = make_account(owner)
    mine = [make_fan(account), make_fan(second)]
    make_fan(make_account(make_user()))
    assert sorted(ids(api.get(FANS))) == [fan.pk for fan in mine]
    assert ids(api.get(FANS, {"accountId": second.pk})) == [mine[1].pk]


def test_it_answers_404_for_another_users_account_filter(api, account):
    stranger = make_account(make_user())
    make_fan(stranger)
    error_of(api.get(FANS, {"accountId": stranger.pk}), 404, "not_found")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("status=active", "status"),
        ("subscription_status=active", "subscription_status"),
        ("ordering=-spend", "ordering"),
        ("ordering=username", "ordering"),
        ("minSpent=-5", "minSpent"),
        ("maxSpent=abc", "maxSpent"),
        ("minSpent=10&maxSpent=5", "maxSpent"),
        ("minSpent=1.005", "minSpent"),
        ("expiringWithinDays=-1", "expiringWithinDays"),
        ("expiringWithinDays=soon", "expiringWithinDays"),
        ("subscriptionStatus=paused", "subscriptionStatus"),
        ("page=0", "page"),
        ("pageSize=201", "pageSize"),
        ("accountId=abc", "accountId"),
        ("accountId=99999999999999999999", "accountId"),
        ("tag=vip&tag=whale", "tag"),
    ],
)
def test_it_rejects_an_unknown_or_invalid_query_parameter_naming_it(api, account, query, param):
    error = error_of(api.get(f"{FANS}?{query}"), 400, "validation_error")
    assert list(error["details"]) == [param], error
    assert param in error["message"]


def query_plan(queryset) -> str:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return " | ".join(row[-1] for row in cursor.fetchall())


def count_plan(queryset) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        queryset.count()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {captured.captured_queries[-1]['sql']}")
        return " | ".join(row[-1] for row in cursor.fetchall())


@SQLITE_PLANS
@pytest.mark.parametrize(
    ("ordering", "index"),
    [
        ("-totalSpent", "fan_spend_idx"),
        ("totalSpent", "fan_spend_idx"),
        ("-lastSeenAt", "fan_last_seen_idx"),
        ("lastSeenAt", "fan_last_seen_idx"),
        ("-subscribedAt", "fan_subscribed_idx"),
        ("-createdAt", "fan_created_idx"),
    ],
)
def test_it_walks_an_index_in_order_for_the_ordered_list(account, ordering, index):
    from crm.selectors import fans_query

    make_fan(account)
    plan = query_plan(
        fans_query(
            user=account.owner, filters={"ordering": ordering, "subscriptionStatus": "active"}
        )
    )
    assert f"SEARCH crm_fan USING INDEX {index} (account_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@SQLITE_PLANS
@pytest.mark.parametrize(
    ("filters", "index"),
    [({"search": "ann"}, "fan_search_idx"), ({"tag": "vip"}, "fan_tags_idx")],
)
def test_it_matches_search_and_tag_on_a_covering_index(account, filters, index):
    from crm.selectors import fans_query

    make_fan(account)
    plan = query_plan(
        fans_query(user=account.owner, filters={"ordering": "-totalSpent", **filters})
    )
    assert f"USING COVERING INDEX {index} (account_id=?)" in plan, plan


@SQLITE_PLANS
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"subscriptionStatus": "active", "minSpent": 10},
        {"maxSpent": 5},
        {"expiringWithinDays": 7},
        {"subscriptionStatus": "expired"},
    ],
)
def test_it_counts_the_total_from_an_index_alone(account, filters):
    from crm.selectors import fans_query

    make_fan(account)
    plan = count_plan(fans_query(user=account.owner, filters={"ordering": "-createdAt", **filters}))
    assert "USING COVERING INDEX" in plan, plan


@SQLITE_PLANS
@pytest.mark.parametrize("filters", [{"minSpent": 10}, {"expiringWithinDays": 7}])
def test_it_searches_an_index_for_range_filters(account, filters):
    from crm.selectors import fans_query

    make_fan(account)
    plan = query_plan(
        fans_query(user=account.owner, filters={"ordering": "-lastSeenAt", **filters})
    )
    assert "SEARCH crm_fan USING INDEX" in plan, plan
    assert "SCAN crm_fan" not in plan, plan


def test_it_filters_by_tips_recent_subscription_and_recent_inbound_message(api, account):
    from crm.models import MessageDirection
    from tests.crm.factories import make_conversation, make_message

    now = timezone.now()
    tipper = make_fan(account, tips=80, subscribed_at=now - timedelta(days=100))
    newcomer = make_fan(account, tips=0, subscribed_at=now - timedelta(days=2))
    make_message(make_conversation(newcomer), sent_at=now - timedelta(hours=3))
    make_message(make_conversation(tipper), direction=MessageDirection.OUTBOUND, sent_at=now)
    assert ids(api.get(FANS, {"minTips": "50"})) == [tipper.pk]
    assert ids(api.get(FANS, {"maxTips": "10"})) == [newcomer.pk]
    assert ids(api.get(FANS, {"subscribedWithinDays": "7"})) == [newcomer.pk]
    assert ids(api.get(FANS, {"lastInboundWithinDays": "1"})) == [newcomer.pk]
    error = error_of(api.get(FANS, {"minTips": "9", "maxTips": "1"}), 400, "validation_error")
    assert error["details"] == {"maxTips": ["Must be at least minTips."]}
