"""Review: CSV shapes that made the import lose rows or fail on a database without saying so."""

from __future__ import annotations

import io

import pytest

from crm.imports import ImportFileError, fans_import_csv
from crm.models import Fan, ImportJob

pytestmark = [pytest.mark.django_db, pytest.mark.concurrency]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def run(account, data: bytes) -> ImportJob:
    return fans_import_csv(account=account, file=io.BytesIO(data), filename="fans.csv")


@pytest.mark.parametrize(
    "data",
    [
        b'User ID,Notes\n1,"never closed\n2,bob\n3,carol\n',
        b'User ID,Notes\n1,ok\n2,"never closed',  # no newline at the end either
        b'User ID,Notes\r\n1,"never closed\r\n2,bob\r\n',
    ],
    ids=["lf", "no-final-newline", "crlf"],
)
def test_it_refuses_a_file_whose_quoted_field_is_never_closed(account, data):
    """A stray opening quote used to swallow every later row into one cell: 1 fan imported,
    the other rows gone without a word, and the counts still "adding up"."""
    with pytest.raises(ImportFileError) as caught:
        run(account, data)
    assert caught.value.code == "invalid_csv"
    assert "quote" in caught.value.message
    assert not Fan.objects.exists()
    assert not ImportJob.objects.exists()


def test_it_still_reads_quoted_fields_with_newlines_and_a_file_without_a_final_newline(account):
    job = run(account, b'User ID,Notes\n1,"two\nlines"\n2,"quoted ""word"""\n3,last')
    assert (job.rows_processed, job.created, job.failed) == (3, 3, 0)
    assert Fan.objects.get(onlyfans_user_id="1").notes == "two\nlines"
    assert Fan.objects.get(onlyfans_user_id="2").notes == 'quoted "word"'
    assert Fan.objects.get(onlyfans_user_id="3").notes == "last"


# Past the first 64 KB (where a NUL byte makes the whole file "not a CSV"), a NUL in a cell
# used to reach the database: SQLite stores it, PostgreSQL refuses the whole batch, so the
# import crashed midway with the earlier batches written.
FILLER = b"".join(b"%d,filler%d\n" % (n, n) for n in range(1, 6001))
assert len(FILLER) > 64 * 1024


@pytest.mark.parametrize(
    "header, cell",
    [
        (b"User ID,Username", b"nul\x00name"),
        (b"User ID,Notes", b"nul\x00note"),
        (b"User ID,Tags", b"vip\x00"),
    ],
    ids=["username", "notes", "tags"],
)
def test_it_fails_only_the_row_with_a_nul_character(account, header, cell):
    job = run(account, header + b"\n" + FILLER + b"9999," + cell + b"\n")
    assert job.status == "succeeded", job.error
    assert (job.rows_processed, job.created, job.failed) == (6001, 6000, 1)
    [error] = job.report["errors"]
    assert error["row"] == 6002 and "NUL" in error["message"]
    assert "\x00" not in error["value"]  # the report is stored as JSON; jsonb refuses NUL
    assert not Fan.objects.filter(onlyfans_user_id="9999").exists()
