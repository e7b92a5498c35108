"""Nothing accepted is lost: an SQS outage answers 202 `pending` without waiting on SQS, and the
relay (`messages_publish_pending`) publishes the pending rows once SQS answers again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from onlyfans import bulk, services, sqs
from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.serializers import PENDING_TEXT
from tests.settings import MOTO
from tests.support.api import SEED_BODY, SEND, post_json
from tests.support.delivery import bodies_on, pending_row

BATCH = "/api/onlyfans/messages/batch"


class SqsRequests:
    """Counts the HTTP requests the API's SQS client really makes (retries included)."""

    def __init__(self, settings):
        self.count = 0
        self.client = sqs.sqs(settings.SQS_REQUEST_TIMEOUT)
        self.client.meta.events.register("before-send.sqs", self._seen)

    def _seen(self, **kwargs):
        self.count += 1

    def close(self):
        self.client.meta.events.unregister("before-send.sqs", self._seen)


@pytest.fixture
def sqs_requests(settings):
    counter = SqsRequests(settings)
    yield counter
    counter.close()


def sqs_back(settings):
    settings.SQS_ENDPOINT_URL = MOTO.url
    sqs.clear_caches()


# --- The API during an outage -------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_accepts_a_message_as_pending_during_an_sqs_outage(api, account, sqs_down):
    response = post_json(api, SEND, SEED_BODY)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["message"] == PENDING_TEXT
    message = OutboundMessage.objects.get(pk=body["messageId"])
    assert message.status == MessageStatus.PENDING
    assert message.published_at is None
    assert body["estimatedSendTime"] is not None


@pytest.mark.django_db(transaction=True)
def test_it_tries_sqs_once_then_skips_it_while_the_circuit_is_open(
    api, account, sqs_down, sqs_requests
):
    assert post_json(api, SEND, SEED_BODY).json()["status"] == "pending"
    # One HTTP attempt: no retries, no backoff inside an API request.
    assert sqs_requests.count == 1
    assert services.sqs_circuit.is_open()

    for _ in range(5):
        assert post_json(api, SEND, SEED_BODY).json()["status"] == "pending"
    assert post_json(api, BATCH, {"messages": [SEED_BODY] * 3}).json()["pending"] == 3
    assert sqs_requests.count == 1
    assert OutboundMessage.objects.filter(status=MessageStatus.PENDING).count() == 9


@pytest.mark.django_db(transaction=True)
def test_it_tries_sqs_again_once_the_outage_backoff_has_passed(
    api, account, sqs_down, sqs_requests, settings
):
    from onlyfans import accepting

    clock = mock.Mock(wraps=accepting.time)
    clock.monotonic.return_value = 1000.0
    with mock.patch.object(accepting, "time", clock):
        post_json(api, SEND, SEED_BODY)
        clock.monotonic.return_value = 1000.0 + settings.SQS_OUTAGE_BACKOFF_SECONDS - 0.1
        post_json(api, SEND, SEED_BODY)
        assert sqs_requests.count == 1
        clock.monotonic.return_value = 1000.0 + settings.SQS_OUTAGE_BACKOFF_SECONDS + 0.1
        post_json(api, SEND, SEED_BODY)
        assert sqs_requests.count == 2


@pytest.mark.django_db(transaction=True)
def test_it_never_waits_on_sqs_longer_than_the_request_timeout(api, account, queues, settings):
    """Queues configured by name: resolving their URLs is on the request's path too."""
    settings.SQS_QUEUE_NAME = queues.main.rsplit("/", 1)[1]
    settings.SQS_DLQ_NAME = queues.dlq.rsplit("/", 1)[1]
    settings.SQS_RATE_LIMITER_QUEUE_URL = settings.SQS_RATE_LIMITER_DLQ_URL = None
    sqs.clear_caches()
    timeouts: list[float | None] = []
    real = sqs.sqs

    def spy(timeout=None):
        timeouts.append(timeout)
        return real(timeout)

    with mock.patch.object(sqs, "sqs", side_effect=spy):
        assert post_json(api, SEND, SEED_BODY).json()["status"] == "queued"
    assert len(timeouts) == 2  # GetQueueUrl, SendMessageBatch
    assert all(t is not None and t <= settings.SQS_REQUEST_TIMEOUT for t in timeouts)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_row_when_publishing_fails_unexpectedly(api, account, queues):
    with mock.patch.object(sqs, "send_wakeups", side_effect=RuntimeError("bug in the transport")):
        response = post_json(api, SEND, SEED_BODY)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert (
        OutboundMessage.objects.get(pk=response.json()["messageId"]).status == MessageStatus.PENDING
    )


