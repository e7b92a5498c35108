"""Large imports through a real Celery worker: the task message goes through the test Redis
broker as JSON (no eager mode) and the worker runs it against the same database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError

from crm.imports.services import BATCH_ROWS
from crm.models import Fan, ImportJob, ImportStatus
from huntaze.celery import app as celery_app

IMPORT = "/api/onlyfans/import/csv"
FINAL = {ImportStatus.SUCCEEDED, ImportStatus.FAILED}


pytestmark = pytest.mark.concurrency  # also run on PostgreSQL by `make test`


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_ASYNC_MIN_BYTES = 1024


@pytest.fixture
def worker():
    # The in-thread worker shares the test database (SQLite's shared in-memory database is
    # visible to every thread, and transaction=True tests commit) and the real Redis broker.
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30
    ) as running:
        yield running


def upload(client, content: bytes, **fields):
    data = {"file": SimpleUploadedFile("big.csv", content, content_type="text/csv"), **fields}
    return client.post(IMPORT, data, format="multipart")


def wait_for(job_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Done: final, and the worker's last step, deleting the uploaded copy, behind it.
            if ImportJob.objects.filter(pk=job_id, status__in=FINAL, upload="").exists():
                return
        except OperationalError:  # the worker holds SQLite's write lock for a moment
            pass
        time.sleep(0.05)
    raise AssertionError(f"import job {job_id} did not finish in {timeout} s")


def big_file(rows: int, *, bad_every: int = 0) -> bytes:
    lines = ["User ID,Username,Total Spent,Subscribed On"]
    for n in range(1, rows + 1):
        spent = "-1" if bad_every and n % bad_every == 0 else f"${n:,}.50"
        lines.append(f'{n},fan{n},"{spent}",2024-01-{n % 28 + 1:02d}')
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_large_import_as_a_job_in_a_celery_worker(api, account, worker):
    rows = 5417
    assert rows > BATCH_ROWS  # several batches, so progress is saved along the way
    response = upload(api, big_file(rows, bad_every=1000))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] in {"pending", "running"}  # the worker may have picked it up already

    wait_for(body["jobId"])
    report = api.get(body["url"]).json()
    assert report["status"] == "succeeded", report
    assert report["progress"] == {"rowsProcessed": rows, "rowsTotal": rows, "percent": 100}
    assert (report["created"], report["failed"], report["rowsRead"]) == (rows - 5, 5, rows)
    assert [error["row"] for error in report["errors"]] == [1001, 2001, 3001, 4001, 5001]
    failed = api.get(report["failedRowsUrl"])
    assert failed.status_code == 200
    assert Fan.objects.filter(account=account).count() == rows - 5
    job = ImportJob.objects.get(pk=body["jobId"])
    assert not job.upload  # the uploaded copy is deleted once the job is done
    assert list(Path(job.failed_rows_file.path).parent.parent.joinpath("uploads").glob("*")) == []


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_job_whose_file_turns_out_undecodable_and_writes_nothing(api, account, worker):
    content = big_file(5000) + b"5001,caf\xe9,1,2024-01-01\n"  # past the part checked at upload
    response = upload(api, content)
    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]

    wait_for(job_id)
    report = api.get(f"/api/onlyfans/import/{job_id}").json()
    assert report["status"] == "failed"
    assert report["error"]["code"] == "not_utf8" and "line 5002" in report["error"]["message"]
    assert Fan.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_queued_dry_run_without_writing(api, account, worker):
    response = upload(api, big_file(3000), dryRun="true")
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    wait_for(job_id)
    report = api.get(f"/api/onlyfans/import/{job_id}").json()
    assert (report["status"], report["dryRun"], report["created"]) == ("succeeded", True, 3000)
    assert Fan.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_job_only_to_the_owner_of_its_account(api, outsider_api, account, worker):
    job_id = upload(api, big_file(2000)).json()["jobId"]
    wait_for(job_id)
    assert api.get(f"/api/onlyfans/import/{job_id}").status_code == 200
    response = outsider_api.get(f"/api/onlyfans/import/{job_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
