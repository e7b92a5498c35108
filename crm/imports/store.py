"""Reading and upserting fans in batches with plain SQL, the import's hot path.

`Fan.objects.bulk_create(update_conflicts=True, …)` writes the same
`INSERT … ON CONFLICT (account_id, onlyfans_user_id) DO UPDATE SET …`, and a `values_list`
lookup reads the same rows, but both pass every value through the ORM's generic per-field
machinery (16 fields × 100,000 rows, twice) and bulk_create must also split each batch into
~60-row statements to stay under SQLite's 999 parameters: together most of a 100,000-row
import. Here values are adapted by the backend's own adapters (`connection.ops`, so SQLite
and PostgreSQL get what Django would send), the one prepared statement runs per row in the
driver (executemany), and stored rows are read back with small converters. The SQL is
standard: SQLite ≥ 3.24 and PostgreSQL ≥ 9.5 both run it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from crm.models import Fan
from huntaze.core.sql import column_of, concrete_field

Convert = Callable[[Any], Any]
SQLITE_CACHE_KIB = 64 * 1024
SQLITE_CHECKPOINT_PAGES = 16 * 1024  # 64 MB of 4 KB pages


def _adapter(field: models.Field) -> Convert:
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        # The parsers' datetimes are naive UTC.
        if connection.vendor == "sqlite" and connection.timezone is UTC:
            return str  # what SQLite's adapter makes of them, in one step
        return lambda value: ops.adapt_datetimefield_value(value.replace(tzinfo=UTC))
    if isinstance(field, models.DecimalField):
        digits, places = field.max_digits, field.decimal_places
        return lambda value: ops.adapt_decimalfield_value(value, digits, places)
    if isinstance(field, models.JSONField):
        return lambda value: ops.adapt_json_value(value, field.encoder)
    return _same


def _same(value: Any) -> Any:
    return value


def _reader(field: models.Field) -> Convert:
    """A stored value as the parsers produce it (drivers differ: SQLite gives text and floats)."""
    if isinstance(field, models.DateTimeField):
        stored_in = connection.timezone  # naive stored times are in the connection's zone

        def read_datetime(raw: Any) -> Any:
            """As the parsers give them: naive, in UTC."""
            if raw is None:
                return None
            if isinstance(raw, str):
                raw = datetime.fromisoformat(raw)
            if raw.tzinfo is None:
                if stored_in is UTC:
                    return raw
                raw = raw.replace(tzinfo=stored_in)
            return raw.astimezone(UTC).replace(tzinfo=None)

        return read_datetime
    if isinstance(field, models.DecimalField):
        return lambda raw: raw if raw is None or isinstance(raw, Decimal) else Decimal(str(raw))
    if isinstance(field, models.JSONField):
        return lambda raw: json.loads(raw) if isinstance(raw, str | bytes) else raw
    if isinstance(field, models.BooleanField):
        return lambda raw: raw if raw is None else bool(raw)
    return lambda raw: raw


class FanStore:
    """The fans of one account, for an import that sets `fields` (the file's columns)."""

    def __init__(self, *, account_id: int, fields: Sequence[str]) -> None:
        meta = Fan._meta
        quote = connection.ops.quote_name
        self.account_id = account_id
        column = {field.name: column_of(field) for field in meta.concrete_fields}
        compared = [concrete_field(Fan, name) for name in fields]
        self.readers = [_reader(field) for field in compared]
        # Insert columns: the account, the file's fields, then every other field at its default.
        given = [concrete_field(Fan, "onlyfans_user_id"), *compared]
        rest = [
            field
            for field in meta.concrete_fields
            if not field.primary_key
            and field not in given
            and field.name not in {"account", "created_at", "updated_at"}
        ]
        self.given = [(field.name, _adapter(field)) for field in given]
        self.constants = [
            None if (default := field.get_default()) is None else _adapter(field)(default)
            for field in rest
        ]

        table = quote(meta.db_table)
        key = f"{quote(column['account'])}, {quote(column['onlyfans_user_id'])}"
        self.select_sql = (
            f"SELECT {quote(column['onlyfans_user_id'])}"
            + "".join(f", {quote(column_of(field))}" for field in compared)
            + f" FROM {table} WHERE {quote(column['account'])} = %s"
            + f" AND {quote(column['onlyfans_user_id'])} IN "
        )
        names = [column["account"], *(column_of(f) for f in given), *(column_of(f) for f in rest)]
        names += [column["created_at"], column["updated_at"]]
        updated = [column[name] for name in fields] + [column["updated_at"]]
        self.upsert_sql = (
            f"INSERT INTO {table} ({', '.join(quote(name) for name in names)}) "
            f"VALUES ({', '.join(['%s'] * len(names))}) ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in updated)
        )

    def fetch(self, fan_ids: Sequence[str]) -> dict[str, tuple]:
        """{fan id: (value of each field in `fields`)} for the stored ones among `fan_ids`."""
        if not fan_ids:
            return {}
        readers = self.readers
        sql = self.select_sql + f"({', '.join(['%s'] * len(fan_ids))})"
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.account_id, *fan_ids])
            rows = cursor.fetchall()
        return {
            row[0]: tuple([read(raw) for read, raw in zip(readers, row[1:], strict=True)])
            for row in rows
        }

    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = connection.ops.adapt_datetimefield_value(timezone.now())  # created_at, updated_at
        head = [self.account_id]
        tail = [*self.constants, now, now]
        given = self.given
        params = [
            head
            + [None if (value := row[name]) is None else adapt(value) for name, adapt in given]
            + tail
            for row in rows
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(self.upsert_sql, params)


@contextmanager
def sqlite_bulk_mode() -> Iterator[None]:
    """For the length of an import on SQLite: a 64 MB page cache instead of 2 MB, which
    thrashes on the fan table's seven indexes, and a WAL checkpoint every 64 MB of changes
    instead of every 4 MB (each checkpoint is an fsync; durability is unchanged, commits in WAL
    mode never fsync anyway). Both are settings of this connection only, restored afterwards.
    A no-op on other databases."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint")
        autocheckpoint = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {cache_size}")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
