"""Delivery metrics in CloudWatch (moto), the Celery entry point, and lastProcessedAt."""

from __future__ import annotations

import boto3
import pytest
from django.conf import settings as django_settings

from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.status import queue_status_get
from onlyfans.tasks import consume_messages
from tests.support.delivery import send

pytestmark = pytest.mark.django_db(transaction=True)


def metric_names(namespace: str) -> set[str]:
    client = boto3.client(
        "cloudwatch", endpoint_url=django_settings.CLOUDWATCH_ENDPOINT_URL, region_name="us-east-1"
    )
    return {m["MetricName"] for m in client.list_metrics(Namespace=namespace)["Metrics"]}


def test_the_celery_task_delivers_and_reports(owner, account, queues, gateway, namespace):
    message = send(owner, account)

    result = consume_messages.apply(kwargs={"seconds": 2}).get()

    assert result["sent"] == 1
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT
    assert {"OnlyFansMessagesSent", "OnlyFansDeliveryLatency"} <= metric_names(namespace)


def test_it_puts_failed_dead_lettered_and_deferred_metrics(
    owner, queues, gateway, namespace, settings
):
    from onlyfans import limiter
    from onlyfans.consumer import Consumer
    from tests.conftest import make_account

    account = make_account(owner, rate_limit_per_minute=600)  # slots 0.1 s apart
    settings.ONLYFANS_MIN_GAP_SECONDS = 0.05
    settings.ONLYFANS_MAX_ATTEMPTS = 1
    gateway.respond_next(400)  # a: failed
    gateway.respond_next(503)  # b: dead-lettered after its only attempt
    for content in ("a", "b"):
        send(owner, account, content)
        Consumer().run(seconds=1.5, wait_seconds=1)
    send(owner, account, "c")  # c: deferred (another host takes the slot first)
    limiter.push_back(account.onlyfans_id, limit=600, seconds=60)
    Consumer().run(once=True, wait_seconds=1)

    statuses = dict(OutboundMessage.objects.values_list("content", "status"))
    assert statuses == {"a": "failed", "b": "dead_lettered", "c": "queued"}
    assert {
        "OnlyFansMessagesFailed",
        "OnlyFansMessagesDeadLettered",
        "OnlyFansMessagesDeferred",
    } <= metric_names(namespace)


def test_status_reports_the_real_last_processed_time(owner, account, queues, gateway):
    assert queue_status_get(user=owner).last_processed_at is None
    send(owner, account)
    consume_messages.apply(kwargs={"seconds": 2})

    status = queue_status_get(user=owner)

    attempt_time = OutboundMessage.objects.get().attempts.get().attempted_at
    assert status.last_processed_at == attempt_time


def test_last_processed_is_the_users_own_on_a_shared_onlyfans_account(
    owner, account, queues, gateway
):
    """Two users sharing one OnlyFans account share its slots, not what each other sent: one
    user's delivery does not show as the other's lastProcessedAt."""
    from onlyfans.models import OnlyFansAccount
    from tests.conftest import make_user

    other = make_user("sharer")
    OnlyFansAccount.objects.create(owner=other, onlyfans_id=account.onlyfans_id, username="shared")
    send(owner, account)
    consume_messages.apply(kwargs={"seconds": 2})

    attempt_time = OutboundMessage.objects.get().attempts.get().attempted_at
    assert queue_status_get(user=owner).last_processed_at == attempt_time
    assert queue_status_get(user=other).last_processed_at is None


def test_the_beat_schedule_alone_delivers_a_message_left_pending(
    owner, account, queues, gateway, settings
):
    """In production nothing but beat runs the relay and the consumer: running what it schedules,
    as it schedules it (task name and arguments), publishes a message the API could not hand to
    SQS and delivers it. Two rounds, since beat promises no order between its entries."""
    from huntaze.celery import app as celery_app

    # What a worker does at start: autodiscover the tasks.
    celery_app.loader.import_default_modules()
    settings.CONSUMER_TASK_SECONDS = 2
    message = OutboundMessage.objects.create(
        account=account,
        sender=owner,
        recipient_id="fan_1",
        content="hi",
        status=MessageStatus.PENDING,
    )

    for _ in range(2):
        for entry in celery_app.conf.beat_schedule.values():
            task = celery_app.tasks[entry["task"]]  # KeyError: beat names a task nobody registered
            task.apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {})).get()

    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT
    assert len(gateway.calls) == 1


def test_the_consume_task_stops_taking_work_when_the_worker_shuts_down(
    owner, account, queues, gateway
):
    from celery.signals import worker_shutting_down

    from onlyfans import tasks

    message = send(owner, account)
    try:
        worker_shutting_down.send(sender="test", sig="SIGTERM", how="Warm", exitcode=0)
        result = consume_messages.apply(kwargs={"seconds": 5}).get()
    finally:
        tasks.worker_stopping.clear()

    assert result["received"] == 0
    assert gateway.calls == []
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.QUEUED
