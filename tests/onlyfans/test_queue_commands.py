"""The operator commands: setup_queues, queue_status and publish_pending, against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from io import StringIO

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from onlyfans import sqs
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account, make_user
from tests.settings import MOTO
from tests.support.delivery import bodies_on, pending_row
from tests.support.servers import free_port


def run(name: str, *args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def sqs_client():
    return boto3.client("sqs", endpoint_url=MOTO.url, region_name="us-east-1")


def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"q-cmd-{suffix}", f"dlq-cmd-{suffix}"


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("setup_queues", ["--queue-name", "--dlq-name"]),
        ("queue_status", ["--json"]),
        ("publish_pending", ["--limit"]),
    ],
)
def test_it_documents_each_command_in_help(command, flags):
    parser = load_command_class("onlyfans", command).create_parser("manage.py", command)
    text = parser.format_help()
    for flag in flags:
        assert flag in text
    assert len(parser.description or "") > 60


# --- setup_queues -------------------------------------------------------------------------------
def test_it_creates_the_queue_and_dlq_with_a_redrive_policy(settings):
    queue_name, dlq_name = names()
    out, _ = run("setup_queues", "--queue-name", queue_name, "--dlq-name", dlq_name)
    client = sqs_client()
    main_url = client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    dlq_url = client.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    assert main_url in out and dlq_url in out
    assert f"maxReceiveCount={settings.SQS_MAX_RECEIVE_COUNT}" in out
    assert f"SQS_RATE_LIMITER_QUEUE_URL={main_url}" in out
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    attributes = client.get_queue_attributes(QueueUrl=main_url, AttributeNames=["All"])[
        "Attributes"
    ]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == dlq_arn
    assert int(policy["maxReceiveCount"]) == settings.SQS_MAX_RECEIVE_COUNT
    assert attributes["VisibilityTimeout"] == str(settings.SQS_VISIBILITY_TIMEOUT)


def test_it_moves_a_message_to_the_dlq_after_max_receive_count(settings):
    settings.SQS_MAX_RECEIVE_COUNT = 2
    settings.SQS_VISIBILITY_TIMEOUT = 1
    queue_name, dlq_name = names()
    run("setup_queues", "--queue-name", queue_name, "--dlq-name", dlq_name)
    client = sqs_client()
    main_url = client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    dlq_url = client.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    client.send_message(QueueUrl=main_url, MessageBody="poison")
    for _ in range(2):
        received = client.receive_message(QueueUrl=main_url, VisibilityTimeout=0)["Messages"]
        assert received
    assert client.receive_message(QueueUrl=main_url, VisibilityTimeout=0).get("Messages") is None
    assert client.receive_message(QueueUrl=dlq_url)["Messages"][0]["Body"] == "poison"


def test_it_is_idempotent(settings):
    queue_name, dlq_name = names()
    first, _ = run("setup_queues", "--queue-name", queue_name, "--dlq-name", dlq_name)
    sqs_client().send_message(
        QueueUrl=sqs_client().get_queue_url(QueueName=queue_name)["QueueUrl"], MessageBody="kept"
    )
    second, _ = run("setup_queues", "--queue-name", queue_name, "--dlq-name", dlq_name)
    assert first == second
    url = sqs_client().get_queue_url(QueueName=queue_name)["QueueUrl"]
    assert sqs_client().receive_message(QueueUrl=url)["Messages"][0]["Body"] == "kept"


def test_it_updates_existing_queues_whose_settings_changed(settings):
    queue_name, dlq_name = names()
    run("setup_queues", "--queue-name", queue_name, "--dlq-name", dlq_name)
    settings.SQS_VISIBILITY_TIMEOUT = 120
    settings.SQS_MAX_RECEIVE_COUNT = 7
    out, _ = run("setup_queues", "--queue-name", queue_name, "--dlq-name", dlq_name)
    assert "maxReceiveCount=7" in out
    url = sqs_client().get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs_client().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "120"
    assert int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"]) == 7


def test_it_uses_the_configured_names_by_default(settings):
    queue_name, dlq_name = names()
    settings.SQS_QUEUE_NAME, settings.SQS_DLQ_NAME = queue_name, dlq_name
    command = load_command_class("onlyfans", "setup_queues")
    options = command.create_parser("manage.py", "setup_queues").parse_args([])
    assert (options.queue_name, options.dlq_name) == (queue_name, dlq_name)


def test_it_refuses_one_name_for_both_queues():
    with pytest.raises(CommandError, match="different names"):
        run("setup_queues", "--queue-name", "same", "--dlq-name", "same")


def test_it_fails_clearly_when_sqs_is_unreachable(settings):
    settings.SQS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    sqs.clear_caches()
    with pytest.raises(CommandError, match="Could not create the queues") as caught:
        run("setup_queues", "--queue-name", "a", "--dlq-name", "b")
    assert settings.SQS_ENDPOINT_URL in str(caught.value)


def test_it_exits_non_zero_from_the_command_line_when_sqs_is_unreachable():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "huntaze.settings",
        "SQS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "setup_queues", "--queue-name", "a", "--dlq-name", "b"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "CommandError: Could not create the queues" in result.stderr
    assert "Traceback" not in result.stderr


# --- queue_status -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_prints_the_status_endpoints_data_as_json(queues, api):
    out, _ = run("queue_status", "--json")
    data = json.loads(out)
    assert set(data) == {"queue", "processing", "health", "timestamp"}
    api_body = api.get("/api/onlyfans/messages/status").json()
    for key in ("queue", "health"):
        assert data[key] == api_body[key]
    assert set(data["processing"]) == set(api_body["processing"])


@pytest.mark.django_db
def test_it_covers_every_accounts_backlog(queues):
    slow = make_account(make_user())
    fast = make_account(make_user(), rate_limit_per_minute=20)
    for _ in range(10):
        pending_row(slow, status=MessageStatus.QUEUED)
        pending_row(fast, status=MessageStatus.QUEUED)
    data = json.loads(run("queue_status", "--json")[0])
    # Ten replies fit in one window: they go out the minimum gap apart (3 s, stretched by the
    # guard).
    expected = 9 * 3 * 1.03
    assert expected <= data["processing"]["estimatedTimeSeconds"] <= expected + 1
    assert data["processing"]["rateLimit"] == "10 messages/minute / 20 messages/minute"


@pytest.mark.django_db
def test_it_prints_a_readable_table_by_default(queues):
    sqs_client().send_message(QueueUrl=queues.main, MessageBody="{}")
    sqs_client().send_message(QueueUrl=queues.dlq, MessageBody="{}")
    out, _ = run("queue_status")
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    assert "Queue depth" in lines and lines["Queue depth"].split()[-1] == "1"
    assert lines["Dead-letter queue"].split()[-1] == "1"
    assert "degraded" in lines["Health"]
    assert "never" in lines["Last processed at"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


@pytest.mark.django_db
def test_it_fails_clearly_when_the_queue_is_unreachable(sqs_down):
    with pytest.raises(CommandError, match="queue cannot be reached"):
        run("queue_status")


# --- publish_pending ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_publishes_pending_messages(queues):
    account = make_account(make_user())
    other = make_account(make_user())
    for _ in range(12):
        pending_row(account)
    pending_row(other)
    out, err = run("publish_pending", sleep=lambda _: None)
    assert "Published: 13; failed (still pending): 0" in out
    assert "13/13" in out
    assert err == ""
    # One wake-up per account, not a copy per message.
    bodies = bodies_on(queues.main)
    assert sorted(b["account"] for b in bodies) == sorted([account.onlyfans_id, other.onlyfans_id])
    assert {b["kind"] for b in bodies} == {"wake"}
    assert OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count() == 13


@pytest.mark.django_db(transaction=True)
def test_it_publishes_at_most_the_limit(queues):
    account = make_account(make_user())
    for _ in range(3):
        pending_row(account)
    out, _ = run("publish_pending", "--limit", "2", sleep=lambda _: None)
    assert "Published: 2;" in out
    assert OutboundMessage.objects.filter(status=MessageStatus.PENDING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_says_when_there_is_nothing_to_publish(queues):
    out, _ = run("publish_pending", sleep=lambda _: None)
    assert "Nothing to publish" in out


@pytest.mark.django_db(transaction=True)
def test_it_exits_1_when_sqs_stays_unreachable(sqs_down):
    account = make_account(make_user())
    rows = [pending_row(account) for _ in range(2)]
    sleeps: list[float] = []
    with pytest.raises(CommandError, match="SQS stayed unreachable") as caught:
        run("publish_pending", sleep=sleeps.append)
    assert caught.value.returncode == 1
    assert "failed (still pending): 2" in str(caught.value)
    assert sleeps == [1, 2, 4]
    assert all(OutboundMessage.objects.get(pk=r.pk).status == MessageStatus.PENDING for r in rows)


@pytest.mark.django_db
def test_it_refuses_a_limit_below_one():
    with pytest.raises(CommandError, match="--limit"):
        run("publish_pending", "--limit", "0")
