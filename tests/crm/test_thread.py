"""GET /api/crm/conversations/{id}/messages: newest page first, before/after cursors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm.models import MessageDirection
from tests.crm.factories import error_of, make_conversation, make_fan, make_message

SQLITE_PLANS = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="reads SQLite's EXPLAIN QUERY PLAN"
)


@pytest.fixture
def conversation(account):
    return make_conversation(make_fan(account))


def thread_url(conversation) -> str:
    return f"/api/crm/conversations/{conversation.pk}/messages"


def page(api, conversation, **params) -> dict:
    response = api.get(thread_url(conversation), params)
    assert response.status_code == 200, response.content
    return response.json()


def contents(body) -> list[str]:
    return [m["content"] for m in body["results"]]


def test_it_returns_the_newest_page_first_and_older_pages_with_before(api, conversation):
    for n in range(1, 8):
        make_message(conversation, content=f"m{n}")
    first = page(api, conversation, limit=3)
    assert contents(first) == ["m7", "m6", "m5"]
    assert (first["hasOlder"], first["hasNewer"]) == (True, False)
    second = page(api, conversation, limit=3, before=first["before"])
    assert contents(second) == ["m4", "m3", "m2"]
    assert (second["hasOlder"], second["hasNewer"]) == (True, True)
    last = page(api, conversation, limit=3, before=second["before"])
    assert contents(last) == ["m1"]
    assert (last["hasOlder"], last["hasNewer"]) == (False, True)


def test_it_pages_without_duplicates_or_gaps_while_new_messages_arrive(api, conversation):
    for n in range(1, 6):
        make_message(conversation, content=f"m{n}")
    seen: list[str] = []
    first = page(api, conversation, limit=2)
    seen += contents(first)
    newest_cursor = first["after"]

    # New messages arrive between every request, including one stamped in the past (late delivery).
    make_message(conversation, content="m6")
    older = page(api, conversation, limit=2, before=first["before"])
    seen += contents(older)
    make_message(conversation, content="m7", sent_at=timezone.now() - timedelta(hours=1))
    oldest = page(api, conversation, limit=2, before=older["before"])
    seen += contents(oldest)
    assert not oldest["hasOlder"]

    # Polling with `after` picks up what arrived, oldest first across pages, none skipped.
    make_message(conversation, content="m8")
    newer = page(api, conversation, limit=2, after=newest_cursor)
    assert contents(newer) == ["m7", "m6"]  # the two right after the cursor, newest first
    assert newer["hasNewer"] is True
    seen += contents(newer)
    newest = page(api, conversation, limit=2, after=newer["after"])
    assert contents(newest) == ["m8"]
    assert newest["hasNewer"] is False
    seen += contents(newest)
    idle = page(api, conversation, limit=2, after=newest["after"])
    assert (idle["results"], idle["after"], idle["hasNewer"]) == ([], newest["after"], False)

    assert sorted(seen, key=lambda c: int(c[1:])) == [f"m{n}" for n in range(1, 9)]
    assert len(seen) == len(set(seen))


def test_it_pages_an_empty_thread(api, conversation):
    body = page(api, conversation)
    assert body == {
        "results": [],
        "before": None,
        "after": None,
        "hasOlder": False,
        "hasNewer": False,
    }


def test_it_shows_each_message_with_direction_time_and_status(api, conversation):
    sent_at = timezone.now() - timedelta(minutes=5)
    inbound = make_message(
        conversation, content="hi!", sent_at=sent_at, media_urls=["https://cdn.example.com/p.jpg"]
    )
    [item] = page(api, conversation)["results"]
    assert item == {
        "id": inbound.pk,
        "conversationId": conversation.pk,
        "direction": "inbound",
        "content": "hi!",
        "mediaUrls": ["https://cdn.example.com/p.jpg"],
        "sentAt": item["sentAt"],
        "status": "received",
        "messageId": None,
        "estimatedSendTime": None,
        "nextAttemptAt": None,
        "waitingFor": None,
        "deliveredAt": None,
        "error": None,
    }
    assert item["sentAt"].endswith("Z")


def test_it_keeps_other_conversations_messages_out(api, account, conversation):
    other = make_conversation(make_fan(account))
    make_message(other, content="elsewhere")
    make_message(conversation, content="here", direction=MessageDirection.OUTBOUND)
    assert contents(page(api, conversation)) == ["here"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("before=abc", "before"),
        ("after=0", "after"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("cursor=5", "cursor"),
    ],
)
def test_it_rejects_a_bad_cursor_or_parameter_naming_it(api, conversation, query, param):
    error = error_of(api.get(f"{thread_url(conversation)}?{query}"), 400, "validation_error")
    assert list(error["details"]) == [param]


@SQLITE_PLANS
def test_it_reads_the_thread_through_its_index(conversation):
    from django.db import connection

    from crm.models import Message

    make_message(conversation)
    queryset = Message.objects.filter(conversation=conversation, id__lt=100).order_by("-id")[:50]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert (
        "USING COVERING INDEX message_thread_idx" in plan
        or "USING INDEX message_thread_idx" in plan
    ), plan
    assert "TEMP B-TREE" not in plan, plan
