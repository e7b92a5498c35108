"""The dispatcher's written-out statements store and read values exactly as the ORM does, on
SQLite and on PostgreSQL (marked `concurrency`, so `make test` runs this file on both)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from onlyfans import statements
from onlyfans.models import OnlyFansAccount
from tests.conftest import make_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_values_written_out_read_back_as_the_orm_reads_them(owner):
    account = make_account(owner)
    at = timezone.now() + timedelta(minutes=5)
    token = uuid.uuid4()

    changed = statements.update(
        OnlyFansAccount, {"wake_at": at, "wake_token": token}, "id = %s", [account.pk]
    )

    assert changed == 1
    assert OnlyFansAccount.objects.values_list("wake_at", "wake_token").get(pk=account.pk) == (
        at,
        token,
    )
    row = statements.select_one(OnlyFansAccount, ["wake_at", "wake_token"], "id = %s", [account.pk])
    assert row == (at, token)
    assert statements.select_one(OnlyFansAccount, ["wake_at"], "id = %s", [-1]) is None


def test_an_expression_is_set_as_sql_and_a_miss_changes_nothing(owner):
    account = make_account(owner, rate_limit_per_minute=10)
    limit = statements.Sql("rate_limit_per_minute + 1")

    assert (
        statements.update(
            OnlyFansAccount, {"rate_limit_per_minute": limit}, "id = %s", [account.pk]
        )
        == 1
    )
    assert statements.update(OnlyFansAccount, {"rate_limit_per_minute": 1}, "id = %s", [-1]) == 0
    account.refresh_from_db()
    assert account.rate_limit_per_minute == 11


def test_a_row_lock_is_refused_outside_a_transaction():
    with pytest.raises(TransactionManagementError):
        statements.for_update()
    with transaction.atomic():
        # SQLite has no row locks: its IMMEDIATE transactions serialise writers.
        expected = " FOR UPDATE" if connection.vendor == "postgresql" else ""
        assert statements.for_update() == expected
