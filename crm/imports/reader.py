"""Reading an uploaded CSV as a stream: checks that make a file unusable, the format sniff, and
one pass over all the rows before anything is written (so fatal problems write nothing).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from rest_framework import status

from crm.imports.columns import ID_COLUMN, HeaderMap, map_header
from crm.imports.values import AMBIGUOUS_DATE, parser_for
from huntaze.core.errors import ApplicationError

HEAD_BYTES = 64 * 1024
END_MARK = "\x00end-of-file-"
DELIMITERS = (",", ";", "\t", "|")
_SIGNATURES = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or a zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class ImportFileError(ApplicationError):
    """The file as a whole cannot be imported; nothing was written."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_file"


@dataclass
class CsvSource:
    file: IO[bytes]
    size: int
    encoding: str
    bom: bool
    delimiter: str
    header_record: (
        int  # the record number of the header row (1 unless a `sep=` or blank line precedes)
    )
    header: HeaderMap


@dataclass
class Scan:
    """What one pass over the whole file found, before any write."""

    rows_total: int = 0
    # For each fan id on more than one row: the record number of its last row, the one that wins.
    last_row_of: dict[str, int] = field(default_factory=dict)
    day_first: bool = False
    date_order: str | None = None  # "day-first" / "month-first" when slash dates were seen


