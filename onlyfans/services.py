"""The pipeline's public services (its writes), for its API, the CRM, tasks and commands; its
reads are in `onlyfans/selectors.py`.

Accepting lives in `onlyfans/accepting.py`, campaigns' bulk lane in `onlyfans/bulk.py`, the relay
in `onlyfans/relay.py`, the dispatcher in `onlyfans/dispatcher.py` (its claims in
`onlyfans/scheduler.py`, the consumer's loop around it in `onlyfans/consumer.py`), the pace and
ETA in `onlyfans/pacing.py`, status in `onlyfans/status.py`, staff actions (cancel, redrive) in
`onlyfans/delivery.py`.
"""

from __future__ import annotations

from onlyfans.accepting import (
    MessageInput,
    SendOutcome,
    ensure_account_active,
    ensure_enabled,
    message_send,
    messages_send_batch,
    publish_after_commit,
    sqs_circuit,
)
from onlyfans.bulk import (
    HOLD_UNTIL,
    arm_in_transaction,
    messages_enqueue_bulk,
    messages_hold,
    messages_release,
)
from onlyfans.delivery import message_cancel, messages_cancel, messages_redrive
from onlyfans.relay import PublishReport, messages_publish_pending

__all__ = [
    "HOLD_UNTIL",
    "MessageInput",
    "PublishReport",
    "SendOutcome",
    "arm_in_transaction",
    "ensure_account_active",
    "ensure_enabled",
    "message_cancel",
    "message_send",
    "messages_cancel",
    "messages_enqueue_bulk",
    "messages_hold",
    "messages_publish_pending",
    "messages_redrive",
    "messages_release",
    "messages_send_batch",
    "publish_after_commit",
    "sqs_circuit",
]
