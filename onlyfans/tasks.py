"""Celery entry points: thin wrappers over the services. Tasks take ids and plain values."""

from __future__ import annotations

from celery import shared_task

from onlyfans import services


@shared_task(name="onlyfans.tasks.publish_pending", ignore_result=True)
def publish_pending() -> dict:
    report = services.messages_publish_pending()
    return {"published": report.published, "failed": report.failed}
