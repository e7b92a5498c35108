"""Queueing a Celery task from a service, by the task's registered name.

A task module imports the services it wraps (tasks → services); a service that queues a task
names it instead of importing it back, so that no import cycle forms between the two.
"""

from __future__ import annotations

from celery import current_app


def task_enqueue(name: str, *args: object) -> None:
    """Put one call of the task `name` (e.g. "crm.tasks.run_import_job") on the broker.
    Raises what the broker raises when it cannot be reached (kombu's OperationalError)."""
    current_app.send_task(name, args=list(args))
