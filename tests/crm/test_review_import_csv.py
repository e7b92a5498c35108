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
