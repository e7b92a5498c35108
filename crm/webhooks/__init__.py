"""Inbound OnlyFans events: `POST /api/onlyfans/webhooks/{accountId}`.

Signing (the sender's side)::

    X-Huntaze-Timestamp: 1730462400                      (Unix seconds)
    X-Huntaze-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>

The secret is the account's `webhook_secret`, else ONLYFANS_WEBHOOK_SECRET. Several signatures
may be given, comma-separated (while a secret rotates). A timestamp more than
ONLYFANS_WEBHOOK_TOLERANCE_SECONDS away from now is refused, so a captured request cannot be
replayed later; within the window, the event id makes a replay change nothing.

Body::

    {"id": "evt_1", "type": "message.received", "createdAt": "2025-11-01T12:00:00Z",
     "data": {"fan": {"onlyfansUserId": "fan_123", "username": "…"},
              "message": {"id": "msg_9", "content": "hi", "mediaUrls": [], "sentAt": "…"}}}

Types: message.received (fan and conversation created when unknown; unread count up; an
archived conversation comes back to the inbox), fan.subscribed, fan.renewed, fan.expired
(data: {"fan": {…}}: the fan is created or updated).
Unknown fields are ignored (the sender may add some); known ones are checked, and a malformed
event is a 400 that writes nothing. Other types are acknowledged and ignored.
"""
