"""Multi-row INSERT for the few hot paths that write thousands of rows at once (a campaign's
launch). Django's bulk_create prepares every field of every row in Python, which costs more
than the database's own work at that size; these take values already prepared.

SQLite: one multi-row VALUES statement per chunk, its parameters under SQLite's limit (32,766).
PostgreSQL: one parameter per column, an array, unnested by the server
(`INSERT … SELECT * FROM unnest(%s::uuid[], …)`): psycopg parses a statement's placeholders in
Python, which for a 26,000-placeholder VALUES list costs more than the insert itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

MAX_PARAMS = 30_000


def column_of(field: Field) -> str:
    """The database column of a concrete field (only relations' reverse sides have none)."""
    if field.column is None:
        raise TypeError(f"{field!r} has no database column")
    return field.column


def concrete_field(model: type[Model], name: str) -> Field:
    """`_meta.get_field` narrowed to a field with a column (not a reverse relation)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


def insert_values(
    model: type[Model],
    fields: Sequence[Field],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """Rows of values already prepared for the database (`field.get_db_prep_save`), in `fields`
    order. `ignore_conflicts`: a row that breaks a unique constraint is left out, silently."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(column_of(field)) for field in fields)
    suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}){suffix}",
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        placeholder = f"({', '.join(['%s'] * len(fields))})"
        per_statement = max(1, MAX_PARAMS // len(fields))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "
                f"VALUES {', '.join([placeholder] * len(chunk))}{suffix}",
                [value for row in chunk for value in row],
            )


def rows_from(
    alias: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> tuple[str, list]:
    """A FROM item `alias (column, …)` holding `rows`, for an INSERT … SELECT or an UPDATE that
    reads thousands of values: one parameter, a JSON array of rows (json.dumps, in C), read by
    the server (PostgreSQL's json_array_elements, SQLite's json_each). No statement with
    thousands of placeholders for the driver to parse and bind, and no array for psycopg to
    render value by value in Python (its client-side cursor, Django's default, does). `columns`
    are (name, PostgreSQL type) pairs; on SQLite each value keeps its JSON type (an integer or a
    text), so pass values already prepared for the database (a UUID as its hex)."""
    payload = json.dumps(rows if isinstance(rows, list | tuple) else list(rows))  # tuples too
    if connection.vendor == "postgresql":
        extracted = ", ".join(
            f"(value ->> {n})::{kind} AS {name}" for n, (name, kind) in enumerate(columns)
        )
        return f"(SELECT {extracted} FROM json_array_elements(%s::json)) AS {alias}", [payload]
    extracted = ", ".join(
        f"json_extract(value, '$[{n}]') AS {name}" for n, (name, _) in enumerate(columns)
    )
    return f"(SELECT {extracted} FROM json_each(%s)) AS {alias}", [payload]


def in_ids(column: str, ids: Sequence[int]) -> tuple[str, list]:
    """`column IN ids` with one parameter, for thousands of integer ids: an array literal on
    PostgreSQL (built here: psycopg would render a list value by value), a JSON array on
    SQLite."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]
