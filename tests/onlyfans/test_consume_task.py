"""The Celery-driven consumer: never two consume tasks at once on a worker, no idle tight loop."""

from __future__ import annotations

import socket

import pytest
from django_redis import get_redis_connection

from onlyfans import sqs, tasks
from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.services import MessageInput, message_send

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tick_on_a_busy_worker_returns_at_once(owner, account, queues, gateway):
    message = message_send(user=owner, account=account, data=MessageInput("fan_1", "hi")).message
    # Another consume task holds this worker's lease (an eager task runs as the local host).
    get_redis_connection("default").set(
        tasks._consume_lock_key(socket.gethostname()), "1", px=60_000
    )

    result = tasks.consume_messages.apply(kwargs={"seconds": 5}).get()

    assert "skipped" in result
    assert gateway.calls == []
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.QUEUED


def test_the_task_releases_its_worker_lease_and_delivers(owner, account, queues, gateway):
    message_send(user=owner, account=account, data=MessageInput("fan_1", "hi"))

    result = tasks.consume_messages.apply(kwargs={"seconds": 2}).get()

    assert result["sent"] == 1
    assert (
        get_redis_connection("default").get(tasks._consume_lock_key(socket.gethostname())) is None
    )


def test_an_idle_task_long_polls_instead_of_spinning(queues, settings):
    """Nothing to do for 3 s: at most a couple of receives (no 0-second polls at the end)."""
    calls = []
    client = sqs.sqs()
    client.meta.events.register("before-call.sqs.ReceiveMessage", lambda **kw: calls.append(1))
    try:
        tasks.consume_messages.apply(kwargs={"seconds": 3}).get()
    finally:
        client.meta.events.unregister("before-call.sqs.ReceiveMessage")
    assert 1 <= len(calls) <= 2
