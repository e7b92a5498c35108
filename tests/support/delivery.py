"""The pipeline's delivery half as the tests drive it in-process: accept a message through the
service, run the consumer, read what is left on SQS."""

from __future__ import annotations

import json
import time

import boto3

from onlyfans import sqs
from onlyfans.consumer import Consumer
from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.services import MessageInput, message_send
from tests.settings import MOTO


def send(
    owner,
    account,
    content: str = "Hello! Thanks for subscribing",
    *,
    recipient_id: str = "fan_123",
    **fields,
) -> OutboundMessage:
    """One message accepted by `message_send` (fields: MessageInput's), read back from the
    database as the consumer will find it."""
    outcome = message_send(
        user=owner,
        account=account,
        data=MessageInput(recipient_id=recipient_id, content=content, **fields),
    )
    return OutboundMessage.objects.get(pk=outcome.message.pk)


def pending_row(account, **kwargs) -> OutboundMessage:
    """A message written straight to the database, as if SQS had been down when it was accepted."""
    fields = {"recipient_id": "fan_1", "content": "hi", "status": MessageStatus.PENDING, **kwargs}
    return OutboundMessage.objects.create(account=account, sender=account.owner, **fields)


def consume(**kwargs):
    """One consumer pass (once, a 1-s receive wait unless told otherwise); its report."""
    kwargs.setdefault("once", True)
    kwargs.setdefault("wait_seconds", 1)
    return Consumer().run(**kwargs)


def drain(condition, *, timeout: float = 30, **kwargs) -> None:
    """Run consumers (2 s each) until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        Consumer(**kwargs).run(seconds=2, wait_seconds=1)


def on_queue() -> int:
    """Copies on the main queue, visible, in flight or delayed."""
    attrs = sqs.attributes()
    return attrs.depth + attrs.in_flight + attrs.delayed


def bodies_on(url: str) -> list[dict]:
    """Every body on an SQS queue, received (and so hidden) until the queue answers none."""
    client = boto3.client("sqs", endpoint_url=MOTO.url, region_name="us-east-1")
    found = []
    while True:
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        found.extend(json.loads(m["Body"]) for m in messages)
