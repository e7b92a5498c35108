"""The inbox's views over HTTP (Django's test client): tenancy, the keyset list, inline errors,
the poll's 204, cancel/retry, the fan panel, and constant query counts."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import Conversation, Fan, Message, MessageDirection, SubscriptionStatus
from onlyfans import limiter
from onlyfans.models import AttemptOutcome, DeliveryAttempt, MessageStatus, OutboundMessage
from tests.conftest import make_account, make_user
from tests.crm.factories import make_conversation, make_fan, make_message

pytestmark = pytest.mark.django_db

INBOX = "/messages/onlyfans"


@pytest.fixture
def chatter(client, owner):
    client.force_login(owner)
    return client


def outbound_message(conversation, status=MessageStatus.QUEUED, content="hi", attempts=0, **kwargs):
    row = OutboundMessage.objects.create(
        account=conversation.account,
        recipient_id=conversation.fan.onlyfans_user_id,
        content=content,
        status=status,
        estimated_send_time=timezone.now() + timedelta(seconds=30),
        **kwargs,
    )
    for number in range(1, attempts + 1):
        DeliveryAttempt.objects.create(
            message=row, number=number, outcome=AttemptOutcome.RETRY, error="503"
        )
    return make_message(conversation, content, direction=MessageDirection.OUTBOUND, outbound=row)


def busy_inbox(account, conversations: int, messages_each: int = 2) -> list[Conversation]:
    """Conversations, each with inbound and outbound messages in every delivery state."""
    statuses = [
        MessageStatus.QUEUED,
        MessageStatus.FAILED,
        MessageStatus.SENT,
        MessageStatus.PENDING,
    ]
    made = []
    for i in range(conversations):
        conversation = make_conversation(make_fan(account), unread_count=i % 3, pinned=i % 7 == 0)
        for j in range(messages_each):
            make_message(conversation, f"in {j}")
            outbound_message(
                conversation, statuses[(i + j) % 4], content=f"out {j}", attempts=j % 3
            )
        made.append(conversation)
    return made


def hold_back(account) -> None:
    """An idle account's queued messages are due now, and "now" moves: their ETAs can cross a
    fingerprint grain between two polls on a slow machine. Held back, their ETAs are fixed."""
    limiter.push_back(account.onlyfans_id, limit=account.effective_rate_limit, seconds=600)


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li id="conv-(\d+)"', html)]


def next_cursor(html: str) -> str | None:
    match = re.search(r"cursor=([^\"&]+)\"", html)
    return unquote(match.group(1)) if match else None


# --- Login and tenancy ---------------------------------------------------------------------------
def test_the_root_sends_visitors_to_the_login_and_users_to_the_inbox(client, owner):
    assert client.get("/").headers["Location"] == "/login"
    assert client.get(INBOX).headers["Location"] == f"/login?next={INBOX}"
    client.force_login(owner)
    assert client.get("/").headers["Location"] == INBOX


def test_a_fragment_request_after_the_session_ended_sends_the_whole_page_to_the_login(client):
    response = client.get(
        f"{INBOX}/poll",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/messages/onlyfans/7",
    )
    assert response.headers["HX-Redirect"] == "/login?next=%2Fmessages%2Fonlyfans%2F7"
    assert (
        client.post(f"{INBOX}/7/send", {"content": "x"}).headers["Location"]
        == f"/login?next={INBOX}/7/send"
    )


def test_login_and_logout_are_csrf_protected_forms():
    user = make_user("chatter1")
    strict = Client(enforce_csrf_checks=True)
    assert (
        strict.post("/login", {"username": "chatter1", "password": "pw-chatter1"}).status_code
        == 403
    )
    page = strict.get("/login")
    token = page.cookies["csrftoken"].value
    response = strict.post(
        "/login", {"username": "chatter1", "password": "pw-chatter1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == INBOX
    assert strict.get(INBOX).context["user"] == user
    assert strict.post("/logout").status_code == 403  # no token
    assert (
        strict.post(
            "/logout", {"csrfmiddlewaretoken": strict.cookies["csrftoken"].value}
        ).status_code
        == 302
    )
    assert strict.get(INBOX).status_code == 302


def test_a_wrong_password_is_an_inline_error(client):
    make_user("chatter2")
    response = client.post("/login", {"username": "chatter2", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_another_users_conversation_message_and_account_are_404(chatter, account, outsider):
    theirs = make_conversation(make_fan(make_account(outsider), display_name="Secret Fan"))
    their_message = outbound_message(theirs)
    assert chatter.get(f"{INBOX}/{theirs.pk}").status_code == 404
    assert chatter.get(f"{INBOX}/{theirs.pk}/older?before=10").status_code == 404
    assert chatter.post(f"{INBOX}/{theirs.pk}/send", {"content": "hi"}).status_code == 404
    assert chatter.post(f"{INBOX}/{theirs.pk}/fan", {"notes": "x"}).status_code == 404
    assert chatter.post(f"{INBOX}/messages/{their_message.pk}/cancel").status_code == 404
    assert chatter.post(f"{INBOX}/messages/{their_message.pk}/retry").status_code == 404
    assert chatter.get(f"{INBOX}/poll?conversation={theirs.pk}").status_code == 404
    assert chatter.get(f"{INBOX}?account={theirs.account_id}").status_code == 404
    assert chatter.get(f"{INBOX}/{2**70}").status_code == 404
    peek = chatter.get(f"{INBOX}/poll", {"watch": f"{their_message.pk},{2**70},x", "after": 2**70})
    assert peek.status_code == 200 and f'id="msg-{their_message.pk}"' not in peek.content.decode()
    listed = chatter.get(INBOX).content.decode()
    assert "Secret Fan" not in listed
    their_message.outbound.refresh_from_db()
    assert their_message.outbound.status == MessageStatus.QUEUED


def test_the_account_switcher_shows_one_account_or_all(chatter, owner):
    first, second = make_account(owner, username="first"), make_account(owner, username="second")
    a = make_conversation(make_fan(first, display_name="Fan of first"))
    b = make_conversation(make_fan(second, display_name="Fan of second"))
    assert set(row_ids(chatter.get(INBOX).content.decode())) == {a.pk, b.pk}
    only_second = chatter.get(f"{INBOX}?account={second.pk}").content.decode()
    assert row_ids(only_second) == [b.pk]
    assert f'<option value="{second.pk}" selected>@second</option>' in only_second


# --- The list ------------------------------------------------------------------------------------
def test_the_list_pages_by_keyset_without_repeating_rows_while_activity_reorders_it(
    chatter, account
):
    conversations = busy_inbox(account, 75, messages_each=0)
    first = chatter.get(INBOX).content.decode()
    seen = row_ids(first)
    assert len(seen) == 30
    cursor = next_cursor(first)
    # New activity moves a conversation already seen, and one not yet seen, to the top.
    moved_seen, moved_unseen = (
        seen[5],
        row_ids(chatter.get(f"{INBOX}/conversations", {"cursor": cursor}).content.decode())[3],
    )
    Conversation.objects.filter(pk__in=[moved_seen, moved_unseen]).update(
        last_activity_at=timezone.now() + timedelta(minutes=1)
    )
    while cursor:
        html = chatter.get(f"{INBOX}/conversations", {"cursor": cursor}).content.decode()
        seen += row_ids(html)
        cursor = next_cursor(html)
    assert len(seen) == len(set(seen)), "a row came twice"
    assert set(seen) == {c.pk for c in conversations} - {
        moved_unseen
    }  # it is at the top now, for the poll
    top = row_ids(chatter.get(INBOX).content.decode())
    pinned = [c.pk for c in conversations if c.pinned]
    assert top[: len(pinned)] == sorted(pinned, reverse=True) or set(top[: len(pinned)]) == set(
        pinned
    )


def test_search_and_filters_narrow_the_list(chatter, account):
    now = timezone.now()
    alex = make_conversation(
        make_fan(account, display_name="Alex B.", username="alex_b"), unread_count=2
    )
    sam = make_conversation(
        make_fan(account, display_name="Sam K.", expires_at=now + timedelta(days=2)), pinned=True
    )
    old = make_conversation(
        make_fan(account, display_name="Riley", expires_at=now + timedelta(days=40))
    )
    lapsed = make_conversation(
        make_fan(
            account,
            display_name="Gone",
            subscription_status=SubscriptionStatus.EXPIRED,
            expires_at=now + timedelta(days=1),
        )
    )

    def listed(**params) -> set[int]:
        return set(row_ids(chatter.get(f"{INBOX}/conversations", params).content.decode()))

    assert listed() == {alex.pk, sam.pk, old.pk, lapsed.pk}
    assert listed(q="alex") == {alex.pk}
    assert listed(filter="unread") == {alex.pk}
    assert listed(filter="pinned") == {sam.pk}
    assert listed(filter="expiring") == {sam.pk}
    assert listed(filter="nonsense") == {alex.pk, sam.pk, old.pk, lapsed.pk}


def test_a_forged_cursor_is_a_clear_400(chatter, account):
    response = chatter.get(f"{INBOX}/conversations", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "reload the page" in response.content.decode()


def test_the_list_marks_conversations_with_a_queued_or_failed_message(chatter, account):
    queued = make_conversation(make_fan(account))
    outbound_message(queued, MessageStatus.QUEUED)
    failed = make_conversation(make_fan(account))
    outbound_message(failed, MessageStatus.QUEUED)
    outbound_message(failed, MessageStatus.FAILED)
    quiet = make_conversation(make_fan(account))
    outbound_message(quiet, MessageStatus.SENT)
    html = chatter.get(INBOX).content.decode()
    markers = dict(
        re.findall(r'<li id="conv-(\d+)".*?(?:data-marker="(\w+)"|</li>)', html, flags=re.S)
    )
    assert markers == {str(queued.pk): "queued", str(failed.pk): "failed", str(quiet.pk): ""}


# --- The thread ----------------------------------------------------------------------------------
def test_the_thread_shows_each_outbound_state_in_words_and_data_status(chatter, account):
    conversation = make_conversation(make_fan(account), unread_count=4)
    make_message(conversation, "are you there?")
    outbound_message(conversation, MessageStatus.QUEUED, content="queued one")
    outbound_message(
        conversation,
        MessageStatus.FAILED,
        content="failed one",
        last_error="Gateway answered 400: bad",
        attempts=1,
    )
    outbound_message(
        conversation, MessageStatus.SENT, content="sent one", sent_at=timezone.now(), attempts=2
    )
    outbound_message(
        conversation,
        MessageStatus.DEAD_LETTERED,
        content="dead one",
        last_error="503 (gave up after 5 attempts)",
    )
    outbound_message(conversation, MessageStatus.CANCELLED, content="cancelled one")

    html = chatter.get(f"{INBOX}/{conversation.pk}").content.decode()

    states = re.findall(r'data-status="(\w+)"', html)
    assert states == [
        "received",
        "queued",
        "failed",
        "sent",
        "dead_lettered",
        "cancelled",
    ]  # oldest first
    assert re.search(r"Queued · <span class=\"eta\" data-eta=\"[^\"]+\">sends in ~\d+ s", html)
    assert "Failed: Gateway answered 400: bad" in html
    assert "2 attempts" in html
    assert "Dead-lettered: 503 (gave up after 5 attempts)" in html
    assert html.count(">Cancel</button>") == 1 and html.count(">Retry</button>") == 2
    conversation.refresh_from_db()
    assert conversation.unread_count == 0  # opening it reads it


def test_older_messages_load_with_the_before_cursor(chatter, account):
    conversation = make_conversation(make_fan(account))
    messages = [make_message(conversation, f"message {i}") for i in range(45)]
    html = chatter.get(f"{INBOX}/{conversation.pk}").content.decode()
    shown = [int(pk) for pk in re.findall(r'data-message-id="(\d+)"', html)]
    assert shown == [m.pk for m in messages[15:]]
    before = re.search(r"older\?before=(\d+)", html).group(1)
    older = chatter.get(f"{INBOX}/{conversation.pk}/older", {"before": before}).content.decode()
    assert [int(pk) for pk in re.findall(r'data-message-id="(\d+)"', older)] == [
        m.pk for m in messages[:15]
    ]
    assert "older?before=" not in older  # the start of the thread
    assert chatter.get(f"{INBOX}/{conversation.pk}/older", {"before": "x"}).status_code == 400


# --- The composer --------------------------------------------------------------------------------
def test_sending_returns_a_fresh_composer_and_the_message(
    chatter, account, queues, django_capture_on_commit_callbacks
):
    conversation = make_conversation(make_fan(account))
    with django_capture_on_commit_callbacks(execute=True):
        response = chatter.post(
            f"{INBOX}/{conversation.pk}/send",
            {"content": "Hello!", "priority": "7", "idempotency_key": "k-1"},
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-swap-oob="beforeend:#thread-messages"' in html
    # (pending in the answer here: the test's transaction runs the publish after the view)
    assert re.search(r'class="message outbound"[^>]*\s+data-status="(pending|queued)"', html)
    assert "Hello!</textarea>" not in html
    row = OutboundMessage.objects.get()
    assert (row.content, row.priority, row.status) == ("Hello!", 7, MessageStatus.QUEUED)
    # The same key again (a double submit) is the same message, not a second one.
    chatter.post(
        f"{INBOX}/{conversation.pk}/send",
        {"content": "Hello!", "priority": "7", "idempotency_key": "k-1"},
    )
    assert OutboundMessage.objects.count() == 1


def test_an_invalid_message_is_a_400_shown_inline_with_the_text_kept(chatter, account):
    conversation = make_conversation(make_fan(account))
    response = chatter.post(
        f"{INBOX}/{conversation.pk}/send",
        {
            "content": "Look at this",
            "media_urls": "http://insecure.example/x.jpg",
            "priority": "11",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Media URLs:" in html and "Priority:" in html
    assert ">Look at this</textarea>" in html
    assert "http://insecure.example/x.jpg</textarea>" in html
    blank = chatter.post(f"{INBOX}/{conversation.pk}/send", {"content": "   "})
    assert (
        blank.status_code == 400
        and "Message: This field may not be blank." in blank.content.decode()
    )
    assert not OutboundMessage.objects.exists()


# "²" passes str.isdigit() but int() refuses it; "١٢" is 12 to int(): neither is a priority.
@pytest.mark.parametrize("priority", ["²", "١٢", "-1", "99999999999999999999999"])
def test_a_priority_that_is_not_plain_digits_is_a_400_shown_inline(chatter, account, priority):
    conversation = make_conversation(make_fan(account))
    response = chatter.post(
        f"{INBOX}/{conversation.pk}/send", {"content": "Hello!", "priority": priority}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Priority:" in html and ">Hello!</textarea>" in html
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("bad_id", ["²", "١٢", "0", "99999999999999999999999"])
def test_a_malformed_id_in_a_pages_query_is_a_404_a_400_or_ignored(chatter, account, bad_id):
    conversation = make_conversation(make_fan(account))
    assert chatter.get(f"{INBOX}/poll", {"conversation": bad_id}).status_code == 404
    assert chatter.get(INBOX, {"account": bad_id}).status_code == 404
    older = chatter.get(f"{INBOX}/{conversation.pk}/older", {"before": bad_id})
    assert older.status_code == 400
    watched = chatter.get(f"{INBOX}/poll", {"watch": f"{bad_id},x", "after": bad_id})
    assert watched.status_code == 200


def test_too_many_sends_is_a_429_with_retry_after_shown_inline(chatter, account, queues, settings):
    settings.SEND_RATE_LIMIT = "2/m"
    conversation = make_conversation(make_fan(account))
    for i in range(2):
        assert (
            chatter.post(f"{INBOX}/{conversation.pk}/send", {"content": f"n{i}"}).status_code == 200
        )
    response = chatter.post(f"{INBOX}/{conversation.pk}/send", {"content": "one too many"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    html = response.content.decode()
    assert (
        f"wait {response.headers['Retry-After']} s" in html and ">one too many</textarea>" in html
    )


def test_a_lapsed_fan_is_a_409_shown_inline(chatter, account):
    fan = make_fan(account, username="gone", subscription_status=SubscriptionStatus.EXPIRED)
    response = chatter.post(f"{INBOX}/{make_conversation(fan).pk}/send", {"content": "come back"})
    assert response.status_code == 409
    assert "subscription expired" in response.content.decode()


# --- Cancel and retry ----------------------------------------------------------------------------
def test_cancel_stops_a_queued_message_and_is_refused_once_sent(chatter, account):
    conversation = make_conversation(make_fan(account))
    queued = outbound_message(conversation, MessageStatus.QUEUED)
    response = chatter.post(f"{INBOX}/messages/{queued.pk}/cancel")
    assert response.status_code == 200 and 'data-status="cancelled"' in response.content.decode()
    queued.outbound.refresh_from_db()
    assert queued.outbound.status == MessageStatus.CANCELLED
    sent = outbound_message(conversation, MessageStatus.SENT, sent_at=timezone.now())
    refused = chatter.post(f"{INBOX}/messages/{sent.pk}/cancel")
    assert refused.status_code == 409 and "Too late to cancel" in refused.content.decode()
    assert chatter.get(f"{INBOX}/messages/{queued.pk}/cancel").status_code == 405


def test_retry_puts_a_failed_message_back_on_the_queue(
    chatter, account, queues, django_capture_on_commit_callbacks
):
    conversation = make_conversation(make_fan(account))
    failed = outbound_message(
        conversation, MessageStatus.FAILED, last_error="Gateway answered 400", attempts=1
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = chatter.post(f"{INBOX}/messages/{failed.pk}/retry")
    assert response.status_code == 200
    failed.outbound.refresh_from_db()
    assert failed.outbound.status == MessageStatus.QUEUED  # published at once
    assert re.search(r'data-status="(pending|queued)"', response.content.decode())
    assert ">Retry</button>" not in response.content.decode()
    again = chatter.post(f"{INBOX}/messages/{failed.pk}/retry")
    assert again.status_code == 409 and "Only a failed message" in again.content.decode()


# --- Fan panel -----------------------------------------------------------------------------------
def test_tags_and_notes_are_saved_from_the_fan_panel(chatter, account):
    fan = make_fan(account, tags=["old"], notes="")
    conversation = make_conversation(fan)
    tags = chatter.post(f"{INBOX}/{conversation.pk}/fan", {"tags": "vip, whale ,, vip"})
    assert tags.status_code == 200 and '<li class="tag">whale</li>' in tags.content.decode()
    notes = chatter.post(f"{INBOX}/{conversation.pk}/fan", {"notes": "Likes cats"})
    assert notes.status_code == 200 and "Saved at" in notes.content.decode()
    fan.refresh_from_db()
    assert (fan.tags, fan.notes) == (["vip", "whale"], "Likes cats")
    too_long = chatter.post(f"{INBOX}/{conversation.pk}/fan", {"tags": "x" * 65})
    assert too_long.status_code == 400 and "Tags:" in too_long.content.decode()
    assert chatter.post(f"{INBOX}/{conversation.pk}/fan", {}).status_code == 400
    assert Fan.objects.get(pk=fan.pk).tags == ["vip", "whale"]


# --- The poll ------------------------------------------------------------------------------------
def test_the_poll_answers_204_until_something_changes(chatter, account, queues):
    conversation = make_conversation(make_fan(account))
    waiting = outbound_message(conversation, MessageStatus.QUEUED)
    hold_back(account)
    page = chatter.get(f"{INBOX}/{conversation.pk}").content.decode()
    version = re.search(r'data-version="(\w+)"', page).group(1)
    params = {
        "conversation": conversation.pk,
        "after": waiting.pk,
        "watch": waiting.pk,
        "version": version,
    }

    idle = chatter.get(f"{INBOX}/poll", params)
    assert idle.status_code == 204 and idle.headers["X-Inbox-Version"] == version

    OutboundMessage.objects.filter(pk=waiting.outbound_id).update(
        status=MessageStatus.SENT, sent_at=timezone.now()
    )
    changed = chatter.get(f"{INBOX}/poll", params)
    assert changed.status_code == 200
    html = changed.content.decode()
    assert re.search(
        rf'<li id="msg-{waiting.pk}"[^>]*data-status="sent"[^>]*hx-swap-oob="true"',
        html,
        flags=re.S,
    )
    assert 'hx-swap-oob="innerHTML:#conversation-items"' in html
    params["version"] = changed.headers["X-Inbox-Version"]
    assert chatter.get(f"{INBOX}/poll", params).status_code == 204

    inbound = make_message(conversation, "new from the fan")
    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=1, last_activity_at=timezone.now()
    )
    arrived = chatter.get(f"{INBOX}/poll", params)
    assert arrived.status_code == 200
    assert f'id="msg-{inbound.pk}"' in arrived.content.decode()
    conversation.refresh_from_db()
    assert conversation.unread_count == 0  # seen in the open thread


# --- Constant query counts -----------------------------------------------------------------------
@pytest.mark.parametrize("conversations", [3, 40])
def test_the_inbox_runs_a_constant_number_of_queries(
    chatter, account, conversations, django_assert_max_num_queries
):
    busy_inbox(account, conversations)
    with django_assert_max_num_queries(6):
        response = chatter.get(INBOX)
    assert len(row_ids(response.content.decode())) == min(conversations, 30)


@pytest.mark.parametrize("messages", [2, 40])
def test_a_thread_page_runs_a_constant_number_of_queries(
    chatter, account, messages, django_assert_max_num_queries
):
    [conversation, *_] = busy_inbox(account, 5, messages_each=messages)
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=3)
    # + 3 for the pipeline's live schedules (onlyfans.pacing.message_schedules), whatever the page.
    with django_assert_max_num_queries(15):
        response = chatter.get(f"{INBOX}/{conversation.pk}")
    assert response.content.decode().count('class="message ') == min(2 * messages, 30)


@pytest.mark.parametrize("size", [(3, 2), (40, 20)])
def test_the_poll_runs_a_constant_number_of_queries(
    chatter, account, size, django_assert_max_num_queries
):
    conversations, messages = size
    [conversation, *_] = busy_inbox(account, conversations, messages_each=messages)
    hold_back(account)
    ids = ",".join(str(pk) for pk in conversation.messages.values_list("pk", flat=True))
    params = {"conversation": conversation.pk, "after": 0, "watch": ids}
    with django_assert_max_num_queries(16):  # + 3: the live schedules, as above
        changed = chatter.get(f"{INBOX}/poll", params)
    assert changed.status_code == 200
    params["version"] = changed.headers["X-Inbox-Version"]
    params["after"] = conversation.messages.order_by("-pk").values_list("pk", flat=True)[0]
    params["version"] = chatter.get(f"{INBOX}/poll", params).headers["X-Inbox-Version"]
    with django_assert_max_num_queries(12):  # + 3: the watched messages' live schedules
        idle = chatter.get(f"{INBOX}/poll", params)
    assert idle.status_code == 204


# --- Campaign messages in a thread -------------------------------------------------------------
def test_a_thread_labels_the_messages_campaigns_sent(
    chatter, account, outsider, django_assert_max_num_queries
):
    from unittest import mock

    from crm.campaigns import delivery as campaign_delivery
    from crm.campaigns import launch
    from crm.campaigns import services as campaigns

    conversation = make_conversation(make_fan(account))
    with mock.patch.object(campaign_delivery, "advance_soon"):
        campaign = campaigns.campaign_create(
            account=account,
            user=account.owner,
            data={"name": "Friday drop", "content": "New set!", "rules": {}},
        )
        launch.campaign_advance(campaigns.campaign_launch(campaign=campaign).pk)
    sent = campaign.recipients.get(fan=conversation.fan).message
    # The launch wrote the campaign message into the fan's thread.
    by_recipient = Message.objects.get(conversation=conversation, outbound=sent)
    by_metadata = outbound_message(
        conversation, content="by metadata", metadata={"campaignId": campaign.pk}
    )
    theirs = campaigns.campaign_create(
        account=make_account(outsider),
        user=outsider,
        data={"name": "Not yours", "content": "x", "rules": {}},
    )
    spoofed = outbound_message(conversation, content="spoofed", metadata={"campaignId": theirs.pk})
    plain = outbound_message(conversation, content="plain reply")
    for _ in range(20):
        outbound_message(conversation, content="more", metadata={"campaignId": campaign.pk})

    # The thread page's own cap (live schedules included): labelling adds no query per message.
    with django_assert_max_num_queries(15):
        html = chatter.get(f"{INBOX}/{conversation.pk}").content.decode()

    def label_of(message) -> str | None:
        item = re.search(rf'<li id="msg-{message.pk}".*?</li>', html, flags=re.S).group(0)
        found = re.search(r'class="campaign-label"[^>]*>Campaign: ([^<]*)<', item)
        return found.group(1) if found else None

    assert label_of(by_recipient) == "Friday drop"
    assert label_of(by_metadata) == "Friday drop"
    assert label_of(spoofed) is None and "Not yours" not in html
    assert label_of(plain) is None
