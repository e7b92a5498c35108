"""Fans CSV import over HTTP: upload, job progress, failed-rows download. Views stay thin:
validate → call crm.imports → serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import imports
from crm.apis.common import UNAUTHENTICATED, error
from crm.imports.serializers import ImportJobOutputSerializer, job_payload
from crm.models import ImportStatus
from huntaze.core.errors import ApplicationError, NotFound, ServiceUnavailable
from huntaze.core.fields import RejectUnknownFieldsMixin
from onlyfans.selectors import account_for_user

# Multipart framing around the file: a request larger than the limit plus this is refused
# before its body is read.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _refuse_oversized_body(request: Request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    limit = settings.IMPORT_MAX_BYTES
    if length > limit + MULTIPART_OVERHEAD_BYTES:
        raise ApplicationError(
            f"The upload is {length:,} bytes; the limit is {limit:,} bytes."
            " Split it into smaller files.",
            code="file_too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


class FansImportCsvApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
        file = serializers.FileField(
            allow_empty_file=True, help_text="The fans CSV (UTF-8, `,` or `;`)."
        )
        accountId = serializers.IntegerField(
            required=False,
            min_value=1,
            help_text="Required when you run several OnlyFans accounts.",
        )
        dryRun = serializers.BooleanField(
            required=False, default=False, help_text="Check and report; change no fan."
        )

    @extend_schema(
        operation_id="onlyfans_import_csv",
        summary="Import fans from a CSV file (upsert by OnlyFans user id)",
        request={"multipart/form-data": InputSerializer},
        responses={
            200: OpenApiResponse(
                ImportJobOutputSerializer, description="Imported at once: the report."
            ),
            202: OpenApiResponse(
                ImportJobOutputSerializer, description="A large file: queued as a job; poll `url`."
            ),
            400: error("Not a CSV, not UTF-8, no fan id column, or an invalid field."),
            401: UNAUTHENTICATED,
            404: error("The OnlyFans account (accountId) is not one of yours."),
            413: error("The file is larger than IMPORT_MAX_BYTES."),
            415: error("The body is not multipart/form-data (or a urlencoded form)."),
            503: error("A large file could not be queued."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _refuse_oversized_body(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = account_for_user(user=request.user, account_pk=data.get("accountId"))
        upload = data["file"]
        options = {
            "account": account,
            "file": upload,
            "filename": upload.name or "",
            "dry_run": data["dryRun"],
            "created_by": request.user,
        }
        if imports.import_runs_in_background(upload.size):
            job = imports.import_job_create(**options)
            job.refresh_from_db()
            if job.status == ImportStatus.FAILED:
                raise ServiceUnavailable(job.error, code="queue_unavailable")
            payload = job_payload(job)
            return Response(
                payload,
                status=status.HTTP_202_ACCEPTED,
                headers={"Location": request.build_absolute_uri(payload["url"])},
            )
        job = imports.fans_import_csv(**options)
        return Response(job_payload(job), status=status.HTTP_200_OK)


class FansImportJobApi(APIView):
    @extend_schema(
        operation_id="onlyfans_import_job",
        summary="An import's progress and report",
        responses={
            200: ImportJobOutputSerializer,
            401: UNAUTHENTICATED,
            404: error("No such import among your accounts' imports."),
        },
    )
    def get(
        self,
        request: Request,
        jobId: str,  # noqa: N803 - the route's {jobId}
        *args: Any,
        **kwargs: Any,
    ) -> Response:
        job = imports.import_job_for_user(user=request.user, job_id=jobId)
        return Response(job_payload(job))


class FansImportFailedRowsApi(APIView):
    @extend_schema(
        operation_id="onlyfans_import_failed_rows",
        summary="Download the rows that failed, with their row numbers and reasons, as CSV",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The failed rows as CSV."
            ),
            401: UNAUTHENTICATED,
            404: error("No such import among yours, or it has no failed rows."),
        },
    )
    def get(
        self,
        request: Request,
        jobId: str,  # noqa: N803 - the route's {jobId}
        *args: Any,
        **kwargs: Any,
    ) -> FileResponse:
        job = imports.import_job_for_user(user=request.user, job_id=jobId)
        if not job.failed_rows_file:
            raise NotFound("This import has no failed rows.")
        stem = (job.filename.rsplit(".", 1)[0] or "fans")[:80]
        response = FileResponse(
            job.failed_rows_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-failed-rows.csv",
            content_type="text/csv; charset=utf-8",
        )
        response["Cache-Control"] = "private, no-store"
        return response
