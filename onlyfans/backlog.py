"""The backlog's counts, read in O(accounts): how many messages each account row holds in each
counted state (`MessageStatus.counted`: pending, queued, sending, dead-lettered), per lane.

Database triggers keep them (migration 0006), so no code path can forget to: on SQLite they
update `BacklogCount` directly; on PostgreSQL each statement appends its net change to
`BacklogDelta` (no lock on a shared counter row, so no deadlock with a claim), and `fold` — run
by the relay, under its lock — moves the deltas into `BacklogCount` in one statement. A read
adds both, so it is exact whether or not the relay has run.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from onlyfans.models import BacklogCount, BacklogDelta

Key = tuple[int, str, str]  # (account row's pk, status, lane)

_COUNTS = BacklogCount._meta.db_table
_DELTAS = BacklogDelta._meta.db_table


def counts(account_ids: Iterable[int] | None = None) -> dict[Key, int]:
    """The non-zero counts of these account rows (every account's with None)."""
    where, params = "", []
    if account_ids is not None:
        ids = list(account_ids)
        if not ids:
            return {}
        where = f" WHERE account_id IN ({', '.join(['%s'] * len(ids))})"
        params = ids
    sql = (
        "SELECT account_id, status, lane, SUM(messages) FROM ("
        f"SELECT account_id, status, lane, messages FROM {_COUNTS}{where}"
        f" UNION ALL SELECT account_id, status, lane, messages FROM {_DELTAS}{where}"
        ") AS c GROUP BY account_id, status, lane"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 2)
        return {(a, s, lane): int(n) for a, s, lane, n in cursor.fetchall() if n}


def by_status(account_ids: Iterable[int] | None = None) -> dict[str, int]:
    """`counts` summed over the accounts and lanes."""
    totals: dict[str, int] = {}
    for (_, status, _), n in counts(account_ids).items():
        totals[status] = totals.get(status, 0) + n
    return totals


def fold() -> None:
    """Move PostgreSQL's deltas into the counter rows: one statement, so a concurrent read (one
    statement too) sees each delta exactly once, before or after. Nothing to do on SQLite."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH moved AS (DELETE FROM {_DELTAS} RETURNING account_id, status, lane, messages)"
            f" INSERT INTO {_COUNTS} (account_id, status, lane, messages)"
            " SELECT account_id, status, lane, SUM(messages) FROM moved"
            " GROUP BY account_id, status, lane ORDER BY account_id, status, lane"
            " ON CONFLICT (account_id, status, lane)"
            f" DO UPDATE SET messages = {_COUNTS}.messages + excluded.messages"
        )
