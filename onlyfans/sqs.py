"""SQS, the pipeline's transport. The database is the record; the main queue carries per-account
wake-ups ("look at OnlyFans account A"), the DLQ copies of dead-lettered messages.

A wake-up body is `{"v": 2, "kind": "wake", "account": "<OnlyFans account id>", "token": "…"}`.
A first-version body (`{"messageId": …, "accountId": …}`) still in flight after an upgrade is read
as a wake-up of that message's account.

Every call here can raise `QueueUnavailable`; callers decide whether that is fatal.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from huntaze.core.ids import parse_uuid

logger = logging.getLogger(__name__)

SQS_MAX_BATCH = 10
SQS_MAX_DELAY_SECONDS = 900


class QueueUnavailable(Exception):
    """SQS could not be reached or refused the call."""


@dataclass(frozen=True)
class QueuedMessage:
    """One message received from SQS."""

    receipt_handle: str
    message_id: str  # first-version bodies and DLQ copies
    account_id: int | None
    receive_count: int
    raw_body: str
    onlyfans_id: str = ""  # a wake-up's OnlyFans account
    wake_token: uuid.UUID | None = None


@dataclass(frozen=True)
class QueueAttributes:
    depth: int
    in_flight: int
    delayed: int
    dlq_count: int


def _client(timeout: float | None) -> Any:
    config = Config(
        region_name=settings.AWS_REGION,
        connect_timeout=timeout or 5,
        # A long poll must be allowed to last its 20 seconds.
        read_timeout=timeout or 30,
        retries={"total_max_attempts": 1 if timeout else 3, "mode": "standard"},
    )
    return boto3.client("sqs", endpoint_url=settings.SQS_ENDPOINT_URL, config=config)


@lru_cache(maxsize=8)
def _cached_client(timeout: float | None, endpoint: str | None, region: str) -> Any:
    return _client(timeout)


def sqs(timeout: float | None = None) -> Any:
    """A client; `timeout` bounds a call for callers that must answer fast (API requests)."""
    return _cached_client(timeout, settings.SQS_ENDPOINT_URL, settings.AWS_REGION)


def _call(operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise QueueUnavailable(f"SQS {operation} failed: {exc}") from exc


@lru_cache(maxsize=16)
def _resolve_url(name: str, endpoint: str | None) -> str:
    # Resolved on an API request's path too: bounded like the request's own SQS call.
    response = _call("GetQueueUrl", sqs(settings.SQS_REQUEST_TIMEOUT).get_queue_url, QueueName=name)
    return response["QueueUrl"]


def main_queue_url() -> str:
    return settings.SQS_RATE_LIMITER_QUEUE_URL or _resolve_url(
        settings.SQS_QUEUE_NAME, settings.SQS_ENDPOINT_URL
    )


def dlq_url() -> str:
    return settings.SQS_RATE_LIMITER_DLQ_URL or _resolve_url(
        settings.SQS_DLQ_NAME, settings.SQS_ENDPOINT_URL
    )


def clear_caches() -> None:
    """Forget clients, resolved URLs and recent attributes (settings changed: tests, a
    reconfigured process)."""
    _cached_client.cache_clear()
    _resolve_url.cache_clear()
    _recent_attributes.clear()


def encode_body(message_id: str, account_id: int) -> str:
    """A message's copy on the DLQ (and the first version's main-queue body)."""
    return json.dumps({"messageId": message_id, "accountId": account_id, "v": 1})


def encode_wake(onlyfans_id: str, token: uuid.UUID) -> str:
    return json.dumps({"v": 2, "kind": "wake", "account": onlyfans_id, "token": str(token)})


def send_wakeups(
    entries: Iterable[tuple[str, uuid.UUID, float]], *, timeout: float | None = None
) -> dict[uuid.UUID, str | None]:
    """Send (OnlyFans account, token, delay seconds) wake-ups in batches of ten; delays are capped
    at SQS' 15 minutes (the consumer that receives one early looks again). Returns each token
    mapped to None (sent) or the reason it was not; raises QueueUnavailable only when SQS could
    not be reached at all."""
    entries = list(entries)
    results: dict[uuid.UUID, str | None] = {}
    if not entries:
        return results
    client = sqs(timeout)
    url = main_queue_url()
    for start in range(0, len(entries), SQS_MAX_BATCH):
        chunk = entries[start : start + SQS_MAX_BATCH]
        response = _call(
            "SendMessageBatch",
            client.send_message_batch,
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": encode_wake(onlyfans_id, token),
                    "DelaySeconds": min(max(int(delay), 0), SQS_MAX_DELAY_SECONDS),
                }
                for index, (onlyfans_id, token, delay) in enumerate(chunk)
            ],
        )
        for ok in response.get("Successful", []):
            results[chunk[int(ok["Id"])][1]] = None
        for failed in response.get("Failed", []):
            reason = f"{failed.get('Code', 'Error')}: {failed.get('Message', 'SQS refused it')}"
            results[chunk[int(failed["Id"])][1]] = reason
    for _, token, _ in entries:
        results.setdefault(token, "SQS did not answer for this entry.")
    return results


def delete_batch(receipt_handles: list[str]) -> None:
    for start in range(0, len(receipt_handles), SQS_MAX_BATCH):
        chunk = receipt_handles[start : start + SQS_MAX_BATCH]
        _call(
            "DeleteMessageBatch",
            sqs().delete_message_batch,
            QueueUrl=main_queue_url(),
            Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)],
        )


def send_to_dlq(message_id: str, account_id: int, *, reason: str) -> None:
    _call(
        "SendMessage",
        sqs().send_message,
        QueueUrl=dlq_url(),
        MessageBody=encode_body(message_id, account_id),
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000] or "-"}},
    )


def _parse(raw: dict[str, Any]) -> QueuedMessage:
    message_id, account_id, onlyfans_id, token = "", None, "", None
    try:
        body = json.loads(raw.get("Body", ""))
        message_id = str(body.get("messageId", ""))
        account_id = int(body["accountId"]) if body.get("accountId") is not None else None
        if body.get("kind") == "wake":
            onlyfans_id = str(body.get("account", ""))
            token = parse_uuid(body["token"]) if body.get("token") else None
    except (ValueError, TypeError, AttributeError, KeyError):
        pass
    return QueuedMessage(
        receipt_handle=raw["ReceiptHandle"],
        message_id=message_id,
        account_id=account_id,
        receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
        raw_body=raw.get("Body", ""),
        onlyfans_id=onlyfans_id,
        wake_token=token,
    )


def receive(
    *,
    max_messages: int = 10,
    wait_seconds: int = 0,
    queue_url: str | None = None,
    visibility_timeout: int | None = None,
) -> list[QueuedMessage]:
    extra = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
    response = _call(
        "ReceiveMessage",
        sqs().receive_message,
        QueueUrl=queue_url or main_queue_url(),
        MaxNumberOfMessages=min(max(max_messages, 1), SQS_MAX_BATCH),
        WaitTimeSeconds=min(max(wait_seconds, 0), 20),
        AttributeNames=["ApproximateReceiveCount"],
        MessageAttributeNames=["All"],
        **extra,
    )
    return [_parse(raw) for raw in response.get("Messages", [])]


def delete(receipt_handle: str, *, queue_url: str | None = None) -> None:
    _call(
        "DeleteMessage",
        sqs().delete_message,
        QueueUrl=queue_url or main_queue_url(),
        ReceiptHandle=receipt_handle,
    )


def set_visibility(receipt_handle: str, seconds: int, *, queue_url: str | None = None) -> None:
    _call(
        "ChangeMessageVisibility",
        sqs().change_message_visibility,
        QueueUrl=queue_url or main_queue_url(),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=min(max(int(seconds), 0), 43200),
    )


def _int_attribute(attributes: dict[str, str], name: str) -> int:
    return int(attributes.get(name, "0") or 0)


def attributes(*, timeout: float | None = None) -> QueueAttributes:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    client = sqs(timeout)
    main = _call(
        "GetQueueAttributes",
        client.get_queue_attributes,
        QueueUrl=main_queue_url(),
        AttributeNames=names,
    )
    dlq = _call(
        "GetQueueAttributes",
        client.get_queue_attributes,
        QueueUrl=dlq_url(),
        AttributeNames=["ApproximateNumberOfMessages"],
    )
    main_attrs, dlq_attrs = main.get("Attributes", {}), dlq.get("Attributes", {})
    return QueueAttributes(
        depth=_int_attribute(main_attrs, "ApproximateNumberOfMessages"),
        in_flight=_int_attribute(main_attrs, "ApproximateNumberOfMessagesNotVisible"),
        delayed=_int_attribute(main_attrs, "ApproximateNumberOfMessagesDelayed"),
        dlq_count=_int_attribute(dlq_attrs, "ApproximateNumberOfMessages"),
    )


# (monotonic time, queue URLs, attributes) of the last successful read, per process.
_recent_attributes: list[tuple[float, tuple[str, str], QueueAttributes]] = []
_attributes_lock = threading.Lock()


def attributes_recent(*, max_age: float, timeout: float | None = None) -> QueueAttributes:
    """`attributes`, reused for `max_age` seconds (GET /status polls it: two GetQueueAttributes
    per request otherwise). Only a successful read is kept: SQS unreachable still raises."""
    urls = (main_queue_url(), dlq_url())
    now = time.monotonic()
    with _attributes_lock:
        if (
            _recent_attributes
            and _recent_attributes[0][1] == urls
            and now - _recent_attributes[0][0] < max_age
        ):
            return _recent_attributes[0][2]
    fresh = attributes(timeout=timeout)
    with _attributes_lock:
        _recent_attributes[:] = [(now, urls, fresh)]
    return fresh


_QUEUE_EXISTS_CODES = {
    "QueueAlreadyExists",
    "QueueNameExists",
    "AWS.SimpleQueueService.QueueNameExists",
}


def _create_or_update_queue(client: Any, name: str, queue_attributes: dict[str, str]) -> str:
    """CreateQueue refuses an existing queue whose attributes differ (a changed
    SQS_VISIBILITY_TIMEOUT, say); then update that queue instead, so that setup stays idempotent."""
    try:
        return client.create_queue(QueueName=name, Attributes=queue_attributes)["QueueUrl"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _QUEUE_EXISTS_CODES:
            raise
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    client.set_queue_attributes(QueueUrl=url, Attributes=queue_attributes)
    return url


def create_queues(*, queue_name: str, dlq_name: str) -> tuple[str, str]:
    """Create the DLQ, then the main queue with a redrive policy pointing at it (idempotent)."""
    client = sqs()
    dlq = _call(
        "CreateQueue",
        _create_or_update_queue,
        client=client,
        name=dlq_name,
        queue_attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)},
    )
    dlq_arn = _call(
        "GetQueueAttributes", client.get_queue_attributes, QueueUrl=dlq, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.SQS_MAX_RECEIVE_COUNT)}
    )
    main = _call(
        "CreateQueue",
        _create_or_update_queue,
        client=client,
        name=queue_name,
        queue_attributes={
            "VisibilityTimeout": str(settings.SQS_VISIBILITY_TIMEOUT),
            "MessageRetentionPeriod": str(4 * 24 * 3600),
            "ReceiveMessageWaitTimeSeconds": "0",
        },
    )
    _call(
        "SetQueueAttributes",
        client.set_queue_attributes,
        QueueUrl=main,
        Attributes={
            "RedrivePolicy": redrive,
            "VisibilityTimeout": str(settings.SQS_VISIBILITY_TIMEOUT),
        },
    )
    return main, dlq


def redrive_policy(url: str) -> dict[str, Any]:
    """The queue's redrive policy as SQS reports it ({} when it has none)."""
    response = _call(
        "GetQueueAttributes",
        sqs().get_queue_attributes,
        QueueUrl=url,
        AttributeNames=["RedrivePolicy"],
    )
    raw = response.get("Attributes", {}).get("RedrivePolicy")
    return json.loads(raw) if raw else {}
