"""`manage.py import_fans_csv PATH --account ID [--dry-run]`: the API's import, from a shell.

The account is `--account` (its id in Huntaze, or `@username`) or `--onlyfans-id`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crm import imports
from crm.imports.serializers import job_payload
from crm.management.commands._account_options import account_from_options, add_account_options
from crm.models import ImportJob

SHOWN_ERRORS = 20


class Command(BaseCommand):
    help = (
        "Import fans from a CSV file into one OnlyFans account (upsert by OnlyFans user id). "
        "See docs/csv-import.md for the columns."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The CSV file.")
        add_account_options(parser, required=True)
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report; change no fan."
        )
        parser.add_argument(
            "--failed-rows", metavar="PATH", help="Also copy the failed-rows CSV here."
        )
        parser.add_argument("--max-bytes", type=int, help="Size limit (default: IMPORT_MAX_BYTES).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> str:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        account = account_from_options(options)
        if account is None:
            raise CommandError("Name the account with --account or --onlyfans-id.")
        bar: tqdm | None = None

        def on_progress(job: ImportJob) -> None:
            nonlocal bar
            if options["no_progress"]:
                return
            if bar is None:
                # OutputWrapper._out is the stream itself (the stubs type it as a write callable).
                stream = cast(TextIO, self.stderr._out)
                bar = tqdm(total=job.rows_total, unit="rows", desc=path.name, file=stream)
            bar.update(job.rows_processed - bar.n)

        try:
            with path.open("rb") as file:
                job = imports.fans_import_csv(
                    account=account,
                    file=file,
                    filename=path.name,
                    dry_run=options["dry_run"],
                    on_progress=on_progress,
                    max_bytes=options["max_bytes"],
                )
        except imports.ImportFileError as exc:
            raise CommandError(exc.message) from None
        finally:
            if bar is not None:
                bar.close()

        copy = options["failed_rows"]
        if copy and job.failed_rows_file:
            with job.failed_rows_file.open("rb") as source, open(copy, "wb") as target:
                shutil.copyfileobj(source, target)
        if options["json"]:
            self.stdout.write(json.dumps(job_payload(job), indent=2, ensure_ascii=False))
        else:
            self._summary(job, copy)
        return ""

    def _summary(self, job: ImportJob, copy: str | None) -> None:
        write = self.stdout.write
        verb = "Checked (dry run, nothing written)" if job.dry_run else "Imported"
        write(
            f"{verb} {job.rows_processed:,} rows into @{job.account.username}: "
            f"{job.created:,} created, {job.updated:,} updated, {job.unchanged:,} unchanged, "
            f"{job.failed:,} failed."
        )
        if job.duplicates:
            rows = "1 row was" if job.duplicates == 1 else f"{job.duplicates:,} rows were"
            write(
                f"{rows} superseded by a later row with the same fan id "
                "(the later row wins; superseded rows count as unchanged)."
            )
        report = job.report
        if report.get("unknownColumns"):
            write("Columns not imported (unknown): " + ", ".join(report["unknownColumns"]))
        for ignored in report.get("ignoredColumns", []):
            write(f"Column {ignored['column']!r} ignored: {ignored['reason']}")
        errors = report.get("errors", [])
        for error in errors[:SHOWN_ERRORS]:
            write(f"  row {error['row']}: {error['message']} ({error['value']!r})")
        if len(errors) > SHOWN_ERRORS or report.get("errorsTruncated"):
            write("  … the failed-rows file lists them all.")
        if job.failed_rows_file:
            write(f"Failed rows: {copy or job.failed_rows_file.path}")
        write(f"Import job: {job.pk}")
