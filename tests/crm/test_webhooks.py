"""POST /api/onlyfans/webhooks/{accountId}: signatures, the replay window, idempotency, events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from crm.models import Conversation, Fan, Message, WebhookEvent
from tests.crm.factories import MALFORMED_IDS, error_of, make_conversation, make_fan, sign, url_id

SECRET = "test-webhook-secret"  # tests/settings.py sets ONLYFANS_WEBHOOK_SECRET to this


def message_event(
    event_id="evt_1", fan_id="fan_42", message_id="msg_1", content="hey there", **extra
) -> dict:
    return {
        "id": event_id,
        "type": "message.received",
        "createdAt": "2025-11-01T12:00:00Z",
        "data": {
            "fan": {"onlyfansUserId": fan_id, "username": "newfan", "displayName": "New Fan"},
            "message": {
                "id": message_id,
                "content": content,
                "sentAt": "2025-11-01T11:59:58Z",
                **extra,
            },
        },
    }


def fan_event(event_type: str, event_id="evt_f", **fan) -> dict:
    return {"id": event_id, "type": event_type, "createdAt": "2025-11-01T12:00:00Z",
            "data": {"fan": {"onlyfansUserId": "fan_42", **fan}}}  # fmt: skip


def deliver(
    account, payload, *, secret=SECRET, timestamp=None, headers=None, raw: bytes | None = None
):
    body = raw if raw is not None else json.dumps(payload).encode()
    signed = sign(secret, body, timestamp) if headers is None else headers
    return APIClient().post(
        f"/api/onlyfans/webhooks/{account.pk}", data=body, content_type="application/json", **signed
    )


def nothing_written() -> bool:
    return not (
        Fan.objects.exists()
        or Conversation.objects.exists()
        or Message.objects.exists()
        or WebhookEvent.objects.exists()
    )


# --- Signatures and the replay window -----------------------------------------------------------
def test_it_accepts_a_correctly_signed_event(account):
    response = deliver(account, message_event())
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "processed",
        "eventId": "evt_1",
        "type": "message.received",
    }


def test_it_rejects_a_wrong_signature_and_writes_nothing(account):
    error = error_of(
        deliver(account, message_event(), secret="not-the-secret"), 401, "invalid_signature"
    )
    assert "signature" in error["message"]
    assert nothing_written()


def test_it_rejects_a_body_changed_after_signing(account):
    body = json.dumps(message_event()).encode()
    headers = sign(SECRET, body)
    tampered = body.replace(b"hey there", b"pay me now")
    error_of(deliver(account, None, raw=tampered, headers=headers), 401, "invalid_signature")
    assert nothing_written()


@pytest.mark.parametrize("drop", ["HTTP_X_HUNTAZE_TIMESTAMP", "HTTP_X_HUNTAZE_SIGNATURE"])
def test_it_rejects_a_request_missing_a_signature_header(account, drop):
    body = json.dumps(message_event()).encode()
    headers = sign(SECRET, body)
    del headers[drop]
    error_of(deliver(account, None, raw=body, headers=headers), 401, "invalid_signature")
    assert nothing_written()


def test_it_rejects_a_signature_without_the_timestamp_bound_in(account):
    """Signing the body alone is not enough: the timestamp is part of what is signed."""
    import hashlib
    import hmac

    body = json.dumps(message_event()).encode()
    body_only = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "HTTP_X_HUNTAZE_TIMESTAMP": str(int(time.time())),
        "HTTP_X_HUNTAZE_SIGNATURE": f"sha256={body_only}",
    }
    error_of(deliver(account, None, raw=body, headers=headers), 401, "invalid_signature")


@pytest.fixture
def clock(monkeypatch) -> int:
    """The signature check's clock, pinned: a timestamp one second past the window stays past it
    however long the request takes on a loaded machine."""
    from types import SimpleNamespace

    from crm.webhooks import signatures

    now = int(time.time())
    monkeypatch.setattr(signatures, "time", SimpleNamespace(time=lambda: float(now)))
    return now


@pytest.mark.parametrize("offset", [-301, -3600, 301])
def test_it_rejects_a_timestamp_outside_the_window_even_when_signed(account, clock, offset):
    response = deliver(account, message_event(), timestamp=clock + offset)
    error = error_of(response, 401, "timestamp_out_of_range")
    assert "300" in error["message"]
    assert nothing_written()


def test_it_accepts_a_timestamp_inside_the_window(account, clock):
    assert deliver(account, message_event(), timestamp=clock - 300).status_code == 200


def test_it_honours_the_configured_tolerance(account, settings, clock):
    settings.ONLYFANS_WEBHOOK_TOLERANCE_SECONDS = 30
    error_of(
        deliver(account, message_event(), timestamp=clock - 31),
        401,
        "timestamp_out_of_range",
    )


def test_it_rejects_a_non_numeric_timestamp(account):
    body = json.dumps(message_event()).encode()
    headers = sign(SECRET, body)
    headers["HTTP_X_HUNTAZE_TIMESTAMP"] = "yesterday"
    error_of(deliver(account, None, raw=body, headers=headers), 401, "invalid_signature")


# Headers are attacker-controlled (the endpoint is unauthenticated): odd ones are a 401, never a
# 500.
# WSGI servers decode header bytes as latin-1: a byte above 0x7F arrives as a non-ASCII str.
@pytest.mark.parametrize("signature", ["sha256=\xe9", "sha256=abc,\xff\xfe", "\xa0"])
def test_it_rejects_a_signature_header_with_non_ascii_bytes(account, signature):
    body = json.dumps(fan_event("fan.renewed")).encode()
    headers = {
        "HTTP_X_HUNTAZE_TIMESTAMP": str(int(time.time())),
        "HTTP_X_HUNTAZE_SIGNATURE": signature,
    }
    error_of(deliver(account, None, raw=body, headers=headers), 401, "invalid_signature")
    assert not WebhookEvent.objects.exists()


# Even correctly signed, a timestamp that is not plain Unix seconds is refused, not a crash:
# "²" passes str.isdigit() but not int(); 400 digits overflow a float; 5000 exceed int()'s limit.
@pytest.mark.parametrize("timestamp", ["\xb2", "\u0661\u0662", "9" * 400, "1" * 5000])
def test_it_rejects_a_signed_timestamp_that_is_not_unix_seconds(account, timestamp):
    body = json.dumps(fan_event("fan.renewed")).encode()
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"HTTP_X_HUNTAZE_TIMESTAMP": timestamp, "HTTP_X_HUNTAZE_SIGNATURE": f"sha256={mac}"}
    error = error_of(deliver(account, None, raw=body, headers=headers), 401)
    assert error["code"] in {"invalid_signature", "timestamp_out_of_range"}, error
    assert not WebhookEvent.objects.exists()


def test_it_uses_the_accounts_own_secret_when_it_has_one(account):
    account.webhook_secret = "per-account-secret"
    account.save()
    error_of(deliver(account, message_event(), secret=SECRET), 401, "invalid_signature")
    assert deliver(account, message_event(), secret="per-account-secret").status_code == 200


def test_it_accepts_any_of_several_signatures_while_a_secret_rotates(account):
    body = json.dumps(message_event()).encode()
    stamp = int(time.time())
    old = sign("old-secret", body, stamp)["HTTP_X_HUNTAZE_SIGNATURE"]
    new = sign(SECRET, body, stamp)["HTTP_X_HUNTAZE_SIGNATURE"]
    headers = {"HTTP_X_HUNTAZE_TIMESTAMP": str(stamp), "HTTP_X_HUNTAZE_SIGNATURE": f"{old}, {new}"}
    assert deliver(account, None, raw=body, headers=headers).status_code == 200


def test_it_answers_503_when_no_secret_is_configured(account, settings):
    settings.ONLYFANS_WEBHOOK_SECRET = None
    error_of(deliver(account, message_event()), 503, "webhook_not_configured")
    assert nothing_written()


@pytest.mark.parametrize("account_id", ["999999", *MALFORMED_IDS])
def test_it_answers_404_for_an_unknown_account(db, account_id):
    body = json.dumps(message_event()).encode()
    response = APIClient().post(
        f"/api/onlyfans/webhooks/{url_id(account_id)}",
        data=body,
        content_type="application/json",
        **sign(SECRET, body),
    )
    error_of(response, 404, "not_found")


def test_it_needs_no_jwt_but_ignores_one(account, api):
    body = json.dumps(message_event()).encode()
    response = api.post(
        f"/api/onlyfans/webhooks/{account.pk}/",
        data=body,
        content_type="application/json",
        **sign(SECRET, body),
    )
    assert response.status_code == 200, response.content


# --- Idempotency ---------------------------------------------------------------------------------
def test_it_applies_an_event_once_however_often_it_is_delivered(account):
    assert deliver(account, message_event()).json()["status"] == "processed"
    again = deliver(account, message_event())
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "eventId": "evt_1", "type": "message.received"}
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_it_records_a_message_once_even_under_two_event_ids(account):
    deliver(account, message_event(event_id="evt_1"))
    assert deliver(account, message_event(event_id="evt_2")).json()["status"] == "processed"
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_it_scopes_event_ids_to_the_account(account, owner):
    from tests.conftest import make_account

    other = make_account(owner)
    deliver(account, message_event())
    assert deliver(other, message_event()).json()["status"] == "processed"
    assert Message.objects.count() == 2


# --- Malformed events ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**message_event(), "id": ""}, "id"),
        ({**message_event(), "id": 12}, "id"),
        ({k: v for k, v in message_event().items() if k != "type"}, "type"),
        ({**message_event(), "data": "nope"}, "data"),
        ({**message_event(), "createdAt": "noon"}, "createdAt"),
        (message_event(content=""), "data"),
        (message_event(mediaUrls=["ftp://x/y.jpg"]), "data"),
        (message_event(sentAt=1730462400), "data"),
        ({**message_event(), "data": {"message": {"id": "m", "content": "x"}}}, "data"),
        ({**message_event(), "data": {"fan": {"onlyfansUserId": "f"}}}, "data"),
        (fan_event("fan.subscribed", totalSpent="-5"), "data"),
        (fan_event("fan.renewed", expiresAt="soon"), "data"),
        (fan_event("fan.expired", autoRenew="no"), "data"),
    ],
)
def test_it_rejects_a_malformed_event_and_writes_nothing(account, payload, field):
    error = error_of(deliver(account, payload), 400, "validation_error")
    assert field in error["details"], error
    assert nothing_written()


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", "\u00e9t\u00e9".encode("latin-1")])
def test_it_rejects_a_body_that_is_not_a_json_object(account, raw):
    response = deliver(account, None, raw=raw)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"invalid_json", "validation_error"}
    assert nothing_written()


# The raw payload is kept on WebhookEvent and PostgreSQL's jsonb refuses NUL and lone surrogates:
# unstorable text in an unknown field was a 500 the sender would retry for ever. `concurrency`:
# `make test` also runs these on PostgreSQL.
@pytest.mark.concurrency
@pytest.mark.parametrize(
    "extra", [rb'"a\u0000b"', rb'"\ud800"', rb'{"k\u0000": 1}'], ids=["nul", "surrogate", "nul-key"]
)
def test_it_refuses_an_event_with_unstorable_text_in_an_unknown_field(account, extra):
    raw = (
        b'{"id": "e1", "type": "fan.renewed", "extra": '
        + extra
        + b', "data": {"fan": {"onlyfansUserId": "f1"}}}'
    )
    error_of(deliver(account, None, raw=raw), 400)
    assert nothing_written()


@pytest.mark.concurrency
def test_it_refuses_an_event_nested_too_deeply_for_the_json_decoder(account):
    raw = b'{"id": "e1", "type": "fan.renewed", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    error_of(deliver(account, None, raw=raw), 400, "invalid_json")
    assert nothing_written()


def test_it_acknowledges_and_ignores_an_unknown_event_type(account):
    response = deliver(account, {"id": "evt_9", "type": "post.liked", "data": {}})
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert nothing_written()


# --- Events --------------------------------------------------------------------------------------
def test_it_creates_the_fan_and_conversation_of_an_unknown_sender_and_raises_the_unread_count(
    account, api
):
    deliver(account, message_event(message_id="m1", content="first"))
    deliver(account, message_event(event_id="evt_2", message_id="m2", content="second"))

    fan = Fan.objects.get(account=account, onlyfans_user_id="fan_42")
    assert (fan.username, fan.display_name, fan.subscription_status) == (
        "newfan",
        "New Fan",
        "active",
    )
    [conversation] = api.get("/api/crm/conversations").json()["results"]
    assert conversation["fan"]["id"] == fan.pk
    assert (conversation["unreadCount"], conversation["lastMessagePreview"]) == (2, "second")
    assert conversation["lastMessageDirection"] == "inbound"
    thread = api.get(f"/api/crm/conversations/{conversation['id']}/messages").json()["results"]
    assert [(m["content"], m["direction"], m["status"]) for m in thread] == [
        ("second", "inbound", "received"),
        ("first", "inbound", "received"),
    ]
    assert thread[0]["sentAt"] == "2025-11-01T11:59:58.000Z"
    fan.refresh_from_db()
    assert fan.last_seen_at.isoformat().startswith("2025-11-01T11:59:58")


def test_it_adds_to_an_existing_conversation_and_brings_it_back_from_the_archive(account):
    fan = make_fan(account, onlyfans_user_id="fan_42", username="known")
    conversation = make_conversation(fan, unread_count=1, archived=True)
    deliver(account, message_event(mediaUrls=["https://cdn.example.com/pic.jpg"], content=""))
    conversation.refresh_from_db()
    assert (conversation.unread_count, conversation.archived) == (2, False)
    assert conversation.last_message_preview == "[1 media]"
    assert Fan.objects.count() == 1
    assert Fan.objects.get().username == "newfan"  # the event's profile data is the latest


def test_it_upserts_a_fan_on_subscribed_renewed_and_expired(account):
    deliver(
        account,
        fan_event(
            "fan.subscribed",
            event_id="e1",
            username="sub",
            subscriptionPrice="9.99",
            expiresAt="2025-12-01T00:00:00Z",
            autoRenew=True,
        ),
    )
    fan = Fan.objects.get()
    assert (fan.subscription_status, str(fan.subscription_price), fan.auto_renew) == (
        "active",
        "9.99",
        True,
    )
    assert fan.subscribed_at.isoformat().startswith("2025-11-01T12:00:00")

    deliver(account, fan_event("fan.expired", event_id="e2"))
    fan.refresh_from_db()
    assert (fan.subscription_status, fan.auto_renew) == ("expired", False)

    deliver(
        account,
        fan_event(
            "fan.renewed", event_id="e3", expiresAt="2026-01-01T00:00:00Z", totalSpent="19.98"
        ),
    )
    fan.refresh_from_db()
    assert (fan.subscription_status, str(fan.total_spent)) == ("active", "19.98")
    assert fan.expires_at.isoformat().startswith("2026-01-01")
    assert Fan.objects.count() == 1
    assert list(WebhookEvent.objects.order_by("id").values_list("event_type", flat=True)) == [
        "fan.subscribed",
        "fan.expired",
        "fan.renewed",
    ]


def test_it_makes_an_expired_fan_unmessageable(account, api):
    fan = make_fan(account, onlyfans_user_id="fan_42")
    conversation = make_conversation(fan)
    deliver(account, fan_event("fan.expired"))
    response = api.post(
        f"/api/crm/conversations/{conversation.pk}/messages", data={"content": "hi"}, format="json"
    )
    error_of(response, 409, "fan_subscription_expired")


def test_it_keeps_a_message_stamped_in_the_future_from_freezing_the_preview(account):
    deliver(
        account,
        message_event(
            event_id="e1", message_id="m1", content="from the future", sentAt="2999-01-01T00:00:00Z"
        ),
    )
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    deliver(account, message_event(event_id="e2", message_id="m2", content="now", sentAt=now))
    conversation = Conversation.objects.get()
    assert conversation.last_message_preview == "now"
    assert conversation.last_message_at.year < 2999
