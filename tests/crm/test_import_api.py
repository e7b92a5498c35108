"""POST /api/onlyfans/import/csv, GET /api/onlyfans/import/{jobId} and the failed-rows download."""

from __future__ import annotations

import csv
import io
import uuid
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from crm.imports import import_job_run
from crm.imports.jobs import IMPORT_STALE_AFTER
from crm.models import Fan, ImportJob, ImportStatus
from tests.conftest import client_for, make_account, make_user

pytestmark = pytest.mark.django_db

IMPORT = "/api/onlyfans/import/csv"
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "fans-sample.csv"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client, content: bytes, name: str = "fans.csv", path: str = IMPORT, **fields):
    data = {"file": SimpleUploadedFile(name, content, content_type="text/csv"), **fields}
    return client.post(path, data, format="multipart")


def download(client, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body, newline="")))


def test_it_imports_the_shipped_sample_with_honest_counts(api, account):
    response = upload(api, SAMPLE.read_bytes(), name="fans-sample.csv")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert {
        k: body[k] for k in ("rowsRead", "created", "updated", "unchanged", "failed", "duplicates")
    } == {
        "rowsRead": 12,
        "created": 7,
        "updated": 0,
        "unchanged": 1,
        "failed": 4,
        "duplicates": 1,
    }
    assert body["progress"] == {"rowsProcessed": 12, "rowsTotal": 12, "percent": 100}
    assert body["unknownColumns"] == ["Country"]
    assert body["duplicateRows"] == [{"row": 3, "onlyfansUserId": "100002", "supersededByRow": 13}]
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (9, "User ID"),
        (10, "Subscribed On"),
        (11, "Total Spent"),
        (12, "Status"),
    ]
    assert Fan.objects.filter(account=account).count() == 7
    mike = Fan.objects.get(account=account, onlyfans_user_id="100002")
    assert (mike.display_name, mike.total_spent) == (
        "Mike Thompson",
        Decimal("64.99"),
    )  # the later row won
    lena = Fan.objects.get(account=account, onlyfans_user_id="100001")
    assert (lena.username, lena.total_spent, lena.tags) == (
        "lena_rose",
        Decimal("1234.56"),
        ["vip", "whale"],
    )

    rows = download(api, body["failedRowsUrl"])
    assert [row[0] for row in rows[1:]] == ["9", "10", "11", "12"]
    assert rows[3][1] == "Total Spent must not be negative"
    notes = rows[0].index("Notes")
    assert rows[3][notes].startswith("'=HYPERLINK(")


def test_it_answers_on_paths_with_and_without_a_trailing_slash(api, account):
    response = upload(api, b"User ID\n1\n", path=IMPORT + "/")
    assert response.status_code == 200, response.content
    job_url = response.json()["url"]
    assert api.get(job_url).status_code == 200
    assert api.get(job_url + "/").status_code == 200


def test_it_reports_a_reimport_as_all_unchanged(api, account):
    assert upload(api, SAMPLE.read_bytes()).json()["created"] == 7
    body = upload(api, SAMPLE.read_bytes()).json()
    assert (body["created"], body["updated"], body["unchanged"], body["failed"]) == (0, 0, 8, 4)


def test_it_writes_no_fan_on_a_dry_run(api, account):
    body = upload(api, SAMPLE.read_bytes(), dryRun="true").json()
    assert body["dryRun"] is True
    assert (body["created"], body["failed"]) == (7, 4)
    assert body["failedRowsUrl"]  # the report is the same, downloadable rows included
    assert Fan.objects.count() == 0


def test_it_refuses_an_oversized_upload_with_413_before_reading_it(api, account, settings):
    settings.IMPORT_MAX_BYTES = 1000
    response = upload(api, b"User ID\n" + b"1\n" * 100_000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert Fan.objects.count() == 0 and ImportJob.objects.count() == 0


def test_it_refuses_a_file_just_over_the_limit_with_413(api, account, settings):
    settings.IMPORT_MAX_BYTES = 1000
    response = upload(api, b"User ID\n" + b"12345\n" * 200)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large" and "1,000 bytes" in error["message"]
    assert Fan.objects.count() == 0 and ImportJob.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", "not_csv", "PNG image"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00", "not_csv", "Excel workbook"),
        ("User ID,Name\n1,Andr\xe9\n".encode("cp1252"), "not_utf8", "line 2"),
        (b"Username,Total Spent\nalice,5\n", "missing_id_column", "no fan id column"),
        (b"", "empty_file", "empty"),
    ],
)
def test_it_refuses_a_file_that_is_not_an_importable_csv_with_400(
    api, account, content, code, words
):
    response = upload(api, content)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]
    assert Fan.objects.count() == 0 and ImportJob.objects.count() == 0