def file_size(file: IO[bytes]) -> int:
    size = getattr(file, "size", None)
    if isinstance(size, int):
        return size
    file.seek(0, io.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


def not_csv(what: str) -> ImportFileError:
    return ImportFileError(
        f"This is not a CSV file: it looks like {what}."
        " Export the fans list as CSV and upload that.",
        code="not_csv",
    )


def open_source(file: IO[bytes], *, max_bytes: int) -> CsvSource:
    """Check the size, the kind of file, its text encoding and its header row."""
    size = file_size(file)
    if size > max_bytes:
        raise ImportFileError(
            f"The file is {size:,} bytes; the limit is {max_bytes:,} bytes."
            " Split it into smaller files.",
            code="file_too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    file.seek(0)
    head = file.read(HEAD_BYTES)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportFileError("The file is empty.", code="empty_file")
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise not_csv(what)
    if head.startswith(_UTF16_BOMS):
        encoding, bom = "utf-16", True
    else:
        encoding, bom = "utf-8-sig", head.startswith(codecs.BOM_UTF8)
        if b"\x00" in head:
            raise not_csv("binary data (it contains NUL bytes)")
    try:
        # Plain utf-8 (not utf-8-sig) here so that the error offset counts the BOM's bytes too.
        decoder = codecs.getincrementaldecoder("utf-16" if encoding == "utf-16" else "utf-8")()
        sample = decoder.decode(head, final=len(head) == size).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise undecodable(head, exc.start) from None
    stripped = sample.lstrip()
    if stripped[:1] in ("{", "["):
        raise not_csv("JSON")
    if stripped[:1] == "<":
        raise not_csv("HTML or XML")

    delimiter, header_record, header = _sniff(sample)
    if not header.has_id:
        found = ", ".join(repr(name) for name in header.header[:20]) or "none"
        raise ImportFileError(
            "The file has no fan id column. Name it one of: "
            f"{', '.join(repr(a) for a in ('User ID', 'Fan ID', 'id'))} (found columns: {found}).",
            code="missing_id_column",
            details={"columns": header.header[:50]},
        )
    return CsvSource(
        file=file,
        size=size,
        encoding=encoding,
        bom=bom,
        delimiter=delimiter,
        header_record=header_record,
        header=header,
    )


def _sniff(sample: str) -> tuple[str, int, HeaderMap]:
    """The delimiter under which the header row reads as the most known columns.

    Header names rarely contain a delimiter, so the header row is a surer signal than
    csv.Sniffer's statistics over cell values (which trips over `$1,234.56` in a `;` file)."""
    first_line = sample.split("\n", 1)[0].strip().lower()
    forced = None
    if first_line.startswith("sep=") and len(first_line) == 5:
        forced = sample.split("\n", 1)[0].strip()[4]  # Excel's delimiter hint line
    best: tuple[tuple[int, int], str, int, HeaderMap] | None = None
    for delimiter in (forced,) if forced else DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            for record_number, cells in enumerate(reader, start=1):
                if forced and record_number == 1:
                    continue
                if any(cell.strip() for cell in cells):
                    header = map_header([cell.strip() for cell in cells])
                    score = (header.recognised, len(cells))
                    if best is None or score > best[0]:
                        best = (score, delimiter, record_number, header)
                    break
        except csv.Error:
            continue
    if best is None:
        raise ImportFileError("The file has no header row.", code="missing_header")
    return best[1], best[2], best[3]


def undecodable(data: bytes, offset: int, *, line_offset: int = 0) -> ImportFileError:
    line = line_offset + data.count(b"\n", 0, offset) + 1
    byte = data[offset] if offset < len(data) else 0
    return ImportFileError(
        f"The file is not UTF-8 text: byte 0x{byte:02X} on line {line} cannot be decoded. "
        "Save it as “CSV UTF-8” and upload it again.",
        code="not_utf8",
        details={"line": line},
    )


def _locate_decode_error(source: CsvSource) -> ImportFileError:
    source.file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-16" if source.encoding == "utf-16" else "utf-8")()
    lines = 0
    while True:
        chunk = source.file.read(1024 * 1024)
        # The decoder holds back the few bytes of a character cut by the previous chunk.
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            return undecodable(chunk, max(exc.start - pending, 0), line_offset=lines)
        if not chunk:
            return ImportFileError("The file is not UTF-8 text.", code="not_utf8")
        lines += chunk.count(b"\n")


@contextmanager
def records(source: CsvSource) -> Iterator[Iterator[tuple[int, int, list[str]]]]:
    """(record number, first line number, cells) of each non-blank row after the header."""
    source.file.seek(0)
    text = io.TextIOWrapper(source.file, encoding=source.encoding, newline="")
    # The csv module reads a quoted field left open at the end of the file as one cell holding
    # every later row. A line of our own after the file's lines tells: it comes back as a row
    # of its own when the file's last field is closed, inside the last cell when it is not.
    end = f"{END_MARK}{uuid.uuid4().hex}"
    reader = csv.reader(itertools.chain(text, [end + "\n"]), delimiter=source.delimiter)

    def rows() -> Iterator[tuple[int, int, list[str]]]:
        record_number = 0
        line = 1
        try:
            for cells in reader:
                if cells == [end]:
                    return
                if cells and end in cells[-1]:
                    raise ImportFileError(
                        f"The file is not a valid CSV: a quote opened on line {line} is never "
                        "closed, so every row after it would be read as one cell.",
                        code="invalid_csv",
                        details={"line": line},
                    )
                record_number += 1
                first_line, line = line, reader.line_num + 1
                if record_number <= source.header_record:
                    continue
                for cell in cells:
                    if cell and not cell.isspace():
                        yield record_number, first_line, cells
                        break
        except UnicodeDecodeError:
            raise _locate_decode_error(source) from None
        except csv.Error as exc:
            raise ImportFileError(
                f"The file is not a valid CSV near line {reader.line_num}: {exc}.",
                code="invalid_csv",
                details={"line": reader.line_num},
            ) from None

    try:
        yield rows()
    finally:
        text.detach()


def scan(source: CsvSource) -> Scan:
    """Read every row once: fatal problems surface here, before any write; also counts the rows
    (for progress), finds the last row of each repeated id, and settles the day/month order of
    `01/02/2024`."""
    result = Scan()
    id_index = next(index for index, column in source.header.mapped if column is ID_COLUMN)
    parse_id = parser_for(ID_COLUMN, day_first=False)
    date_indexes = [index for index, column in source.header.mapped if column.kind == "date"]
    last_row: dict[str, int] = {}
    repeated: set[str] = set()
    evidence: str | None = None
    with records(source) as rows:
        for record_number, _, cells in rows:
            result.rows_total += 1
            if id_index < len(cells):
                try:
                    fan_id = parse_id(cells[id_index])
                except ValueError:
                    pass
                else:
                    if fan_id in last_row:
                        repeated.add(fan_id)
                    last_row[fan_id] = record_number
            if evidence is None:
                for index in date_indexes:
                    if index < len(cells):
                        match = AMBIGUOUS_DATE.match(cells[index])
                        if match:
                            first, second = int(match[1]), int(match[2])
                            result.date_order = result.date_order or "month-first"
                            if first > 12 >= second:
                                evidence = "day-first"
                            elif second > 12 >= first:
                                evidence = "month-first"
    result.last_row_of = {fan_id: last_row[fan_id] for fan_id in repeated}
    if evidence:
        result.date_order = evidence
    result.day_first = result.date_order == "day-first"
    return result
