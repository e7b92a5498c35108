"""manage.py import_fans_csv: the same import core as the API, from a shell."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crm.models import Fan, ImportJob
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "fans-sample.csv"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_fans_csv", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_the_sample_and_prints_honest_counts(account, tmp_path):
    failed_copy = tmp_path / "failed.csv"
    out, err = command(str(SAMPLE), "--account", str(account.pk), "--failed-rows", str(failed_copy))
    assert (
        f"Imported 12 rows into @{account.username}: 7 created, 0 updated, 1 unchanged, 4 failed."
        in out
    )
    assert "1 row was superseded by a later row with the same fan id" in out
    assert "Columns not imported (unknown): Country" in out
    assert "row 10: Subscribed On is not a real date ('2024-02-30')" in out
    assert f"Failed rows: {failed_copy}" in out
    assert "rows" in err  # the progress bar
    rows = list(csv.reader(io.StringIO(failed_copy.read_text(encoding="utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == ["9", "10", "11", "12"]
    assert Fan.objects.filter(account=account).count() == 7
    assert ImportJob.objects.get().failed == 4  # recorded like an API import, visible in admin


def test_it_finds_the_account_by_username(account):
    out, _ = command(str(SAMPLE), "--account", f"@{account.username}", "--no-progress")
    assert "7 created" in out


def test_it_checks_without_writing_on_a_dry_run(account):
    out, _ = command(str(SAMPLE), "--account", str(account.pk), "--dry-run")
    assert out.startswith("Checked (dry run, nothing written) 12 rows")
    assert Fan.objects.count() == 0


def test_it_prints_the_report_as_json(account):
    out, _ = command(str(SAMPLE), "--account", str(account.pk), "--json", "--no-progress")
    report = json.loads(out)
    assert (report["created"], report["failed"], report["rowsRead"]) == (7, 4, 12)


def test_it_updates_from_a_second_file(account, tmp_path):
    command(str(SAMPLE), "--account", str(account.pk))
    update = tmp_path / "update.csv"
    update.write_text("Fan ID;Total Spent\n100001;1 500,00 €\n100006;$2,000\n", encoding="utf-8")
    out, _ = command(str(update), "--account", str(account.pk))
    assert "0 created, 1 updated, 1 unchanged, 0 failed" in out
    assert Fan.objects.get(onlyfans_user_id="100001").total_spent == Decimal("1500.00")


def test_it_stops_on_a_file_without_an_id_column(account, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Username,Total Spent\nalice,5\n")
    with pytest.raises(CommandError, match="no fan id column"):
        command(str(bad), "--account", str(account.pk))
    assert Fan.objects.count() == 0 and ImportJob.objects.count() == 0


def test_an_all_digit_onlyfans_id_is_named_with_onlyfans_id_not_read_as_a_huntaze_id(owner):
    first = make_account(owner)
    # Its OnlyFans id spells the first account's Huntaze id.
    second = make_account(owner, onlyfans_id=str(first.pk))

    command(str(SAMPLE), "--onlyfans-id", str(first.pk), "--no-progress")
    assert Fan.objects.filter(account=second).exists()
    assert not Fan.objects.filter(account=first).exists()

    command(str(SAMPLE), "--account", str(first.pk), "--no-progress")
    assert Fan.objects.filter(account=first).exists()


def test_it_points_an_onlyfans_id_given_as_account_to_onlyfans_id(owner):
    make_account(owner, onlyfans_id="of-creator")
    with pytest.raises(CommandError, match="'of-creator' is an OnlyFans id: pass --onlyfans-id"):
        command(str(SAMPLE), "--account", "of-creator")
    with pytest.raises(CommandError, match="No OnlyFans account with OnlyFans id 'nope'"):
        command(str(SAMPLE), "--onlyfans-id", "nope")
    assert ImportJob.objects.count() == 0


def test_it_stops_on_an_unknown_or_ambiguous_account(owner):
    # "²" passes str.isdigit() but int() refuses it; 23 digits overflow a 64-bit id.
    for unknown in ("999999", "²", "99999999999999999999999"):
        with pytest.raises(CommandError, match="No OnlyFans account"):
            command(str(SAMPLE), "--account", unknown)
    make_account(owner, username="twin")
    make_account(owner, username="twin")
    with pytest.raises(CommandError, match="several accounts"):
        command(str(SAMPLE), "--account", "twin")