def test_it_requires_a_file(api, account):
    response = api.post(IMPORT, {"dryRun": "true"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["details"]


def test_it_requires_authentication(account):
    response = upload(APIClient(), b"User ID\n1\n")
    assert response.status_code == 401
    assert Fan.objects.count() == 0


def test_it_refuses_another_users_account(api, account, outsider):
    theirs = make_account(outsider)
    response = upload(api, b"User ID\n1\n", accountId=str(theirs.pk))
    assert response.status_code == 404
    assert Fan.objects.count() == 0


def test_it_needs_an_account_id_when_the_user_runs_several(api, account, owner):
    second = make_account(owner)
    assert upload(api, b"User ID\n1\n").status_code == 400
    response = upload(api, b"User ID\n1\n", accountId=str(second.pk))
    assert response.status_code == 200
    assert Fan.objects.get().account == second


def test_it_hides_another_users_import_and_its_failed_rows(api, account, outsider_api):
    body = upload(api, SAMPLE.read_bytes()).json()
    assert outsider_api.get(body["url"]).status_code == 404
    assert outsider_api.get(body["failedRowsUrl"]).status_code == 404
    assert api.get(body["failedRowsUrl"]).status_code == 200
    assert api.get(f"/api/onlyfans/import/{uuid.uuid4()}").status_code == 404


def test_it_has_no_failed_rows_file_when_every_row_imports(api, account):
    body = upload(api, b"User ID\n1\n").json()
    assert body["failedRowsUrl"] is None
    assert api.get(body["url"] + "/failed-rows.csv").status_code == 404


def test_it_queues_a_large_file_as_a_job_and_answers_202(
    api, account, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_ASYNC_MIN_BYTES = 10
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(api, SAMPLE.read_bytes(), name="big.csv")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["filename"] == "big.csv"
    assert response["Location"].endswith(body["url"])
    assert len(callbacks) == 1  # the task is queued only once the job row is committed
    job = ImportJob.objects.get(pk=body["jobId"])
    assert job.upload and job.status == ImportStatus.PENDING
    assert Fan.objects.count() == 0
    progress = api.get(body["url"]).json()
    assert progress["status"] == "pending" and progress["progress"]["rowsProcessed"] == 0


def test_it_checks_a_large_file_before_queueing_it(api, account, settings):
    settings.IMPORT_ASYNC_MIN_BYTES = 10
    response = upload(api, b"Username,Total Spent\nalice,5\nbob,6\n")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_id_column"
    assert ImportJob.objects.count() == 0


def test_it_rejects_unknown_form_fields(api, account):
    response = upload(api, b"User ID\n1\n", dry_run="true")
    assert response.status_code == 400
    assert "dry_run" in response.json()["error"]["details"]


def test_it_shows_import_jobs_in_admin(account):
    staff = make_user("staff", is_staff=True, is_superuser=True)
    body = upload(client_for(account.owner), SAMPLE.read_bytes()).json()
    admin = APIClient()
    admin.force_login(staff)
    page = admin.get("/admin/crm/importjob/")
    assert page.status_code == 200 and body["jobId"] in page.content.decode()
    detail = admin.get(f"/admin/crm/importjob/{body['jobId']}/change/")
    assert detail.status_code == 200
    download_url = f"/admin/crm/importjob/{body['jobId']}/failed-rows.csv"
    assert download_url in detail.content.decode()
    assert admin.get(download_url).status_code == 200


@pytest.mark.django_db(transaction=True)  # commits for real, so on_commit runs in the request
def test_it_answers_503_when_a_large_file_cannot_be_queued(api, account, settings, monkeypatch):
    from kombu.exceptions import OperationalError

    from huntaze.celery import app

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    settings.IMPORT_ASYNC_MIN_BYTES = 10
    response = upload(api, SAMPLE.read_bytes())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.FAILED and Fan.objects.count() == 0


def test_it_runs_a_queued_job_once_even_if_the_task_is_delivered_twice(api, account, settings):
    settings.IMPORT_ASYNC_MIN_BYTES = 10
    job_id = upload(api, SAMPLE.read_bytes()).json()["jobId"]
    first = import_job_run(job_id=job_id)
    assert first is not None and first.status == ImportStatus.SUCCEEDED
    assert import_job_run(job_id=job_id) is None
    report = api.get(f"/api/onlyfans/import/{job_id}").json()
    assert (report["status"], report["created"], report["failed"]) == ("succeeded", 7, 4)
    assert report["failedRowsUrl"] and Fan.objects.count() == 7


# --- A job whose worker died ----------------------------------------------------------------------
# A worker killed mid-run (OOM, host lost) must not leave its job `running` forever: the task was
# acknowledged when it started, so nothing will ever run it again.
def queued_job(api, settings) -> ImportJob:
    settings.IMPORT_ASYNC_MIN_BYTES = 10
    response = upload(api, SAMPLE.read_bytes(), name="big.csv")
    assert response.status_code == 202, response.content
    return ImportJob.objects.get(pk=response.json()["jobId"])


def worker_died(job: ImportJob, *, silent_for: timedelta) -> None:
    """What a worker leaves behind when it is killed after claiming the job."""
    then = timezone.now() - silent_for
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=then, heartbeat_at=then
    )


def test_it_fails_a_running_job_whose_worker_stopped_reporting(api, account, settings):
    job = queued_job(api, settings)
    worker_died(job, silent_for=IMPORT_STALE_AFTER + timedelta(seconds=1))

    report = api.get(f"/api/onlyfans/import/{job.pk}").json()
    assert report["status"] == "failed"
    assert report["error"]["code"] == "worker_lost"
    assert report["finishedAt"] is not None
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and not job.upload
    # A late redelivery of the task does not resurrect it.
    assert import_job_run(job_id=str(job.pk)) is None


def test_it_leaves_a_running_job_alone_while_its_worker_reports(api, account, settings):
    job = queued_job(api, settings)
    worker_died(job, silent_for=IMPORT_STALE_AFTER - timedelta(seconds=30))
    assert api.get(f"/api/onlyfans/import/{job.pk}").json()["status"] == "running"


def test_a_running_import_reports_its_progress_before_it_ends(api, account, settings, monkeypatch):
    """What keeps a long job from looking stale: while rows are still being read, the job row
    already shows rows done and a fresh heartbeat. The test reads the row between rows, from the
    database, and after each look puts the heartbeat back to a stale time: only a report made
    mid-run can bring it forward again (the claim and the final report cannot)."""
    from crm.imports import services as service

    monkeypatch.setattr(service, "BATCH_ROWS", 2)
    monkeypatch.setattr(service, "PROGRESS_EVERY_ROWS", 2)
    job = queued_job(api, settings)
    stale = timezone.now() - IMPORT_STALE_AFTER - timedelta(minutes=1)
    seen: list[tuple[int, bool]] = []
    real_records = service.records

    @contextmanager
    def watched_records(source):
        with real_records(source) as rows:

            def rows_watched():
                for row in rows:
                    row_now = ImportJob.objects.values("rows_processed", "heartbeat_at").get(
                        pk=job.pk
                    )
                    seen.append((row_now["rows_processed"], row_now["heartbeat_at"] > stale))
                    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
                    yield row

            yield rows_watched()

    monkeypatch.setattr(service, "records", watched_records)
    import_job_run(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED and job.rows_processed == 12
    reports_mid_run = [rows for rows, fresh in seen if fresh and 0 < rows < 12]
    assert len(reports_mid_run) >= 2, seen
    assert reports_mid_run == sorted(reports_mid_run)
    assert job.heartbeat_at is not None and job.heartbeat_at > stale
