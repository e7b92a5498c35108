"""The import core through its service: formats, aliases, duplicates, bad rows, upserts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from crm.imports import ImportFileError, fans_import_csv
from crm.imports.services import BATCH_ROWS
from crm.models import Fan, ImportJob
from tests.conftest import make_account, make_user

# `concurrency`: also run on PostgreSQL by `make test`, for the import's own upsert SQL.
pytestmark = [pytest.mark.django_db, pytest.mark.concurrency]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def run(account, text: str | bytes, **options) -> ImportJob:
    data = text.encode() if isinstance(text, str) else text
    return fans_import_csv(account=account, file=io.BytesIO(data), filename="fans.csv", **options)


def fan(account, fan_id: str) -> Fan:
    return Fan.objects.get(account=account, onlyfans_user_id=fan_id)


def counts(job: ImportJob) -> dict[str, int]:
    return {
        "rows": job.rows_processed,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "failed": job.failed,
        "duplicates": job.duplicates,
    }


def failed_rows(job: ImportJob) -> list[list[str]]:
    with job.failed_rows_file.open("rb") as file:
        return list(csv.reader(io.StringIO(file.read().decode("utf-8-sig"), newline="")))


BASIC = "User ID,Username,Total Spent\n1,alice,10.00\n2,bob,20.50\n"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
def test_it_reads_utf8_with_and_without_a_bom(account, bom):
    job = run(account, bom + "User ID,Username,Name\n1,zoë,Zoë Ünïcode ✨\n".encode())
    assert job.created == 1 and job.failed == 0
    assert job.report["format"]["bom"] is bool(bom)
    assert fan(account, "1").display_name == "Zoë Ünïcode ✨"  # the BOM did not eat the header


def test_it_reads_crlf_line_ends(account):
    job = run(account, BASIC.replace("\n", "\r\n"))
    assert counts(job)["created"] == 2
    assert fan(account, "2").username == "bob"  # no stray \r at the end of the row


def test_it_reads_utf16_exported_by_excel(account):
    job = run(account, ("User ID\tUsername\r\n7\tcarol\r\n").encode("utf-16"))
    assert job.created == 1 and job.report["format"] == {
        "encoding": "utf-16",
        "bom": True,
        "delimiter": "\t",
        "dateOrder": None,
    }


def test_it_sniffs_semicolons_with_european_money(account):
    text = 'Fan ID;Username;Total Spent;Tips\n1;anna;1.234,56 €;12,50\n2;ben;"3,00";0\n'
    job = run(account, text)
    assert job.report["format"]["delimiter"] == ";"
    assert job.created == 2, job.report
    assert fan(account, "1").total_spent == Decimal("1234.56")
    assert fan(account, "1").tips == Decimal("12.50")
    assert fan(account, "2").total_spent == Decimal("3.00")


def test_it_honours_excels_sep_line(account):
    job = run(account, "sep=;\nUser ID;Username\n1;dora\n")
    assert job.created == 1 and fan(account, "1").username == "dora"


def test_it_keeps_quoted_fields_with_embedded_newlines_and_counts_rows_as_records(account):
    text = (
        "User ID,Notes,Total Spent\n"
        '1,"line one\nline two, with a comma\nand ""quotes""",5\n'
        "2,plain,-3\n"
    )
    job = run(account, text)
    assert fan(account, "1").notes == 'line one\nline two, with a comma\nand "quotes"'
    [error] = job.report["errors"]
    # Row 3 is the third record (what a spreadsheet shows); it starts on line 5 of the text.
    assert (error["row"], error["line"], error["column"]) == (3, 5, "Total Spent")


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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", "12"),
        ("12.5", "12.50"),
        ("$1,234.56", "1234.56"),
        ("1,234,567.89", "1234567.89"),
        ("USD 45", "45"),
        ("€ 9,99", "9.99"),
        ("1.234,56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("£0.99", "0.99"),
        ("", "0"),
        ("  7.00  ", "7"),
    ],
)
def test_it_reads_money_as_people_write_it(account, raw, expected):
    job = run(account, f'User ID,Total Spent\n1,"{raw}"\n')
    assert job.failed == 0, job.report["errors"]
    assert fan(account, "1").total_spent == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024-03-05T10:20:30Z", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-05T12:20:30+02:00", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-05 10:20", datetime(2024, 3, 5, 10, 20, tzinfo=UTC)),
        ("2024/03/05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("03/05/2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("3/5/24 9:15 PM", datetime(2024, 3, 5, 21, 15, tzinfo=UTC)),
        ("05.03.2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("Mar 5, 2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("March 5 2024 10:20 am", datetime(2024, 3, 5, 10, 20, tzinfo=UTC)),
        ("5 Mar 2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("Tue, 5 Mar 2024 10:20:30 GMT", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("1709634030", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("1709634030000", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
    ],
)
def test_it_reads_common_date_formats(account, raw, expected):
    job = run(account, f'User ID,Subscribed On\n1,"{raw}"\n')
    assert job.failed == 0, job.report["errors"]
    assert fan(account, "1").subscribed_at == expected


def test_it_reads_slash_dates_day_first_when_the_file_shows_it(account):
    job = run(account, "User ID,Subscribed On\n1,04/03/2024\n2,25/12/2023\n")
    assert job.report["format"]["dateOrder"] == "day-first"
    assert fan(account, "1").subscribed_at == datetime(2024, 3, 4, tzinfo=UTC)


def test_it_reads_slash_dates_month_first_by_default(account):
    job = run(account, "User ID,Subscribed On\n1,04/03/2024\n")
    assert job.report["format"]["dateOrder"] == "month-first"
    assert fan(account, "1").subscribed_at == datetime(2024, 4, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "header",
    [
        "User ID,Username,Name,Subscribed On,Expires,Total Spent,Tips,Status,Tags,Notes,Last Seen",
        "id,username,displayName,subscribedOn,expiredAt,totalSumm,tipsSumm,status,tags,notes,lastSeen",
        "FAN ID,user name,DISPLAY NAME,subscribed_on,expires ,total spent,TIPS,Status ,Tags,NOTES,"
        "last-seen",
        "Fan Id,Handle,Full Name,Subscription Date,Expiration Date,Total Spent ($),Tips Total,"
        "Subscription Status,Labels,Comments,Last Active",
    ],
)
def test_it_matches_header_aliases_whatever_their_case_and_spaces(account, header):
    row = "42,@zed,Zed,2024-01-02,2030-01-02,$100.00,$5.00,active,vip;whale,hi,2024-06-01"
    job = run(account, f"{header}\n{row}\n")
    assert job.report["unknownColumns"] == []
    assert len(job.report["columns"]) == 11
    stored = fan(account, "42")
    assert (stored.username, stored.display_name, stored.total_spent, stored.tips) == (
        "zed",
        "Zed",
        Decimal("100.00"),
        Decimal("5.00"),
    )
    assert stored.subscribed_at == datetime(2024, 1, 2, tzinfo=UTC)
    assert stored.expires_at == datetime(2030, 1, 2, tzinfo=UTC)
    assert stored.last_seen_at == datetime(2024, 6, 1, tzinfo=UTC)
    assert (stored.subscription_status, stored.tags, stored.notes) == (
        "active",
        ["vip", "whale"],
        "hi",
    )


def test_it_reads_price_and_auto_renew(account):
    run(account, "User ID,Price,Auto-Renew\n1,$4.99,Yes\n2,0,off\n")
    assert (fan(account, "1").subscription_price, fan(account, "1").auto_renew) == (
        Decimal("4.99"),
        True,
    )
    assert fan(account, "2").auto_renew is False


def test_it_reports_unknown_columns_and_imports_the_rest(account):
    job = run(account, "User ID,Country,Username,Favourite Colour\n1,FR,eve,blue\n")
    assert job.report["unknownColumns"] == ["Country", "Favourite Colour"]
    assert job.created == 1 and fan(account, "1").username == "eve"


def test_it_prefers_the_most_specific_of_two_id_columns(account):
    job = run(account, "id,User ID,Username\n9001,55,frank\n")
    assert fan(account, "55").username == "frank"
    assert job.report["ignoredColumns"][0]["column"] == "id"


def test_it_derives_the_status_from_the_expiry_date_when_none_is_given(account):
    run(account, "User ID,Expires,Status\n1,2020-01-01,\n2,2099-01-01,\n3,2020-01-01,active\n")
    assert [fan(account, i).subscription_status for i in "123"] == ["expired", "active", "active"]


def test_it_reports_duplicates_in_the_file_and_the_last_row_wins(account):
    text = "User ID,Username,Total Spent\n1,first,1\n2,other,2\n1,second,3\n1,third,4\n"
    job = run(account, text)
    # The superseded rows change nothing: they count as unchanged; created counts real fans.
    assert counts(job) == {
        "rows": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 2,
        "failed": 0,
        "duplicates": 2,
    }
    assert job.report["duplicateRows"] == [
        {"row": 2, "onlyfansUserId": "1", "supersededByRow": 5},
        {"row": 4, "onlyfansUserId": "1", "supersededByRow": 5},
    ]
    assert (fan(account, "1").username, fan(account, "1").total_spent) == ("third", Decimal("4"))
    assert Fan.objects.filter(account=account).count() == 2


def test_it_lets_the_last_duplicate_win_across_batches(account):
    run(account, "User ID,Username,Total Spent\n5,stored,0\n")
    rows = [f"{n},user{n},1" for n in range(1, BATCH_ROWS * 2)]
    rows.append("5,renamed,99")
    job = run(account, "User ID,Username,Total Spent\n" + "\n".join(rows) + "\n")
    assert (job.duplicates, job.created, job.updated, job.unchanged) == (1, len(rows) - 2, 1, 1)
    assert (fan(account, "5").username, fan(account, "5").total_spent) == ("renamed", Decimal("99"))


def test_it_keeps_the_stored_fan_when_the_last_duplicate_fails(account):
    run(account, "User ID,Username,Total Spent\n1,stored,1\n")
    job = run(account, "User ID,Username,Total Spent\n1,earlier,2\n1,broken,-2\n")
    assert (job.unchanged, job.failed, job.duplicates) == (1, 1, 1)
    assert fan(account, "1").username == "stored"


def test_it_reports_bad_rows_with_row_column_and_reason_and_imports_the_good_ones(account):
    text = (
        "User ID,Username,Subscribed On,Total Spent\n"
        "1,ok,2024-01-01,5\n"
        ",no_id,2024-01-01,5\n"
        "3,bad_date,2024-02-30,5\n"
        "4,negative,2024-01-01,-$20.00\n"
        "5,two_problems,yesterday,(3.00)\n"
    )
    job = run(account, text)
    assert counts(job) == {
        "rows": 5,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "failed": 4,
        "duplicates": 0,
    }
    found = [(e["row"], e["column"], e["field"], e["message"]) for e in job.report["errors"]]
    assert found == [
        (3, "User ID", "onlyfansUserId", "User ID is required"),
        (4, "Subscribed On", "subscribedAt", "Subscribed On is not a real date"),
        (5, "Total Spent", "totalSpent", "Total Spent must not be negative"),
        (6, "Subscribed On", "subscribedAt", "Subscribed On is not a date"),
        (6, "Total Spent", "totalSpent", "Total Spent must not be negative"),
    ]
    assert list(Fan.objects.filter(account=account).values_list("onlyfans_user_id", flat=True)) == [
        "1"
    ]
    rows = failed_rows(job)
    assert rows[0] == [
        "Import Row",
        "Import Errors",
        "User ID",
        "Username",
        "Subscribed On",
        "Total Spent",
    ]
    assert [row[0] for row in rows[1:]] == ["3", "4", "5", "6"]
    assert rows[4][1] == "Subscribed On is not a date; Total Spent must not be negative"
    assert rows[2][2:] == ["3", "bad_date", "2024-02-30", "5"]


def test_it_neutralises_formulas_in_the_failed_rows_file(account):
    text = 'User ID,Notes,Total Spent,Username\n1,"=HYPERLINK(""http://x"")",-1,+cmd\n2,@SUM(A1),-5,"\tx"\n'
    job = run(account, text)
    rows = failed_rows(job)
    assert rows[1][2:] == ["1", '\'=HYPERLINK("http://x")', "'-1", "'+cmd"]
    assert rows[2][2:] == ["2", "'@SUM(A1)", "'-5", "'\tx"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_it_counts_a_reimport_of_the_same_file_as_all_unchanged(account):
    text = (
        "User ID,Username,Name,Subscribed On,Expires,Total Spent,Tips,Status,Tags,Notes,Last Seen,"
        "Auto-Renew,Price\n"
        '1,a,A,2024-01-01 10:00,2030-01-01,"$1,000.10",1.5,active,"x,y","multi\nline",'
        "1717000000,yes,9.99\n"
        "2,b,B,03/04/2024,,0,0,,,,,no,0\n"
    )
    first = run(account, text)
    assert first.created == 2
    again = run(account, text)
    assert counts(again) == {
        "rows": 2,
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "failed": 0,
        "duplicates": 0,
    }


def test_it_updates_changed_fans_and_leaves_fields_without_a_column_alone(account):
    run(account, "User ID,Username,Total Spent,Tags\n1,a,5,vip\n2,b,6,\n")
    job = run(account, "User ID,Total Spent\n1,5\n2,7.25\n3,1\n")
    assert (job.created, job.updated, job.unchanged) == (1, 1, 1)
    assert (fan(account, "2").username, fan(account, "2").total_spent) == ("b", Decimal("7.25"))
    assert fan(account, "1").tags == ["vip"]


def test_it_writes_nothing_on_a_dry_run_and_reports_what_it_would_do(account):
    run(account, "User ID,Username\n1,old\n")
    before = list(Fan.objects.values_list("onlyfans_user_id", "username", "updated_at"))
    text = "User ID,Username,Total Spent\n1,new,1\n2,fresh,2\n2,fresher,3\n,missing,1\n"
    job = run(account, text, dry_run=True)
    assert counts(job) == {
        "rows": 4,
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "failed": 1,
        "duplicates": 1,
    }
    assert job.dry_run is True
    assert list(Fan.objects.values_list("onlyfans_user_id", "username", "updated_at")) == before
    real = run(account, text)
    assert counts(real) == counts(job)


def test_it_imports_into_the_given_account_only(account, owner):
    other = make_account(make_user())
    run(other, "User ID,Username\n1,theirs\n")
    job = run(account, "User ID,Username\n1,mine\n")
    assert job.created == 1
    assert fan(other, "1").username == "theirs"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_csv"),
        (b"PK\x03\x04\x14\x00\x06\x00", "not_csv"),
        (b'[{"id": 1}]', "not_csv"),
        ("User ID,Name\n1,Andr\xe9\n".encode("latin-1"), "not_utf8"),
        (b"Username,Total Spent\nalice,5\n", "missing_id_column"),
        (b'User ID,Notes\n1,"ok"\n2,\x00bad\n', "not_csv"),
    ],
)
def test_it_refuses_unusable_files_and_writes_nothing(account, content, code):
    with pytest.raises(ImportFileError) as caught:
        run(account, content)
    assert caught.value.code == code
    assert Fan.objects.count() == 0 and ImportJob.objects.count() == 0


