"""An import job whose worker died mid-run (killed, OOM, host lost) must not show `running`
forever: the task was acknowledged when it started, so nothing will ever run it again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from crm.imports import import_job_run
from crm.imports.jobs import IMPORT_STALE_AFTER
from crm.models import ImportJob, ImportStatus

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "fans-sample.csv"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_ASYNC_MIN_BYTES = 10


def queued_job(api) -> ImportJob:
    upload = SimpleUploadedFile("big.csv", SAMPLE.read_bytes(), content_type="text/csv")
    response = api.post("/api/onlyfans/import/csv", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    return ImportJob.objects.get(pk=response.json()["jobId"])


def worker_died(job: ImportJob, *, silent_for: timedelta) -> None:
    """What a worker leaves behind when it is killed after claiming the job."""
    then = timezone.now() - silent_for
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=then, heartbeat_at=then
    )


def test_it_fails_a_running_job_whose_worker_stopped_reporting(api, account):
    job = queued_job(api)
    worker_died(job, silent_for=IMPORT_STALE_AFTER + timedelta(seconds=1))

    report = api.get(f"/api/onlyfans/import/{job.pk}").json()
    assert report["status"] == "failed"
    assert report["error"]["code"] == "worker_lost"
    assert report["finishedAt"] is not None
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and not job.upload
    # A late redelivery of the task does not resurrect it.
    assert import_job_run(job_id=str(job.pk)) is None


def test_it_leaves_a_running_job_alone_while_its_worker_reports(api, account):
    job = queued_job(api)
    worker_died(job, silent_for=IMPORT_STALE_AFTER - timedelta(seconds=30))
    assert api.get(f"/api/onlyfans/import/{job.pk}").json()["status"] == "running"


def test_a_running_import_reports_as_it_goes(api, account):
    job = queued_job(api)
    before = timezone.now()
    import_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED
    assert job.heartbeat_at is not None and job.heartbeat_at >= before
