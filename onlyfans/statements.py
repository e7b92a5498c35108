"""The dispatcher's hot statements, written out in SQL that SQLite and PostgreSQL read alike.

Every delivery runs the same eight statements (`tests/onlyfans/test_delivery_queries.py`). Built
by the ORM, each cost more Python to build (query cloning, compiling, the lookups' Q objects)
than the database spent answering it; written out here they cost a format and the driver's call.
Values still go through their fields (`get_db_prep_value` one way, the backend's converters the
other), so that a UUID or an aware datetime is stored exactly as the ORM stores it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models.expressions import Col
from django.db.transaction import TransactionManagementError, mark_for_rollback_on_error


class Sql(str):
    """A SET value that is an SQL expression over the row (`attempt_count + 1`), not a value."""


def _field(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), f"{name} is not a column of {model.__name__}"
    return field


def _column(model: type[models.Model], name: str) -> str:
    column = _field(model, name).column
    assert column is not None
    return column


def prep(model: type[models.Model], name: str, value: Any) -> Any:
    """`value` as the database driver takes it for `model`'s field `name`."""
    return _field(model, name).get_db_prep_value(value, connection)


def for_update() -> str:
    """The row-lock clause, where the database has one (SQLite's IMMEDIATE transactions already
    serialise writers). Like the ORM's `select_for_update`, only inside a transaction: outside
    one the lock would end with the statement."""
    if connection.get_autocommit():
        raise TransactionManagementError("A row lock is only held inside a transaction.")
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def update(
    model: type[models.Model], values: dict[str, Any], where: str, params: Sequence[Any]
) -> int:
    """`UPDATE <table> SET <values> WHERE <where>`; the number of rows it changed."""
    assignments, set_params = [], []
    for name, value in values.items():
        column = _column(model, name)
        if isinstance(value, Sql):
            assignments.append(f"{column} = {value}")
        else:
            assignments.append(f"{column} = %s")
            set_params.append(prep(model, name, value))
    sql = f"UPDATE {model._meta.db_table} SET {', '.join(assignments)} WHERE {where}"
    # As the ORM's update: an error inside a transaction marks it for rollback.
    with mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, [*set_params, *params])
        return cursor.rowcount


def select_one(
    model: type[models.Model], names: Iterable[str], rest: str, params: Sequence[Any]
) -> tuple | None:
    """The first row of `SELECT <names> FROM <table> WHERE <rest>` (`rest` may go on with ORDER
    BY, LIMIT and a lock), each value converted as the ORM converts it (SQLite hands back
    text)."""
    names = list(names)
    fields = [_field(model, name) for name in names]
    columns = ", ".join(_column(model, name) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {model._meta.db_table} WHERE {rest}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    return tuple(_convert(field, value) for field, value in zip(fields, row, strict=True))


def _convert(field: Any, value: Any) -> Any:
    if value is None:
        return None
    col = Col(field.model._meta.db_table, field)
    for converter in [
        *connection.ops.get_db_converters(col),
        *field.get_db_converters(connection),
    ]:
        value = converter(value, col, connection)
    return value
