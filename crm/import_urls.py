"""Mounted at /api/onlyfans/import/; each path works with and without a trailing slash."""

from django.urls import re_path

from crm.apis.imports import FansImportCsvApi, FansImportFailedRowsApi, FansImportJobApi

_JOB = r"(?P<jobId>[0-9A-Fa-f-]{32,36})"

urlpatterns = [
    re_path(r"^csv/?$", FansImportCsvApi.as_view(), name="fans-import-csv"),
    re_path(rf"^{_JOB}/?$", FansImportJobApi.as_view(), name="fans-import-job"),
    re_path(
        rf"^{_JOB}/failed-rows\.csv$", FansImportFailedRowsApi.as_view(), name="fans-import-failed-rows"
    ),
]
