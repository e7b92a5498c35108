"""An import's report as the API and `import_fans_csv --json` show it."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from crm.models import ImportJob, ImportStatus
from huntaze.core.fields import IsoDateTimeField


class ProgressSerializer(serializers.Serializer):
    rowsProcessed = serializers.IntegerField()
    rowsTotal = serializers.IntegerField(allow_null=True, help_text="Null until the file is read.")
    percent = serializers.IntegerField(min_value=0, max_value=100)


class MappedColumnSerializer(serializers.Serializer):
    column = serializers.CharField(help_text="The CSV header as written.")
    field = serializers.CharField(help_text="The fan field it fills (the API's name).")


class IgnoredColumnSerializer(serializers.Serializer):
    column = serializers.CharField()
    reason = serializers.CharField()


class FormatSerializer(serializers.Serializer):
    encoding = serializers.ChoiceField(choices=["utf-8", "utf-16"])
    bom = serializers.BooleanField()
    delimiter = serializers.CharField()
    dateOrder = serializers.ChoiceField(
        choices=["day-first", "month-first"],
        allow_null=True,
        help_text="How slash dates were read, when the file had any.",
    )


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The record's number, the header not counted.")
    line = serializers.IntegerField(allow_null=True, help_text="Its first line in the file.")
    column = serializers.CharField(allow_null=True, allow_blank=True)
    field = serializers.CharField(allow_null=True, allow_blank=True)
    value = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class DuplicateRowSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    onlyfansUserId = serializers.CharField()
    supersededByRow = serializers.IntegerField()


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ImportJobOutputSerializer(serializers.Serializer):
    """An import's report, from the values `job_payload` reads off the ImportJob and its report
    (typed all the way down: the schema says what each list holds)."""

    jobId = serializers.UUIDField()
    url = serializers.CharField()
    accountId = serializers.IntegerField()
    filename = serializers.CharField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    dryRun = serializers.BooleanField()
    progress = ProgressSerializer()
    rowsRead = serializers.IntegerField(help_text="created + updated + unchanged + failed")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()
    duplicates = serializers.IntegerField(
        help_text="Rows superseded by a later row with the same fan id (counted as unchanged)."
    )
    columns = MappedColumnSerializer(many=True)
    unknownColumns = serializers.ListField(child=serializers.CharField())
    ignoredColumns = IgnoredColumnSerializer(many=True)
    format = FormatSerializer(allow_null=True)
    # The response's key (DRF's metaclass moves declared fields off the class, so
    # Serializer.errors is not shadowed at run time).
    errors = RowErrorSerializer(  # type: ignore[assignment]
        many=True, help_text="The rows refused and why, the first 1,000."
    )
    errorsTruncated = serializers.BooleanField()
    duplicateRows = DuplicateRowSerializer(many=True)
    duplicateRowsTruncated = serializers.BooleanField()
    failedRowsUrl = serializers.CharField(allow_null=True)
    error = JobErrorSerializer(allow_null=True, help_text="Why a failed import stopped.")
    createdAt = IsoDateTimeField()
    startedAt = IsoDateTimeField(allow_null=True)
    finishedAt = IsoDateTimeField(allow_null=True)


def job_payload(job: ImportJob) -> dict[str, Any]:
    """The report as the import routes and `import_fans_csv --json` answer it."""
    report = job.report or {}
    total = job.rows_total
    percent = (
        100
        if job.status == ImportStatus.SUCCEEDED
        else (int(job.rows_processed * 100 / total) if total else 0)
    )
    values = {
        "jobId": job.pk,
        "url": reverse("fans-import-job", kwargs={"jobId": job.pk}),
        "accountId": job.account_id,
        "filename": job.filename,
        "status": job.status,
        "dryRun": job.dry_run,
        "progress": {"rowsProcessed": job.rows_processed, "rowsTotal": total, "percent": percent},
        "rowsRead": job.rows_processed,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "failed": job.failed,
        "duplicates": job.duplicates,
        "columns": report.get("columns", []),
        "unknownColumns": report.get("unknownColumns", []),
        "ignoredColumns": report.get("ignoredColumns", []),
        "format": report.get("format"),
        "errors": report.get("errors", []),
        "errorsTruncated": report.get("errorsTruncated", False),
        "duplicateRows": report.get("duplicateRows", []),
        "duplicateRowsTruncated": report.get("duplicateRowsTruncated", False),
        "failedRowsUrl": (
            reverse("fans-import-failed-rows", kwargs={"jobId": job.pk})
            if job.failed_rows_file
            else None
        ),
        "error": (
            {"code": report.get("errorCode", "import_failed"), "message": job.error}
            if job.status == ImportStatus.FAILED
            else None
        ),
        "createdAt": job.created_at,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
    }
    return ImportJobOutputSerializer(values).data
