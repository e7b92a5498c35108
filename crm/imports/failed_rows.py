"""The failed-rows CSV: each rejected row as it was in the file, with its row number and reasons
in front, so that it can be fixed and imported again.

Every cell is neutralised against spreadsheet formula injection (OWASP's CSV injection advice):
a cell that starts with = + - @, a tab or a carriage return gets a leading apostrophe, so
Excel, LibreOffice and Google Sheets show it as text instead of running it.
"""

from __future__ import annotations

import csv
import tempfile
from typing import IO, Any

ROW_HEADER = "Import Row"
ERRORS_HEADER = "Import Errors"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    if value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class FailedRowsWriter:
    """Writes to a temporary file, opened only when the first row fails."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.rows = 0
        self._file: IO[str] | None = None
        self._writer: Any = None  # a csv writer (its type is private to the csv module)

    def add(self, record_number: int, reasons: list[str], cells: list[str]) -> None:
        if self._writer is None:
            # Closed by close(), which the service calls in a finally block.
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8-sig", newline="")  # noqa: SIM115
            self._writer = csv.writer(self._file)
            self._writer.writerow(
                [safe_cell(cell) for cell in (ROW_HEADER, ERRORS_HEADER, *self.header)]
            )
        self._writer.writerow(
            [
                str(record_number),
                safe_cell("; ".join(reasons)),
                *(safe_cell(cell) for cell in cells),
            ]
        )
        self.rows += 1

    def binary(self) -> IO[bytes] | None:
        """The finished file, rewound, as bytes (UTF-8 with a BOM, which Excel needs to read it)."""
        if self._file is None:
            return None
        self._file.flush()
        buffer = self._file.buffer  # type: ignore[attr-defined]
        buffer.seek(0)
        return buffer

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
