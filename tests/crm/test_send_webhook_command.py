"""`manage.py send_webhook`: a signed inbound event, sent to a running server, lands in the CRM."""

from __future__ import annotations

import shlex
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.models import Conversation, Message, MessageDirection
from tests.conftest import make_account
from tests.support.servers import free_port


def send_webhook(*args: str) -> str:
    out = StringIO()
    call_command("send_webhook", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_it_stores_an_inbound_message_through_the_real_endpoint(live_server, owner):
    account = make_account(owner, webhook_secret="s3cret")
    out = send_webhook(
        "--base-url",
        live_server.url,
        "--fan",
        "fan_900",
        "--username",
        "newfan",
        "--text",
        "Hello!",
    )
    assert '"status": "processed"' in out or '"status":"processed"' in out
    conversation = Conversation.objects.get(account=account, fan__onlyfans_user_id="fan_900")
    [message] = Message.objects.filter(conversation=conversation)
    assert (message.direction, message.content) == (MessageDirection.INBOUND, "Hello!")
    assert conversation.unread_count == 1


@pytest.mark.django_db(transaction=True)
def test_its_curl_is_signed_and_accepted(live_server, owner):
    make_account(owner, webhook_secret="s3cret")
    command = send_webhook("--base-url", live_server.url, "--curl", "--text", "From curl")
    assert command.startswith("curl -X POST ")
    result = subprocess.run(
        [*shlex.split(command), "-s"], capture_output=True, text=True, timeout=30
    )
    assert '"processed"' in result.stdout, result.stdout + result.stderr
    assert Message.objects.filter(content="From curl", direction=MessageDirection.INBOUND).exists()


@pytest.mark.django_db
def test_it_says_when_the_server_is_not_running(owner):
    make_account(owner, webhook_secret="s3cret")
    with pytest.raises(CommandError, match="is the server running"):
        send_webhook("--base-url", f"http://127.0.0.1:{free_port()}")


@pytest.mark.django_db
def test_it_needs_a_secret_and_a_known_account(owner, settings):
    settings.ONLYFANS_WEBHOOK_SECRET = None
    make_account(owner, onlyfans_id="acct-1")
    with pytest.raises(CommandError, match="has no webhook secret"):
        send_webhook("--onlyfans-id", "acct-1")
    with pytest.raises(CommandError, match="No OnlyFans account with OnlyFans id 'nope'"):
        send_webhook("--onlyfans-id", "nope")


@pytest.mark.django_db
def test_it_names_the_account_by_huntaze_id_or_username_or_onlyfans_id(owner):
    mine = make_account(owner, webhook_secret="s3cret", username="mine")
    # Another account whose OnlyFans id is all digits, and spells the first one's Huntaze id.
    other = make_account(owner, webhook_secret="s3cret", onlyfans_id=str(mine.pk))

    def url(*args: str) -> str:
        return shlex.split(send_webhook("--curl", *args))[3]

    assert url("--account", str(mine.pk)).endswith(f"/webhooks/{mine.pk}")
    assert url("--account", "@mine").endswith(f"/webhooks/{mine.pk}")
    assert url("--onlyfans-id", str(mine.pk)).endswith(f"/webhooks/{other.pk}")
    make_account(owner, onlyfans_id="acct-2")
    with pytest.raises(CommandError, match="'acct-2' is an OnlyFans id: pass --onlyfans-id"):
        send_webhook("--curl", "--account", "acct-2")
    with pytest.raises(CommandError):
        send_webhook("--account", "@mine", "--onlyfans-id", "acct-2")
