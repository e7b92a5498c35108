"""CloudWatch: OnlyFansMessagesQueued in CLOUDWATCH_NAMESPACE, and a metrics failure never fails
a send."""

from __future__ import annotations

import logging
from datetime import timedelta
from unittest import mock

import boto3
import pytest
from django.utils import timezone

from onlyfans import metrics, services
from onlyfans.models import MessageStatus, OutboundMessage
from tests.settings import MOTO
from tests.support.api import SEED_BODY, SEND, post_json
from tests.support.servers import free_port

BATCH = "/api/onlyfans/messages/batch"


def cloudwatch():
    return boto3.client("cloudwatch", endpoint_url=MOTO.url, region_name="us-east-1")


def queued_total(namespace: str, account_id: int) -> float:
    now = timezone.now()
    stats = cloudwatch().get_metric_statistics(
        Namespace=namespace,
        MetricName=metrics.QUEUED,
        Dimensions=[{"Name": "AccountId", "Value": str(account_id)}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in stats["Datapoints"])


@pytest.mark.django_db(transaction=True)
def test_it_puts_the_queued_metric_in_the_configured_namespace(api, account, queues, namespace):
    assert post_json(api, SEND, SEED_BODY).status_code == 202
    listed = cloudwatch().list_metrics(Namespace=namespace)["Metrics"]
    assert [m["MetricName"] for m in listed] == ["OnlyFansMessagesQueued"]
    assert listed[0]["Dimensions"] == [{"Name": "AccountId", "Value": str(account.pk)}]
    assert queued_total(namespace, account.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_it_counts_every_message_of_a_batch(api, account, queues, namespace):
    assert post_json(api, BATCH, {"messages": [SEED_BODY] * 4}).status_code == 202
    assert queued_total(namespace, account.pk) == 4


@pytest.mark.django_db(transaction=True)
def test_it_sends_one_cloudwatch_request_for_a_batch(api, account, queues, namespace):
    with mock.patch.object(metrics, "_put", wraps=metrics._put) as put:
        post_json(api, BATCH, {"messages": [SEED_BODY] * 10})
    assert put.call_count == 1


@pytest.mark.django_db(transaction=True)
def test_it_puts_no_metric_for_a_message_left_pending(api, account, sqs_down, namespace):
    assert post_json(api, SEND, SEED_BODY).json()["status"] == "pending"
    assert cloudwatch().list_metrics(Namespace=namespace)["Metrics"] == []


@pytest.mark.django_db(transaction=True)
def test_it_counts_a_message_when_the_relay_queues_it(account, queues, namespace):
    OutboundMessage.objects.create(
        account=account,
        sender=account.owner,
        recipient_id="f",
        content="c",
        status=MessageStatus.PENDING,
    )
    services.messages_publish_pending(sleep=lambda _: None)
    assert queued_total(namespace, account.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_it_still_sends_when_cloudwatch_is_unreachable(api, account, queues, settings, caplog):
    caplog.set_level(logging.WARNING, logger="onlyfans.metrics")
    settings.CLOUDWATCH_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    response = post_json(api, SEND, SEED_BODY)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    assert (
        OutboundMessage.objects.get(pk=response.json()["messageId"]).status == MessageStatus.QUEUED
    )
    assert any("CloudWatch metrics could not be sent" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_it_still_sends_when_cloudwatch_raises_anything(api, account, queues):
    with mock.patch.object(
        metrics, "_client", side_effect=RuntimeError("broken credentials chain")
    ):
        response = post_json(api, SEND, SEED_BODY)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_it_sends_nothing_when_disabled(settings):
    settings.CLOUDWATCH_ENABLED = False
    with mock.patch.object(metrics, "_put") as put:
        metrics.emit(metrics.QUEUED)
        metrics.flush()
    put.assert_not_called()


def test_it_leaves_cloudwatch_to_a_background_thread_when_async(settings, namespace):
    settings.CLOUDWATCH_ASYNC = True
    with mock.patch.object(metrics, "_ensure_worker"):
        metrics.emit(metrics.QUEUED, 3, AccountId="42")
        # Nothing has left the calling thread's hands yet …
        assert cloudwatch().list_metrics(Namespace=namespace)["Metrics"] == []
        metrics.flush()
    # … and the buffered datum is what reaches CloudWatch.
    assert queued_total(namespace, 42) == 3


def test_it_drops_data_rather_than_block_when_the_buffer_is_full(settings, caplog):
    settings.CLOUDWATCH_ASYNC = True
    caplog.set_level(logging.WARNING)
    with (
        mock.patch.object(metrics, "_ensure_worker"),
        mock.patch.object(metrics, "_pending") as pending,
    ):
        pending.put_nowait.side_effect = metrics.queue.Full
        metrics.emit(metrics.QUEUED)
    assert any("buffer full" in r.getMessage() for r in caplog.records)
