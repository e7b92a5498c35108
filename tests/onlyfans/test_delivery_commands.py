"""consume_messages, redrive_dlq and cancel_message, as operators run them."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from onlyfans import sqs
from onlyfans.models import MessageStatus, OutboundMessage
from tests.support.delivery import send

pytestmark = pytest.mark.django_db(transaction=True)


def settle_wake() -> None:
    """What a consumer does once an account has nothing left: its wake-up is deleted, and the
    account no longer has one armed."""
    from onlyfans.models import OnlyFansAccount

    for copy in sqs.receive(wait_seconds=1):
        sqs.delete(copy.receipt_handle)
    OnlyFansAccount.objects.update(wake_at=None, wake_token=None)


def dead_letter(message: OutboundMessage) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.DEAD_LETTERED, attempt_count=5
    )
    sqs.send_to_dlq(str(message.pk), message.account_id, reason="HTTP 503")


def test_consume_messages_once_delivers_and_prints_a_summary(
    owner, account, queues, gateway, capsys
):
    message = send(owner, account)
    call_command("consume_messages", "--once", "--wait-seconds", "1")
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert "sent 1" in capsys.readouterr().out


def test_consume_messages_fails_clearly_when_sqs_is_down(sqs_down):
    with pytest.raises(CommandError, match="queue cannot be reached"):
        call_command("consume_messages", "--once", "--wait-seconds", "0")


@pytest.mark.parametrize("args", [["--max-messages", "0"], ["--wait-seconds", "21"]])
def test_consume_messages_rejects_bad_options(args, queues):
    with pytest.raises(CommandError):
        call_command("consume_messages", "--once", *args)


def test_redrive_dlq_dry_run_changes_nothing(owner, account, queues, capsys):
    message = send(owner, account)
    settle_wake()
    dead_letter(message)

    call_command("redrive_dlq", "--dry-run")

    assert "would be redriven: 1" in capsys.readouterr().out
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD_LETTERED
    assert sqs.attributes().dlq_count == 1


def test_redrive_dlq_moves_messages_back_and_they_get_delivered(
    owner, account, queues, gateway, capsys
):
    from onlyfans.consumer import Consumer

    message = send(owner, account)
    settle_wake()
    dead_letter(message)
    sent_elsewhere = send(owner, account)
    settle_wake()
    OutboundMessage.objects.filter(pk=sent_elsewhere.pk).update(status=MessageStatus.SENT)
    sqs.send_to_dlq(str(sent_elsewhere.pk), account.pk, reason="stale copy")

    call_command("redrive_dlq", "--limit", "10")

    out = capsys.readouterr().out
    assert "redriven: 1" in out and "discarded (already sent, cancelled or unknown): 1" in out
    message.refresh_from_db()
    assert (message.status, message.attempt_count) == (MessageStatus.QUEUED, 0)
    attrs = sqs.attributes()
    assert (attrs.dlq_count, attrs.depth) == (0, 1)
    Consumer().run(once=True, wait_seconds=1)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_redrive_dlq_respects_its_limit(owner, account, queues):
    messages = [send(owner, account) for _ in range(3)]
    settle_wake()
    for message in messages:
        dead_letter(message)

    call_command("redrive_dlq", "--limit", "2")

    assert OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count() == 2
    assert sqs.attributes().dlq_count == 1


def test_redrive_dlq_fails_clearly_when_sqs_is_down(sqs_down):
    with pytest.raises(CommandError, match="queue cannot be reached"):
        call_command("redrive_dlq")


def test_cancel_message_refuses_what_it_cannot_cancel(owner, account, queues):
    message = send(owner, account)
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.SENT)
    with pytest.raises(CommandError, match="only pending or queued"):
        call_command("cancel_message", str(message.pk))
    with pytest.raises(CommandError, match="not a message id"):
        call_command("cancel_message", "nope")
    with pytest.raises(CommandError, match="No message"):
        call_command("cancel_message", "00000000-0000-0000-0000-000000000000")


def test_every_command_has_help(capsys):
    for name in ["consume_messages", "redrive_dlq", "cancel_message"]:
        with pytest.raises(SystemExit) as exit_info:
            call_command(name, "--help")
        assert exit_info.value.code == 0
    assert "--dry-run" in capsys.readouterr().out
