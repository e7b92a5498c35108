"""consume_messages, redrive_dlq and cancel_message, as operators run them."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from onlyfans import queue
from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.services import MessageInput, message_send

pytestmark = pytest.mark.django_db(transaction=True)


def send(owner, account) -> OutboundMessage:
    outcome = message_send(user=owner, account=account, data=MessageInput(recipient_id="fan_9", content="hey"))
    return OutboundMessage.objects.get(pk=outcome.message.pk)


def dead_letter(message: OutboundMessage) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.DEAD_LETTERED, attempt_count=5)
    queue.send_to_dlq(str(message.pk), message.account_id, reason="HTTP 503")


def test_consume_messages_once_delivers_and_prints_a_summary(owner, account, queues, gateway, capsys):
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
    queue.delete(queue.receive(wait_seconds=1)[0].receipt_handle)
    dead_letter(message)

    call_command("redrive_dlq", "--dry-run")

    assert "would be redriven: 1" in capsys.readouterr().out
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD_LETTERED
    assert queue.attributes().dlq_count == 1


def test_redrive_dlq_moves_messages_back_and_they_get_delivered(owner, account, queues, gateway, capsys):
    from onlyfans.consumer import Consumer

    message = send(owner, account)
    queue.delete(queue.receive(wait_seconds=1)[0].receipt_handle)
    dead_letter(message)
    sent_elsewhere = send(owner, account)
    queue.delete(queue.receive(wait_seconds=1)[0].receipt_handle)
    OutboundMessage.objects.filter(pk=sent_elsewhere.pk).update(status=MessageStatus.SENT)
    queue.send_to_dlq(str(sent_elsewhere.pk), account.pk, reason="stale copy")

    call_command("redrive_dlq", "--limit", "10")

    out = capsys.readouterr().out
    assert "redriven: 1" in out and "discarded (already sent, cancelled or unknown): 1" in out
    message.refresh_from_db()
    assert (message.status, message.attempt_count) == (MessageStatus.QUEUED, 0)
    attrs = queue.attributes()
    assert (attrs.dlq_count, attrs.depth) == (0, 1)
    Consumer().run(once=True, wait_seconds=1)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_redrive_dlq_respects_its_limit(owner, account, queues):
    messages = [send(owner, account) for _ in range(3)]
    for _ in messages:
        for copy in queue.receive(wait_seconds=1):
            queue.delete(copy.receipt_handle)
    for message in messages:
        dead_letter(message)

    call_command("redrive_dlq", "--limit", "2")

    assert OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count() == 2
    assert queue.attributes().dlq_count == 1


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
