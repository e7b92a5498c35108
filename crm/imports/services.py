"""`fans_import_csv`: the one import core behind the API, the Celery job and the command.

1. open_source: size, kind of file, encoding, delimiter, header → fatal errors, nothing written.
2. scan: one streaming pass over every row → fatal errors, rows total, repeated ids, date order.
3. a second streaming pass, in batches: parse each row, compare it with the stored fan, and
   upsert the new and changed ones in one transaction per batch (see store.py).

Every row read ends in exactly one of created / updated / unchanged / failed, and created and
updated count exactly the fans created and changed. When a fan id is on several rows, the last
row wins (even if it fails: the fan then keeps its stored values until that row is fixed); the
earlier rows are superseded: they change nothing, so they count as unchanged, and the report
lists them in `duplicateRows` (and counts them in `duplicates`). A re-import of the same file
therefore counts every valid row as unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files import File
from django.utils import timezone

from crm.imports.columns import COLUMNS, ID_COLUMN
from crm.imports.failed_rows import FailedRowsWriter
from crm.imports.reader import CsvSource, Scan, open_source, records, scan
from crm.imports.store import FanStore, sqlite_bulk_mode
from crm.imports.values import parser_for
from crm.models import ImportJob, ImportStatus
from onlyfans.models import OnlyFansAccount

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Rows per batch: one upsert transaction, and lookups of the stored fans in chunks of 900 ids
# (SQLite takes at most 999 parameters per statement).
BATCH_ROWS = 4500
LOOKUP_IDS = 900
PROGRESS_EVERY_ROWS = 9000
MAX_REPORTED = 1000  # errors and duplicates listed in the report; the failed-rows file has all
VALUE_PREVIEW = 100
_MISSING = object()
_MODEL_ORDER = [column.field for column in COLUMNS]

ProgressCallback = Callable[[ImportJob], None]


@dataclass
class _Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    duplicate_rows: list[dict[str, Any]] = field(default_factory=list)


def fans_import_csv(
    *,
    account: OnlyFansAccount,
    file: IO[bytes],
    filename: str = "",
    dry_run: bool = False,
    created_by: User | None = None,
    job: ImportJob | None = None,
    on_progress: ProgressCallback | None = None,
    max_bytes: int | None = None,
) -> ImportJob:
    """Import (or with dry_run, only check) a fans CSV into `account`; returns the finished job.

    Raises ImportFileError, before writing anything, when the file as a whole is unusable."""
    source = open_source(
        file, max_bytes=settings.IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    )
    found = scan(source)
    now = timezone.now()
    if job is None:
        job = ImportJob(
            account=account, created_by=created_by, filename=filename[:255], dry_run=dry_run
        )
    job.status = ImportStatus.RUNNING
    job.started_at = job.started_at or now
    job.heartbeat_at = now
    job.rows_total = found.rows_total
    job.report = _format_report(source, found)
    job.save()
    importer = _Importer(
        account=account, source=source, found=found, job=job, on_progress=on_progress
    )
    try:
        with sqlite_bulk_mode():
            importer.run()
        failed_rows = importer.failed_rows.binary()
        if failed_rows is not None:
            job.failed_rows_file.save(f"{job.id}.csv", File(failed_rows), save=False)
    except BaseException as exc:
        # The batches written so far stay (importing the file again is safe: it is an upsert).
        _copy_counts(job, importer.counts)
        job.status = ImportStatus.FAILED
        job.error = f"The import stopped after {job.rows_processed:,} rows ({type(exc).__name__})."
        job.report = {**job.report, "errorCode": "internal_error"}
        job.finished_at = timezone.now()
        job.save()
        raise
    finally:
        importer.failed_rows.close()
    _finish(job, importer.counts)
    logger.info(
        "Fans CSV import finished",
        extra={
            "importJobId": str(job.id),
            "accountId": account.pk,
            "dryRun": job.dry_run,
            "rows": job.rows_processed,
            "createdCount": job.created,
            "updatedCount": job.updated,
            "unchangedCount": job.unchanged,
            "failedCount": job.failed,
            "duplicateCount": job.duplicates,
        },
    )
    return job


def _format_report(source: CsvSource, found: Scan) -> dict[str, Any]:
    header = source.header
    return {
        "columns": [
            {"column": header.header[index], "field": column.api_name}
            for index, column in header.mapped
        ],
        "unknownColumns": header.unknown,
        "ignoredColumns": header.ignored,
        "format": {
            "encoding": "utf-16" if source.encoding == "utf-16" else "utf-8",
            "bom": source.bom,
            "delimiter": source.delimiter,
            "dateOrder": found.date_order,
        },
    }


def _finish(job: ImportJob, counts: _Counts) -> None:
    job.status = ImportStatus.SUCCEEDED
    job.finished_at = timezone.now()
    _copy_counts(job, counts)
    job.report = {
        **job.report,
        "errors": counts.errors,
        "errorsTruncated": counts.errors_truncated,
        "duplicateRows": counts.duplicate_rows,
        "duplicateRowsTruncated": counts.duplicates > len(counts.duplicate_rows),
    }
    job.save()


def _copy_counts(job: ImportJob, counts: _Counts) -> None:
    job.rows_processed = counts.rows
    job.created = counts.created
    job.updated = counts.updated
    job.unchanged = counts.unchanged
    job.failed = counts.failed
    job.duplicates = counts.duplicates


class _Importer:
    def __init__(
        self,
        *,
        account: OnlyFansAccount,
        source: CsvSource,
        found: Scan,
        job: ImportJob,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.account = account
        self.source = source
        self.found = found
        self.job = job
        self.dry_run = job.dry_run
        self.on_progress = on_progress
        self.counts = _Counts()
        self.now = timezone.now().replace(tzinfo=None)  # naive UTC, like the parsed dates
        header = source.header
        self.parsers = [
            (index, column, header.header[index], parser_for(column, day_first=found.day_first))
            for index, column in header.mapped
        ]
        self.width = len(header.header)
        mapped = header.fields()
        # The file is the truth for the columns it has; fields it has no column for are left alone.
        self.derive_status = bool(mapped & {"subscription_status", "expires_at"})
        if self.derive_status:
            mapped.add("subscription_status")
        self.fields = [name for name in _MODEL_ORDER if name in mapped and name != ID_COLUMN.field]
        self.failed_rows = FailedRowsWriter(header.header)
        self.id_index = next(index for index, column in header.mapped if column is ID_COLUMN)
        self.parse_id = parser_for(ID_COLUMN, day_first=False)
        self.store = FanStore(account_id=account.pk, fields=self.fields)
        self.pending: Counter[str] = Counter()  # the current chunk's tallies, counted at its flush

    def run(self) -> None:
        batch: list[dict[str, Any]] = []
        in_chunk = 0
        last_report = 0
        self._progress()
        with records(self.source) as rows:
            for record_number, line, cells in rows:
                in_chunk += 1
                if not self._superseded(record_number, cells):
                    values = self._parse(record_number, line, cells)
                    if values is not None:
                        batch.append(values)
                if in_chunk >= BATCH_ROWS:
                    self._flush(batch, in_chunk)
                    batch, in_chunk = [], 0
                    if self.counts.rows - last_report >= PROGRESS_EVERY_ROWS:
                        last_report = self.counts.rows
                        self._progress()
        self._flush(batch, in_chunk)
        self._progress()

    def _superseded(self, record_number: int, cells: list[str]) -> bool:
        last_row_of = self.found.last_row_of
        if not last_row_of or self.id_index >= len(cells):
            return False
        try:
            fan_id = self.parse_id(cells[self.id_index])
        except ValueError:
            return False
        last_row = last_row_of.get(fan_id, record_number)
        if last_row == record_number:
            return False
        self.pending["unchanged"] += 1
        self.pending["duplicates"] += 1
        if len(self.counts.duplicate_rows) < MAX_REPORTED:
            self.counts.duplicate_rows.append(
                {"row": record_number, "onlyfansUserId": fan_id, "supersededByRow": last_row}
            )
        return True

    def _progress(self) -> None:
        _copy_counts(self.job, self.counts)
        ImportJob.objects.filter(pk=self.job.pk).update(
            rows_processed=self.job.rows_processed,
            created=self.job.created,
            updated=self.job.updated,
            unchanged=self.job.unchanged,
            failed=self.job.failed,
            duplicates=self.job.duplicates,
            heartbeat_at=timezone.now(),
        )
        if self.on_progress is not None:
            self.on_progress(self.job)

    def _parse(self, record_number: int, line: int, cells: list[str]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        problems: list[tuple[str | None, str | None, str, str]] = []
        count = len(cells)
        for index, column, header, parse in self.parsers:
            raw = cells[index] if index < count else ""
            try:
                values[column.field] = parse(raw)
            except ValueError as exc:
                problems.append((header, column.api_name, raw, str(exc)))
        if count > self.width and any(cell.strip() for cell in cells[self.width :]):
            problems.append((None, None, "", f"has {count} cells but the header has {self.width}"))
        if problems:
            self._fail(record_number, line, cells, problems)
            return None
        if self.derive_status and values.get("subscription_status") is None:
            expires_at = values.get("expires_at")
            expired = expires_at is not None and expires_at <= self.now
            values["subscription_status"] = "expired" if expired else "active"
        return values

    def _fail(self, record_number: int, line: int, cells: list[str], problems: list) -> None:
        self.pending["failed"] += 1
        reasons = []
        for header, api_name, raw, message in problems:
            reason = f"{header} {message}" if header else f"The row {message}"
            reasons.append(reason)
            if len(self.counts.errors) >= MAX_REPORTED:
                self.counts.errors_truncated = True
            else:
                self.counts.errors.append(
                    {
                        "row": record_number,
                        "line": line,
                        "column": header,
                        "field": api_name,
                        # The report is JSON in the database: PostgreSQL's jsonb refuses NUL.
                        "value": raw[:VALUE_PREVIEW].replace("\x00", "\ufffd"),
                        "message": reason,
                    }
                )
        self.failed_rows.add(record_number, reasons, cells)

    def _flush(self, batch: list[dict[str, Any]], rows_in_chunk: int) -> None:
        """Classify a batch against the stored fans and upsert the new and changed ones; the
        chunk's rows are counted once that is done. A batch never holds one fan id twice:
        only the last row of a repeated id gets here."""
        tally = self.pending
        fields = self.fields
        stored = self._stored([values["onlyfans_user_id"] for values in batch])
        to_write = []
        for values in batch:
            previous = stored.get(values["onlyfans_user_id"], _MISSING)
            if previous is _MISSING:
                tally["created"] += 1
            elif previous == tuple([values[name] for name in fields]):
                tally["unchanged"] += 1
                continue
            else:
                tally["updated"] += 1
            to_write.append(values)
        if not self.dry_run:
            self.store.upsert(to_write)
        counts = self.counts
        counts.rows += rows_in_chunk
        for name, number in tally.items():
            setattr(counts, name, getattr(counts, name) + number)
        self.pending = Counter()

    def _stored(self, fan_ids: list[str]) -> dict[str, tuple]:
        stored: dict[str, tuple] = {}
        for start in range(0, len(fan_ids), LOOKUP_IDS):
            stored.update(self.store.fetch(fan_ids[start : start + LOOKUP_IDS]))
        return stored
