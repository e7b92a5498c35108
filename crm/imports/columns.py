"""The columns a fans CSV may have, and the header aliases of the tools that export them.

Headers are matched after `normalize_header`: case, spaces and punctuation do not count, so
`User ID`, `user_id`, `userId` and `USER-ID` are one header. docs/csv-import.md shows this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    field: str  # the Fan model field
    api_name: str  # its camelCase name in reports
    kind: str  # which parser reads it: id, text, username, money, date, bool, status, tags, notes
    aliases: tuple[str, ...]  # normalized; the first ones win when a file has two of them
    max_length: int | None = None


COLUMNS: tuple[Column, ...] = (
    Column(
        "onlyfans_user_id",
        "onlyfansUserId",
        "id",
        (
            "userid",
            "fanid",
            "onlyfansuserid",
            "onlyfansid",
            "ofuserid",
            "ofid",
            "subscriberid",
            "fanuserid",
            "id",
        ),
        max_length=64,
    ),
    Column(
        "username",
        "username",
        "username",
        ("username", "fanusername", "onlyfansusername", "handle", "userhandle"),
        max_length=128,
    ),
    Column(
        "display_name",
        "displayName",
        "text",
        ("displayname", "name", "fanname", "fullname", "nickname"),
        max_length=255,
    ),
    Column(
        "subscription_status",
        "subscriptionStatus",
        "status",
        ("status", "subscriptionstatus", "substatus", "subscribestatus"),
    ),
    Column(
        "subscribed_at",
        "subscribedAt",
        "date",
        (
            "subscribedon",
            "subscribedat",
            "subscribed",
            "subscribedsince",
            "subscriptiondate",
            "subscriptionstart",
            "subscribedate",
            "joined",
            "joinedon",
            "joinedat",
            "startdate",
        ),
    ),
    Column(
        "expires_at",
        "expiresAt",
        "date",
        (
            "expires",
            "expiredat",
            "expiresat",
            "expireson",
            "expiredon",
            "expiration",
            "expirationdate",
            "expiry",
            "expirydate",
            "subscriptionend",
            "enddate",
        ),
    ),
    Column(
        "auto_renew",
        "autoRenew",
        "bool",
        (
            "autorenew",
            "autorenewal",
            "autorenewenabled",
            "renew",
            "rebill",
            "rebillon",
            "recurring",
        ),
    ),
    Column(
        "subscription_price",
        "subscriptionPrice",
        "money",
        ("subscriptionprice", "subscribeprice", "price", "subprice", "currentprice"),
    ),
    Column(
        "total_spent",
        "totalSpent",
        "money",
        (
            "totalspent",
            "totalsumm",
            "totalspend",
            "spent",
            "lifetimespend",
            "lifetimespent",
            "lifetimevalue",
            "ltv",
        ),
    ),
    Column("tips", "tips", "money", ("tips", "tipssumm", "tipstotal", "totaltips", "tipsspent")),
    Column(
        "last_seen_at",
        "lastSeenAt",
        "date",
        ("lastseen", "lastseenat", "lastseenon", "lastactive", "lastactivity", "lastonline"),
    ),
    Column("tags", "tags", "tags", ("tags", "tag", "labels", "label", "lists")),
    Column("notes", "notes", "notes", ("notes", "note", "comments", "comment", "memo")),
)

ID_COLUMN = COLUMNS[0]
_BY_ALIAS: dict[str, tuple[Column, int]] = {
    alias: (column, rank) for column in COLUMNS for rank, alias in enumerate(column.aliases)
}
_NOT_WORD = re.compile(r"[\W_]+")


def normalize_header(header: str) -> str:
    return _NOT_WORD.sub("", header.casefold())


@dataclass(frozen=True)
class HeaderMap:
    """Which cell of a row feeds which field, read from the file's header row."""

    header: list[str]
    mapped: list[tuple[int, Column]]  # (cell index, column), in file order
    unknown: list[str]  # headers that are not a known column
    ignored: list[dict]  # a second header for a field already mapped

    @property
    def has_id(self) -> bool:
        return any(column is ID_COLUMN for _, column in self.mapped)

    @property
    def recognised(self) -> int:
        return len(self.mapped)

    def fields(self) -> set[str]:
        return {column.field for _, column in self.mapped}


def map_header(header: list[str]) -> HeaderMap:
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, index)
    unknown: list[str] = []
    for index, name in enumerate(header):
        found = _BY_ALIAS.get(normalize_header(name))
        if found is None:
            if name.strip():
                unknown.append(name)
            continue
        column, rank = found
        if column.field not in best or rank < best[column.field][0]:
            best[column.field] = (rank, index)
    chosen = {index for _, index in best.values()}
    by_field = {column.field: column for column in COLUMNS}
    ignored = []
    for index, name in enumerate(header):
        found = _BY_ALIAS.get(normalize_header(name))
        if found is not None and index not in chosen:
            field = found[0].field
            ignored.append(
                {
                    "column": name,
                    "reason": f"{header[best[field][1]]!r} is already read as {found[0].api_name}.",
                }
            )
    mapped = sorted(
        ((index, by_field[field]) for field, (_, index) in best.items()), key=lambda m: m[0]
    )
    return HeaderMap(header=header, mapped=mapped, unknown=unknown, ignored=ignored)