@pytest.mark.django_db(transaction=True)
def test_it_publishes_after_the_commit_not_before(account, queues):
    """A consumer must never receive the id of a row it cannot read yet."""
    from django.db import transaction

    with mock.patch.object(sqs, "send_wakeups", wraps=sqs.send_wakeups) as publish:
        with transaction.atomic():
            outcome = services.message_send(
                user=account.owner, account=account, data=services.MessageInput("fan_1", "hi")
            )
            assert publish.call_count == 0
            assert outcome.message.status == MessageStatus.PENDING
        assert publish.call_count == 1
    assert OutboundMessage.objects.get(pk=outcome.message.pk).status == MessageStatus.QUEUED


# --- The relay ----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_publishes_what_the_outage_left_pending_once_sqs_is_back(
    api, account, queues, sqs_down, settings
):
    ids = {post_json(api, SEND, SEED_BODY).json()["messageId"] for _ in range(3)}
    assert OutboundMessage.objects.filter(status=MessageStatus.PENDING).count() == 3

    sqs_back(settings)
    sleeps: list[float] = []
    report = services.messages_publish_pending(sleep=sleeps.append)
    assert (report.published, report.failed, report.unreachable) == (3, 0, False)
    assert sleeps == []
    for message in OutboundMessage.objects.all():
        assert message.status == MessageStatus.QUEUED
        assert message.published_at is not None
    assert len(ids) == 3
    # One wake-up for the account carries all three.
    assert [(b["kind"], b["account"]) for b in bodies_on(queues.main)] == [
        ("wake", account.onlyfans_id)
    ]

    # The circuit is closed again: the next request goes straight to SQS.
    assert not services.sqs_circuit.is_open()
    assert post_json(api, SEND, SEED_BODY).json()["status"] == "queued"


@pytest.mark.django_db(transaction=True)
def test_it_publishes_each_pending_message_once(account, queues):
    for _ in range(3):
        pending_row(account)
    first = services.messages_publish_pending(sleep=lambda _: None)
    second = services.messages_publish_pending(sleep=lambda _: None)
    assert (first.published, second.published) == (3, 0)
    assert len(bodies_on(queues.main)) == 1


@pytest.mark.django_db(transaction=True)
def test_it_retries_a_failing_sqs_with_the_seeds_delays(account, sqs_down):
    rows = [pending_row(account) for _ in range(12)]
    sleeps: list[float] = []
    report = services.messages_publish_pending(sleep=sleeps.append)
    assert sleeps == [1, 2, 4]
    assert report.unreachable
    assert (report.published, report.failed) == (0, 12)
    assert all(
        OutboundMessage.objects.get(pk=row.pk).status == MessageStatus.PENDING for row in rows
    )


@pytest.mark.django_db(transaction=True)
def test_it_publishes_when_sqs_comes_back_during_the_retries(account, queues, sqs_down, settings):
    row = pending_row(account)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            sqs_back(settings)

    report = services.messages_publish_pending(sleep=sleep)
    assert sleeps == [1, 2]
    assert (report.published, report.unreachable) == (1, False)
    assert OutboundMessage.objects.get(pk=row.pk).status == MessageStatus.QUEUED
    assert [b["account"] for b in bodies_on(queues.main)] == [account.onlyfans_id]


@pytest.mark.django_db(transaction=True)
def test_it_publishes_the_highest_priority_first(account, queues):
    low = pending_row(account, priority=1)
    high = pending_row(account, priority=10)
    report = services.messages_publish_pending(limit=1, sleep=lambda _: None)
    assert report.published == 1
    assert OutboundMessage.objects.get(pk=high.pk).status == MessageStatus.QUEUED
    assert OutboundMessage.objects.get(pk=low.pk).status == MessageStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_it_rearms_an_account_whose_wake_up_went_missing(owner, account, queues, settings):
    """A wake-up overdue by more than the grace was lost with SQS's contents: the account gets a
    new one, whatever its messages are (queued, or a dead consumer's claim)."""
    from tests.conftest import make_account

    now = timezone.now()
    pending_row(account, status=MessageStatus.QUEUED)
    orphan_account = make_account(owner)
    pending_row(
        orphan_account, status=MessageStatus.SENDING, claimed_until=now - timedelta(hours=1)
    )
    on_time = make_account(owner)
    pending_row(on_time, status=MessageStatus.QUEUED)
    grace = timedelta(seconds=settings.ONLYFANS_WAKE_GRACE_SECONDS)
    type(account).objects.filter(pk__in=[account.pk, orphan_account.pk]).update(
        wake_at=now - grace * 3
    )
    # Armed (its token) and on time; a wake-up without a token would be parked
    # (wakeups.wake_park).
    type(account).objects.filter(pk=on_time.pk).update(wake_at=now, wake_token=uuid.uuid4())

    report = services.messages_publish_pending(sleep=lambda _: None)

    assert (report.published, report.rearmed) == (0, 2)
    bodies = bodies_on(queues.main)
    assert sorted(b["account"] for b in bodies) == sorted(
        [account.onlyfans_id, orphan_account.onlyfans_id]
    )
    account.refresh_from_db()
    assert str(account.wake_token) == next(
        b["token"] for b in bodies if b["account"] == account.onlyfans_id
    )
    # Re-armed: not overdue any more, so the next run sends nothing.
    assert services.messages_publish_pending(sleep=lambda _: None).rearmed == 0


