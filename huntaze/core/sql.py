"""Hand-written SQL for the few hot paths that read or write thousands of rows at once (a
campaign's launch, the CSV import). Django's bulk_create prepares every field of every row in
Python, which costs more than the database's own work at that size; these take values already
prepared, in one parameter: psycopg parses a statement's placeholders in Python, which for a
26,000-placeholder VALUES list costs more than the statement itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model


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
