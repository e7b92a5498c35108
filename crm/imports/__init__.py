"""Fans CSV import: one core (`fans_import_csv`) behind the API, the Celery job and the command.

See docs/csv-import.md for the columns, the header aliases and the rules.
"""

from __future__ import annotations

from crm.imports.jobs import (
    import_job_create,
    import_job_for_user,
    import_job_run,
    import_runs_in_background,
)
from crm.imports.reader import ImportFileError
from crm.imports.services import fans_import_csv

__all__ = [
    "ImportFileError",
    "fans_import_csv",
    "import_job_create",
    "import_job_for_user",
    "import_job_run",
    "import_runs_in_background",
]