@pytest.mark.django_db(transaction=True)
def test_it_leaves_accounts_whose_wake_up_sqs_refused_pending_for_the_next_run(
    owner, account, queues
):
    from tests.conftest import make_account

    other = make_account(owner)
    refused_rows = [pending_row(account) for _ in range(2)]
    pending_row(other)
    real = sqs.send_wakeups

    def refuse_one(entries, **kwargs):
        entries = list(entries)
        results = real([e for e in entries if e[0] != account.onlyfans_id], **kwargs)
        return {
            **results,
            **{e[1]: "InternalError: try again" for e in entries if e[0] == account.onlyfans_id},
        }

    with mock.patch.object(sqs, "send_wakeups", side_effect=refuse_one):
        report = services.messages_publish_pending(sleep=lambda _: None)
    assert (report.published, report.failed, report.unreachable) == (1, 2, False)
    assert any("InternalError" in error for error in report.errors)
    assert all(
        OutboundMessage.objects.get(pk=r.pk).status == MessageStatus.PENDING for r in refused_rows
    )
    assert services.messages_publish_pending(sleep=lambda _: None).published == 2


@pytest.mark.django_db(transaction=True)
def test_it_reports_progress(account, queues):
    for _ in range(23):
        pending_row(account)
    seen: list[tuple[int, int]] = []
    report = services.messages_publish_pending(
        sleep=lambda _: None, progress=lambda d, t: seen.append((d, t))
    )
    assert report.published == 23
    assert seen == [(23, 23)]


# --- A wake-up that never reached SQS keeps its moment ------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_held_bulk_messages_released_during_an_outage_are_armed_by_the_relay(
    account, queues, sqs_down, settings
):
    """Bulk rows are written `queued`, so no `pending` row speaks for them: the account's
    wake-up, not sent, must stay in the database for the relay (a cleared one strands them)."""
    ids = bulk.messages_enqueue_bulk(
        user=account.owner,
        account=account,
        recipient_ids=["fan_1", "fan_2"],
        content="hi",
        held=True,
    )
    released = bulk.messages_release(OutboundMessage.objects.filter(pk__in=ids), account=account)
    assert released == 2
    account.refresh_from_db()
    assert account.wake_at is not None and account.wake_token is None

    sqs_back(settings)
    services.messages_publish_pending(sleep=lambda _: None)
    assert [(b["kind"], b["account"]) for b in bodies_on(queues.main)] == [
        ("wake", account.onlyfans_id)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_parked_scheduled_send_outlives_a_failed_wake_up_of_a_cancelled_message(
    api, account, queues, sqs_down, settings
):
    """A far-future message parks the account's wake-up in the database. A send during an SQS
    outage moves that wake-up to now and fails to send it; once that message is cancelled, the
    scheduled one still has its wake-up (the relay sends it), not none at all."""
    sqs_back(settings)
    later = (timezone.now() + timedelta(days=2)).isoformat()
    scheduled = post_json(api, SEND, {**SEED_BODY, "scheduledAt": later}).json()["messageId"]
    settings.SQS_ENDPOINT_URL = "http://127.0.0.1:9"
    sqs.clear_caches()
    now_id = post_json(api, SEND, SEED_BODY).json()["messageId"]
    assert api.post(f"/api/onlyfans/messages/{now_id}/cancel").status_code == 200
    account.refresh_from_db()
    assert account.wake_at is not None

    sqs_back(settings)
    services.messages_publish_pending(sleep=lambda _: None)
    assert [(b["kind"], b["account"]) for b in bodies_on(queues.main)] == [
        ("wake", account.onlyfans_id)
    ]
    assert OutboundMessage.objects.get(pk=scheduled).status == MessageStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_one_relay_at_a_time(account, queues):
    """A second relay run while one is under way (beat on two hosts, a slow run) does nothing: it
    would arm a second wake-up for every account it touches."""
    from django_redis import get_redis_connection

    from onlyfans import relay

    row = pending_row(account)
    with relay.relay_lock() as first:
        assert first
        report = services.messages_publish_pending(sleep=lambda _: None)
        assert report.skipped and report.published == 0
        assert OutboundMessage.objects.get(pk=row.pk).status == MessageStatus.PENDING
        assert bodies_on(queues.main) == []
    assert get_redis_connection("default").get(relay.RELAY_LOCK_KEY) is None  # released
    report = services.messages_publish_pending(sleep=lambda _: None)
    assert (report.skipped, report.published) == (False, 1)


@pytest.mark.django_db(transaction=True)
def test_the_relay_runs_unlocked_when_redis_is_down(account, queues, settings):
    from tests.support.servers import free_port

    pending_row(account)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    report = services.messages_publish_pending(sleep=lambda _: None)
    assert (report.skipped, report.published) == (False, 1)