def test_it_finds_an_undecodable_byte_far_into_the_file_before_writing(account):
    good = "".join(f"{n},user{n}\n" for n in range(1, 20000)).encode()
    content = b"User ID,Username\n" + good + b"20000,caf\xe9\n"
    with pytest.raises(ImportFileError) as caught:
        run(account, content)
    assert caught.value.code == "not_utf8"
    assert caught.value.details == {"line": 20001}
    assert Fan.objects.count() == 0


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


def test_it_refuses_a_file_over_the_size_limit(account, settings):
    settings.IMPORT_MAX_BYTES = 20
    with pytest.raises(ImportFileError) as caught:
        run(account, BASIC)
    assert (caught.value.code, caught.value.status_code) == ("file_too_large", 413)


_cells = st.sampled_from(["", "1", "2", "3", "4"])
_money = st.sampled_from(["0", "5", "$1,234.56", "-1", "abc", ""])
_dates = st.sampled_from(["", "2024-01-01", "01/02/2024", "2024-13-45", "soon"])


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_cells, _money, _dates, st.sampled_from(["a", "b"])), max_size=25))
def test_it_always_counts_every_row_once_and_stores_each_ids_last_row(owner, rows):
    account = make_account(owner)
    run(account, "User ID,Total Spent,Subscribed On,Username\n1,0,,a\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["User ID", "Total Spent", "Subscribed On", "Username"])
    writer.writerows(rows)
    job = run(account, buffer.getvalue())
    read = [row for row in rows if any(row)]
    assert job.created + job.updated + job.unchanged + job.failed == job.rows_processed == len(read)

    def valid(row) -> bool:
        return (
            bool(row[0])
            and row[1] in {"0", "5", "$1,234.56", ""}
            and row[2] in {"", "2024-01-01", "01/02/2024"}
        )

    last = {row[0]: row for row in read if row[0]}
    winners = [row for row in last.values() if valid(row)]
    assert job.failed == sum(1 for row in last.values() if not valid(row)) + sum(
        1 for row in read if not row[0]
    )
    assert job.duplicates == sum(1 for row in read if row[0]) - len(last)
    assert job.created == len([row for row in winners if row[0] != "1"])
    for row in winners:
        assert fan(account, row[0]).username == row[3]
    assert Fan.objects.filter(account=account).count() == len({row[0] for row in winners} | {"1"})


def test_it_lists_the_first_errors_and_says_when_there_were_more(account, monkeypatch):
    from crm.imports import services as service

    monkeypatch.setattr(service, "MAX_REPORTED", 3)
    job = run(account, "User ID,Total Spent,Tips\n1,-1,-1\n2,-2,-2\n3,x,y\n")
    assert job.failed == 3 and len(job.report["errors"]) == 3
    assert job.report["errorsTruncated"] is True
    assert len(failed_rows(job)) == 4  # the file has every failed row


def test_it_marks_the_job_failed_when_an_import_stops_midway(account, monkeypatch):
    from crm.imports import services as service
    from crm.imports.store import FanStore

    monkeypatch.setattr(service, "BATCH_ROWS", 2)
    real_upsert = FanStore.upsert
    calls = []

    def upsert_then_crash(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real_upsert(self, rows)

    monkeypatch.setattr(FanStore, "upsert", upsert_then_crash)
    with pytest.raises(RuntimeError):
        run(account, "User ID\n1\n2\n3\n4\n5\n")
    job = ImportJob.objects.get()
    assert job.status == "failed" and "after 2 rows" in job.error
    assert sorted(Fan.objects.values_list("onlyfans_user_id", flat=True)) == ["1", "2"]
