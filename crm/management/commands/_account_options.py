"""How the CRM's commands name an OnlyFans account, alike in each: `--account` is the account's
id in Huntaze (its primary key) or its username (`@name`), `--onlyfans-id` its OnlyFans id.

Two options, not one that guesses: an OnlyFans id made of digits would otherwise be read as a
Huntaze id and pick another account.
"""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from huntaze.core.ids import parse_int
from onlyfans.models import OnlyFansAccount


def add_account_options(parser: CommandParser, *, required: bool, default_help: str = "") -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--account",
        metavar="ID",
        help="The OnlyFans account: its id in Huntaze, or its username (@name)." + default_help,
    )
    group.add_argument(
        "--onlyfans-id", metavar="ID", help="The OnlyFans account, by its OnlyFans id."
    )


def account_from_options(options: dict) -> OnlyFansAccount | None:
    """The account `--account` or `--onlyfans-id` names; None when neither was given."""
    if options.get("onlyfans_id"):
        value = options["onlyfans_id"]
        found = list(OnlyFansAccount.objects.filter(onlyfans_id=value).order_by("pk"))
        if not found:
            raise CommandError(f"No OnlyFans account with OnlyFans id {value!r}.")
        return _one(value, found)
    value = options.get("account")
    if not value:
        return None
    pk = parse_int(value)
    if pk is not None:
        found = list(OnlyFansAccount.objects.filter(pk=pk))
    else:
        found = list(OnlyFansAccount.objects.filter(username=value.lstrip("@")).order_by("pk"))
    if not found:
        hint = ""
        if OnlyFansAccount.objects.filter(onlyfans_id=value).exists():
            hint = f" {value!r} is an OnlyFans id: pass --onlyfans-id {value}."
        raise CommandError(f"No OnlyFans account {value!r} (an id in Huntaze or a username).{hint}")
    return _one(value, found)


def _one(value: str, found: list[OnlyFansAccount]) -> OnlyFansAccount:
    if len(found) > 1:
        ids = ", ".join(str(account.pk) for account in found)
        raise CommandError(f"{value!r} names several accounts ({ids}); pass --account with the id.")
    return found[0]
