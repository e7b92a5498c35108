"""Large imports as background jobs: the upload is checked and kept, a Celery task runs the
same `fans_import_csv` on it, and the ImportJob row shows its progress and result."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.imports.reader import ImportFileError, open_source
from crm.imports.services import fans_import_csv
from crm.models import ImportJob, ImportStatus
from huntaze.core.errors import NotFound
from huntaze.core.ids import parse_uuid
from huntaze.core.tasks import task_enqueue
from onlyfans.models import OnlyFansAccount

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

# A running import reports progress (heartbeat_at) at least every few seconds: after the scan
# pass and every PROGRESS_EVERY_ROWS rows. Silent this long, its worker is gone: the task was
# acknowledged when it started, so nothing will ever run it again.
IMPORT_STALE_AFTER = timedelta(minutes=10)


def import_runs_in_background(size: int) -> bool:
    return size > settings.IMPORT_ASYNC_MIN_BYTES


def import_job_create(
    *,
    account: OnlyFansAccount,
    file: IO[bytes],
    filename: str,
    dry_run: bool,
    created_by: User | None = None,
) -> ImportJob:
    """Check what can be checked at once (size, kind, encoding, header), keep the file, and
    queue the job once this transaction commits."""
    open_source(file, max_bytes=settings.IMPORT_MAX_BYTES)
    file.seek(0)
    job = ImportJob(
        id=uuid.uuid4(),
        account=account,
        created_by=created_by,
        filename=filename[:255],
        dry_run=dry_run,
    )
    job.upload.save(f"{job.id}.csv", file, save=False)  # type: ignore[arg-type]
    job.save()
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: uuid.UUID) -> None:
    try:
        task_enqueue("crm.tasks.run_import_job", str(job_id))
    except Exception:  # the broker is down: say so on the job, don't lose it silently
        logger.exception("Could not queue the import job", extra={"importJobId": str(job_id)})
        ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
            status=ImportStatus.FAILED,
            error="The job queue could not be reached; upload the file again.",
            report={"errorCode": "queue_unavailable"},
            finished_at=timezone.now(),
        )


def import_job_run(*, job_id: str) -> ImportJob | None:
    """Run a pending job once: the status update claims it, so a second delivery of the task
    does nothing. A fatal file problem fails the job and writes no fan."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if claimed != 1:
        logger.info("Import job not pending; skipped", extra={"importJobId": job_id})
        return None
    job = ImportJob.objects.select_related("account").get(pk=job_id)
    try:
        with job.upload.open("rb") as upload:
            job = fans_import_csv(account=job.account, file=upload, job=job)
    except ImportFileError as exc:
        _fail(job, exc.message, code=exc.code)
    except Exception as exc:
        logger.exception("Import job crashed", extra={"importJobId": job_id})
        if job.status != ImportStatus.FAILED:  # fans_import_csv records its own failures
            _fail(
                job,
                f"The import stopped unexpectedly ({type(exc).__name__}).",
                code="internal_error",
            )
    finally:
        if job.upload:
            job.upload.delete(save=False)
            ImportJob.objects.filter(pk=job.pk).update(upload="")
    return job


def _fail(job: ImportJob, message: str, *, code: str) -> None:
    job.status = ImportStatus.FAILED
    job.error = message
    job.report = {**(job.report or {}), "errorCode": code}
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "report", "finished_at"])


def import_job_fail_if_stale(job: ImportJob) -> ImportJob:
    """A running job silent for IMPORT_STALE_AFTER is failed. The update is conditional on
    the job still being silent, so a worker that reports meanwhile keeps its job."""
    if job.status != ImportStatus.RUNNING:
        return job
    cutoff = timezone.now() - IMPORT_STALE_AFTER
    failed = ImportJob.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff),
        pk=job.pk,
        status=ImportStatus.RUNNING,
    ).update(
        status=ImportStatus.FAILED,
        error=(
            f"The import stopped after {job.rows_processed:,} rows: its worker stopped "
            "responding. Fans imported so far are kept; upload the file again to finish."
        ),
        report={**(job.report or {}), "errorCode": "worker_lost"},
        finished_at=timezone.now(),
        upload="",
    )
    if failed:
        logger.warning(
            "Import job lost its worker; marked failed", extra={"importJobId": str(job.pk)}
        )
        if job.upload.name:
            job.upload.storage.delete(job.upload.name)
        job.refresh_from_db()
    return job


def import_job_for_user(*, user: User | AnonymousUser, job_id: str) -> ImportJob:
    """A job of one of the user's accounts; any other job, or a malformed id, is a 404."""
    key = parse_uuid(job_id)
    if key is None:
        raise NotFound("Import job not found.")
    try:
        # The views admit only signed-in users; request.user's type still includes AnonymousUser.
        mine = ImportJob.objects.filter(account__owner=user)  # type: ignore[misc]
        job = mine.select_related("account").get(pk=key)
    except ImportJob.DoesNotExist:
        raise NotFound("Import job not found.") from None
    return import_job_fail_if_stale(job)
