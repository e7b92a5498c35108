"""Import jobs in Django admin: read-only records with their counts, errors and failed rows."""

from __future__ import annotations

import json
import uuid

from django.contrib import admin
from django.db.models import Model
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from crm.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "account",
        "filename",
        "status",
        "dry_run",
        "progress",
        "created",
        "updated",
        "unchanged",
        "failed",
        "duplicates",
        "created_at",
    )
    list_filter = ("status", "dry_run")
    search_fields = ("id", "filename", "account__username", "account__onlyfans_id")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "account",
        "created_by",
        "filename",
        "dry_run",
        "status",
        "rows_total",
        "rows_processed",
        "created",
        "updated",
        "unchanged",
        "failed",
        "duplicates",
        "failed_rows_link",
        "error",
        "report_json",
        "created_at",
        "started_at",
        "finished_at",
    )
    exclude = ("upload", "failed_rows_file", "report")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="rows")
    def progress(self, job: ImportJob) -> str:
        return f"{job.rows_processed:,} / {job.rows_total:,}" if job.rows_total is not None else "–"

    @admin.display(description="failed rows CSV")
    def failed_rows_link(self, job: ImportJob) -> str:
        if not job.failed_rows_file:
            return "–"
        url = reverse("admin:crm_importjob_failed_rows", args=[job.pk])
        return format_html('<a href="{}">download ({} rows)</a>', url, job.failed)

    @admin.display(description="report")
    def report_json(self, job: ImportJob) -> str:
        return format_html("<pre>{}</pre>", json.dumps(job.report, indent=2, ensure_ascii=False))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<uuid:job_id>/failed-rows.csv",
                self.admin_site.admin_view(self.failed_rows_view),
                name="crm_importjob_failed_rows",
            ),
            *super().get_urls(),
        ]

    def failed_rows_view(self, request: HttpRequest, job_id: uuid.UUID) -> FileResponse:
        job = get_object_or_404(ImportJob, pk=job_id)
        if not self.has_view_permission(request, job) or not job.failed_rows_file:
            raise Http404
        return FileResponse(
            job.failed_rows_file.open("rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-failed-rows.csv",
            content_type="text/csv; charset=utf-8",
        )
