"""Celery entry points: thin wrappers over the services. Tasks take ids and plain values."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from onlyfans import services
from onlyfans.consumer import Consumer

if TYPE_CHECKING:
    from celery import Task

# Set when the worker starts a warm shutdown: a running consume task finishes the work in hand,
# hands its held wake-ups back to SQS and returns, instead of holding the shutdown.
worker_stopping = threading.Event()


@worker_shutting_down.connect
def _stop_consuming(**kwargs: Any) -> None:
    worker_stopping.set()


@shared_task(name="onlyfans.tasks.publish_pending", ignore_result=True)
def publish_pending() -> dict:
    report = services.messages_publish_pending()
    return {"published": report.published, "failed": report.failed, "rearmed": report.rearmed}


def _consume_lock_key(hostname: str) -> str:
    return f"{settings.TOKEN_BUCKET_KEY_PREFIX}:consume-task:{hostname}"


@shared_task(name="onlyfans.tasks.consume_messages", ignore_result=True, bind=True)
def consume_messages(self: Task, seconds: float | None = None) -> dict:
    """Consume for a bounded time with CONSUMER_CONCURRENCY threads. Beat starts one every few
    seconds; each worker runs at most one at a time (a Redis lease per worker host), so a tick
    that lands on a busy worker returns at once, and throughput grows with the number of workers."""
    seconds = seconds or settings.CONSUMER_TASK_SECONDS
    key = _consume_lock_key(self.request.hostname or "local")
    try:
        redis = get_redis_connection("default")
        if not redis.set(key, "1", nx=True, px=int((seconds + 30) * 1000)):
            return {"skipped": "another consume task runs on this worker"}
    except RedisError:
        return {"skipped": "Redis is unreachable"}
    try:
        consumer = Consumer(concurrency=settings.CONSUMER_CONCURRENCY, stop=worker_stopping)
        return consumer.run(seconds=seconds, wait_seconds=20).as_dict()
    finally:
        with contextlib.suppress(RedisError):  # the lease expires by itself
            redis.delete(key)
