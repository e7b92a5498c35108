"""Send a signed inbound event to the running server, as OnlyFans' gateway would.

    .venv/bin/python manage.py send_webhook --fan fan_123 --text "Hi, are you there?"

It builds a `message.received` event for one of your accounts, signs it with that account's
webhook secret (see crm/webhooks/ for the scheme) and POSTs it to
/api/onlyfans/webhooks/{accountId}; `--curl` prints the equivalent signed curl instead.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from crm.management.commands._account_options import account_from_options, add_account_options
from crm.webhooks import payloads, signatures
from huntaze.core.formats import iso_z
from onlyfans.models import OnlyFansAccount


class Command(BaseCommand):
    help = (
        "Sign and send a message.received webhook for an OnlyFans account to the running server "
        "(the local stack's by default), so that the inbound flow can be tried by hand."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_account_options(
            parser, required=False, default_help=" Default: the only one, or demo-creator."
        )
        parser.add_argument(
            "--fan", default="fan_123", help="The fan's OnlyFans user id (default fan_123)."
        )
        parser.add_argument(
            "--username", default=None, help="The fan's username, for a fan not yet known."
        )
        parser.add_argument("--text", default="Hi! Are you there?", help="The message's text.")
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{settings.PORT}",
            help="The server (default: this checkout's local stack).",
        )
        parser.add_argument(
            "--curl", action="store_true", help="Print a signed curl command instead of sending."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = account_from_options(options) or _default_account()
        secret = signatures.secret_for(account)
        if not secret:
            raise CommandError(
                f"Account {account.onlyfans_id} has no webhook secret: set one in the admin, "
                "or ONLYFANS_WEBHOOK_SECRET."
            )
        fan = {"onlyfansUserId": options["fan"]}
        if options["username"]:
            fan["username"] = options["username"]
        event = {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "type": payloads.MESSAGE_RECEIVED,
            "createdAt": iso_z(timezone.now()),
            "data": {
                "fan": fan,
                "message": {
                    "id": f"msg_{uuid.uuid4().hex[:16]}",
                    "content": options["text"],
                    "sentAt": iso_z(timezone.now()),
                },
            },
        }
        body = json.dumps(event).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            signatures.TIMESTAMP_HEADER: timestamp,
            signatures.SIGNATURE_HEADER: signatures.signature(secret, timestamp, body),
        }
        url = options["base_url"].rstrip("/") + reverse(
            "onlyfans-webhook", kwargs={"accountId": account.pk}
        )
        if options["curl"]:
            parts = ["curl", "-X", "POST", url]
            for name, value in headers.items():
                parts += ["-H", f"{name}: {value}"]
            parts += ["--data-binary", body.decode()]
            self.stdout.write(shlex.join(parts))
            return
        try:
            response = requests.post(url, data=body, headers=headers, timeout=10)
        except requests.RequestException as exc:
            raise CommandError(
                f"Could not reach {url}: is the server running (make run)? ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise CommandError(f"The server answered {response.status_code}: {response.text[:500]}")
        self.stdout.write(self.style.SUCCESS(f"{response.status_code} {response.text}"))


def _default_account() -> OnlyFansAccount:
    accounts = OnlyFansAccount.objects.order_by("pk")
    candidates = list(accounts[:2])
    if len(candidates) == 1:
        return candidates[0]
    demo = accounts.filter(onlyfans_id="demo-creator").first()
    if demo is None:
        raise CommandError("Name the account with --account or --onlyfans-id.")
    return demo
