"""The pipeline's public services, for its API, the CRM, tasks and commands.

Accepting lives in `onlyfans/accepting.py`, the relay in `onlyfans/relay.py`, the dispatcher in
`onlyfans/scheduler.py` + `onlyfans/consumer.py`, the pace and ETA in `onlyfans/pacing.py`,
status in `onlyfans/status.py`, staff actions (cancel, redrive) in `onlyfans/delivery.py`.
"""

from __future__ import annotations

from onlyfans.accepting import (
    MessageInput,
    SendOutcome,
    ensure_enabled,
    generate_message_id,
    message_send,
    messages_send_batch,
    publish_after_commit,
    sqs_circuit,
)
from onlyfans.delivery import message_cancel, messages_cancel, messages_redrive
from onlyfans.pacing import appended_eta, message_schedules
from onlyfans.relay import PUBLISH_RETRY_DELAYS, PublishReport, messages_publish_pending

__all__ = [
    "PUBLISH_RETRY_DELAYS",
    "MessageInput",
    "PublishReport",
    "SendOutcome",
    "appended_eta",
    "ensure_enabled",
    "generate_message_id",
    "message_cancel",
    "message_schedules",
    "message_send",
    "messages_cancel",
    "messages_publish_pending",
    "messages_redrive",
    "messages_send_batch",
    "publish_after_commit",
    "sqs_circuit",
]
