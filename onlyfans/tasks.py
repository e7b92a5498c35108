"""Celery entry points: thin wrappers over the services. Tasks take ids and plain values."""

from __future__ import annotations

import threading

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings

from onlyfans import services
from onlyfans.consumer import Consumer

# Set when the worker starts a warm shutdown: a running consume task finishes the message in
# hand, releases the rest and returns, instead of holding the shutdown for its whole run.
worker_stopping = threading.Event()


@worker_shutting_down.connect
def _stop_consuming(**kwargs) -> None:
    worker_stopping.set()


@shared_task(name="onlyfans.tasks.publish_pending", ignore_result=True)
def publish_pending() -> dict:
    report = services.messages_publish_pending()
    return {"published": report.published, "failed": report.failed}


@shared_task(name="onlyfans.tasks.consume_messages", ignore_result=True)
def consume_messages(seconds: float | None = None) -> dict:
    """Drain the queue for a bounded time; beat schedules it, several workers may run it."""
    consumer = Consumer(stop=worker_stopping)
    report = consumer.run(seconds=seconds or settings.CONSUMER_TASK_SECONDS, wait_seconds=2)
    return report.as_dict()
