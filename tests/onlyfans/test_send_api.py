"""POST /api/onlyfans/messages/send: the seed's route, every status code, one error shape."""

from __future__ import annotations

import json
import logging
import uuid
from unittest import mock

import pytest

from onlyfans import services
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import client_for, make_account, make_user
from tests.support.api import SEED_BODY, SEED_FULL_BODY, SEND, assert_error, parse_iso, post_json
from tests.support.clock import assert_within, measured


# --- 202 ----------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_accepts_the_seed_example(api, account, queues):
    response = post_json(api, SEND, SEED_BODY)
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"messageId", "status", "queuedAt", "estimatedSendTime", "message"}
    assert body["status"] == "queued"
    assert (
        body["message"]
        == "Message queued successfully. It will be sent shortly with rate limiting."
    )
    assert body["queuedAt"].endswith("Z") and body["estimatedSendTime"].endswith("Z")
    assert uuid.UUID(body["messageId"]).version == 4
    message = OutboundMessage.objects.get(pk=body["messageId"])
    assert message.status == MessageStatus.QUEUED
    assert message.account == account


@pytest.mark.django_db(transaction=True)
def test_it_stores_every_field_of_the_full_seed_body(api, owner, account, queues):
    response = post_json(api, SEND, SEED_FULL_BODY)
    assert response.status_code == 202, response.content
    message = OutboundMessage.objects.get(pk=response.json()["messageId"])
    assert message.sender == owner
    assert message.recipient_id == "fan_123"
    assert message.content == "Hello! Thanks for subscribing"
    assert message.media_urls == ["https://s3.amazonaws.com/media/image.jpg"]
    assert message.priority == 5
    assert message.metadata == {"campaignId": "campaign_123"}


@pytest.mark.django_db(transaction=True)
def test_it_defaults_priority_to_five(api, account, queues):
    response = post_json(api, SEND, {"recipientId": "fan_1", "content": "hi"})
    assert response.status_code == 202, response.content
    assert OutboundMessage.objects.get(pk=response.json()["messageId"]).priority == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", [SEND, SEND + "/"])
def test_it_serves_the_route_with_and_without_trailing_slash(api, account, queues, path):
    response = post_json(api, path, SEED_BODY)
    assert response.status_code == 202, response.content


@pytest.mark.django_db(transaction=True)
def test_it_accepts_a_body_without_content_type(api, account, queues):
    response = api.post(SEND, data=json.dumps(SEED_BODY), content_type="text/plain")
    assert response.status_code == 202, response.content


@pytest.mark.django_db(transaction=True)
def test_it_uses_the_named_account_of_a_user_with_two(api, owner, queues):
    make_account(owner)
    second = make_account(owner)
    response = post_json(api, SEND, {**SEED_BODY, "accountId": second.pk})
    assert response.status_code == 202, response.content
    assert OutboundMessage.objects.get(pk=response.json()["messageId"]).account == second


@pytest.mark.django_db(transaction=True)
def test_it_never_estimates_a_send_before_the_message_was_queued(api, account, queues):
    body = post_json(api, SEND, SEED_BODY).json()
    assert parse_iso(body["estimatedSendTime"]) >= parse_iso(body["queuedAt"])


# --- 400 ----------------------------------------------------------------------------------------
LONG = "x" * 5001

INVALID_BODIES = [
    pytest.param({"content": "hi"}, "recipientId", id="missing-recipientId"),
    pytest.param({"recipientId": "", "content": "hi"}, "recipientId", id="empty-recipientId"),
    pytest.param({"recipientId": "   ", "content": "hi"}, "recipientId", id="blank-recipientId"),
    pytest.param({"recipientId": None, "content": "hi"}, "recipientId", id="null-recipientId"),
    pytest.param(
        {"recipientId": "f" * 129, "content": "hi"}, "recipientId", id="oversized-recipientId"
    ),
    pytest.param({"recipientId": 123, "content": "hi"}, "recipientId", id="number-recipientId"),
    pytest.param({"recipientId": ["fan"], "content": "hi"}, "recipientId", id="list-recipientId"),
    pytest.param({"recipientId": "fan_1"}, "content", id="missing-content"),
    pytest.param({"recipientId": "fan_1", "content": ""}, "content", id="empty-content"),
    pytest.param({"recipientId": "fan_1", "content": " \n\t "}, "content", id="blank-content"),
    pytest.param({"recipientId": "fan_1", "content": LONG}, "content", id="oversized-content"),
    pytest.param({"recipientId": "fan_1", "content": 42}, "content", id="number-content"),
    pytest.param({**SEED_BODY, "priority": 0}, "priority", id="priority-0"),
    pytest.param({**SEED_BODY, "priority": 11}, "priority", id="priority-11"),
    pytest.param({**SEED_BODY, "priority": "5"}, "priority", id="string-priority"),
    pytest.param({**SEED_BODY, "priority": True}, "priority", id="bool-priority"),
    pytest.param({**SEED_BODY, "priority": 5.5}, "priority", id="float-priority"),
    pytest.param({**SEED_BODY, "metadata": ["a"]}, "metadata", id="list-metadata"),
    pytest.param({**SEED_BODY, "metadata": "campaign"}, "metadata", id="string-metadata"),
    pytest.param({**SEED_BODY, "metadata": {"k": "v" * 4100}}, "metadata", id="metadata-over-4kb"),
    pytest.param(
        {**SEED_BODY, "mediaUrls": ["http://example.com/a.jpg"]}, "mediaUrls", id="http-url"
    ),
    pytest.param(
        {**SEED_BODY, "mediaUrls": ["ftp://example.com/a.jpg"]}, "mediaUrls", id="ftp-url"
    ),
    pytest.param({**SEED_BODY, "mediaUrls": ["https://"]}, "mediaUrls", id="url-without-host"),
    pytest.param({**SEED_BODY, "mediaUrls": ["not a url"]}, "mediaUrls", id="malformed-url"),
    pytest.param({**SEED_BODY, "mediaUrls": [7]}, "mediaUrls", id="number-url"),
    pytest.param(
        {**SEED_BODY, "mediaUrls": "https://example.com/a.jpg"}, "mediaUrls", id="url-not-list"
    ),
    pytest.param(
        {**SEED_BODY, "mediaUrls": [f"https://example.com/{i}.jpg" for i in range(11)]},
        "mediaUrls",
        id="11-urls",
    ),
    pytest.param({**SEED_BODY, "recipient_id": "fan_1"}, "recipient_id", id="unknown-field"),
    pytest.param({**SEED_BODY, "accountId": "1"}, "accountId", id="string-accountId"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_it_rejects_an_invalid_body_naming_the_field(api, account, body, field):
    error = assert_error(post_json(api, SEND, body), 400, "validation_error")
    assert field in error["details"], error
    assert field in error["message"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_accepts_the_bounds_of_every_field(api, account):
    body = {
        "recipientId": "f" * 128,
        "content": "x" * 5000,
        "mediaUrls": [f"https://example.com/{i}.jpg" for i in range(10)],
        "priority": 10,
        "metadata": {"k": "v" * 4000},
    }
    assert post_json(api, SEND, body).status_code == 202
    assert post_json(api, SEND, {**SEED_BODY, "priority": 1}).status_code == 202


@pytest.mark.django_db
def test_it_measures_metadata_in_utf8_bytes(api, account):
    # 2,000 "é" are 4,000 bytes of UTF-8 (12,000 as ASCII escapes): within the 4 KB.
    assert post_json(api, SEND, {**SEED_BODY, "metadata": {"note": "é" * 2000}}).status_code == 202
    error = assert_error(post_json(api, SEND, {**SEED_BODY, "metadata": {"note": "é" * 2100}}), 400)
    assert "metadata" in error["details"]


@pytest.mark.django_db
def test_it_answers_413_for_a_body_too_large_to_read(api, account, settings):
    body = {**SEED_BODY, "content": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    error = assert_error(post_json(api, SEND, body), 413, "payload_too_large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in error["message"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_rejects_a_body_that_is_not_json(api, account):
    response = api.post(SEND, data="recipientId=fan_1&content=hi", content_type="application/json")
    error = assert_error(response, 400, "invalid_json")
    assert "JSON" in error["message"]


@pytest.mark.django_db
def test_it_rejects_an_empty_body(api, account):
    error = assert_error(api.post(SEND, data="", content_type="application/json"), 400)
    assert error["code"] in {"invalid_json", "validation_error"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [[SEED_BODY], "hello", 42, None], ids=["array", "string", "number", "null"]
)
def test_it_rejects_a_json_body_that_is_not_an_object(api, account, body):
    error = assert_error(post_json(api, SEND, body), 400, "validation_error")
    assert set(error["details"]) == {"nonFieldErrors"}, error
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_requires_account_id_from_a_user_with_two_accounts(api, owner):
    make_account(owner)
    make_account(owner)
    error = assert_error(post_json(api, SEND, SEED_BODY), 400, "validation_error")
    assert "accountId" in error["details"]


@pytest.mark.django_db
def test_it_explains_that_a_user_without_account_must_connect_one(api):
    error = assert_error(post_json(api, SEND, SEED_BODY), 400, "validation_error")
    assert "accountId" in error["details"]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_it_rejects_a_bad_idempotency_key(api, account, key):
    error = assert_error(
        post_json(api, SEND, SEED_BODY, HTTP_IDEMPOTENCY_KEY=key), 400, "validation_error"
    )
    assert "Idempotency-Key" in error["details"]


# Text no database column can store, and JSON nested too deep: a 400 in the error shape, never
# a 500 (the deep-body case covers every JSON route, not only this one).
@pytest.mark.django_db
@pytest.mark.concurrency
@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param('{"note": "\\ud800"}', id="lone-surrogate-value"),
        pytest.param('{"\\udfff": 1}', id="lone-surrogate-key"),
        pytest.param('{"nested": ["\\ud83d"]}', id="nested-lone-surrogate"),
        # PostgreSQL's jsonb refuses \u0000; SQLite takes it. Refused everywhere, as a 400.
        pytest.param('{"note": "a\\u0000b"}', id="nul-value"),
        pytest.param('{"a\\u0000": 1}', id="nul-key"),
    ],
)
def test_it_rejects_metadata_that_cannot_be_stored_as_a_400(api, account, metadata):
    body = f'{{"recipientId": "fan_1", "content": "hi", "metadata": {metadata}}}'

    response = api.post(SEND, data=body, content_type="application/json")

    error = assert_error(response, 400, "validation_error")
    assert "metadata" in error["details"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_still_accepts_metadata_with_real_non_ascii_text(api, account):
    body = {
        "recipientId": "fan_1",
        "content": "hi",
        "metadata": {"note": "café 🎉", "n": [1, None, True]},
    }
    response = api.post(SEND, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [SEND, "/api/onlyfans/messages/batch", "/api/auth/token/", "/api/crm/fans"]
)
def test_it_answers_a_body_nested_too_deeply_as_a_400(api, account, path):
    body = "[" * 50_000 + "]" * 50_000  # 100 KB, far below the upload limit

    response = api.post(path, data=body, content_type="application/json")

    assert_error(response, 400, "invalid_json")


@pytest.mark.django_db
def test_it_answers_deeply_nested_metadata_as_a_400(api, account):
    # Deep enough to break naive recursion elsewhere, shallow enough that Python's decoder takes
    # it whatever the request's own stack depth (the body-level case is the test above).
    metadata = "[" * 600 + "]" * 600
    body = f'{{"recipientId": "fan_1", "content": "hi", "metadata": {{"deep": {metadata}}}}}'

    response = api.post(SEND, data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    # Refused as metadata nested too deep; or, in a process whose stack is already deep (some
    # pytest-xdist orders), by the JSON parser itself: a 400 either way, never a 500.
    assert error["code"] == "invalid_json" or "metadata" in error["details"], error


# --- 401 / 404 / 409 ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_requires_authentication(client, account):
    error = assert_error(post_json(client, SEND, SEED_BODY), 401, "not_authenticated")
    assert "details" not in error
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_answers_401_before_validating_the_body(client):
    assert_error(client.post(SEND, data="{not json", content_type="application/json"), 401)


@pytest.mark.django_db
def test_it_hides_another_users_account(api, account, outsider):
    theirs = make_account(outsider)
    error = assert_error(
        post_json(api, SEND, {**SEED_BODY, "accountId": theirs.pk}), 404, "not_found"
    )
    assert "account" in error["message"].lower()
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_answers_404_for_an_account_that_does_not_exist(api, account):
    assert_error(
        post_json(api, SEND, {**SEED_BODY, "accountId": account.pk + 1000}), 404, "not_found"
    )


@pytest.mark.django_db
def test_it_refuses_an_inactive_account(api, account):
    account.is_active = False
    account.save()
    error = assert_error(post_json(api, SEND, SEED_BODY), 409, "account_inactive")
    assert account.username in error["message"]
    assert OutboundMessage.objects.count() == 0


# --- 429 ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_limits_a_user_to_60_sends_a_minute(api, account, settings, frozen_rate_window):
    assert settings.SEND_RATE_LIMIT == "60/m"
    settings.RATE_LIMITER_ENABLED = False  # each request stays cheap; the throttle runs first
    for _ in range(60):
        assert post_json(api, SEND, SEED_BODY).status_code == 503
    response = post_json(api, SEND, SEED_BODY)
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert str(retry_after) in error["message"]


@pytest.mark.django_db
def test_it_counts_the_limit_per_user(api, account, settings, frozen_rate_window):
    settings.SEND_RATE_LIMIT = "2/m"
    other = make_user()
    make_account(other)
    other_api = client_for(other)
    for _ in range(2):
        assert post_json(api, SEND, SEED_BODY).status_code == 202
    assert post_json(api, SEND, SEED_BODY).status_code == 429
    assert post_json(other_api, SEND, SEED_BODY).status_code == 202


@pytest.mark.django_db
def test_it_still_accepts_when_the_throttle_store_is_down(api, account, settings, caplog):
    """Redis down: the per-user API limit fails open, and says so in the log; the token bucket
    (which fails closed) still protects OnlyFans, so the message waits for delivery."""
    from tests.support.servers import free_port

    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    assert post_json(api, SEND, SEED_BODY).status_code == 202
    [record] = [
        r for r in caplog.records if r.getMessage() == "API throttle unavailable, request allowed"
    ]
    assert (record.levelname, record.group) == ("WARNING", "onlyfans-send")


# --- 503 / 500 ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_answers_503_when_the_rate_limiter_is_disabled(api, account, settings):
    settings.RATE_LIMITER_ENABLED = False
    error = assert_error(post_json(api, SEND, SEED_BODY), 503, "rate_limiter_disabled")
    assert "RATE_LIMITER_ENABLED" in error["message"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_answers_500_in_the_error_shape_for_an_unexpected_exception(api, account, caplog):
    with mock.patch.object(
        services, "message_send", side_effect=RuntimeError("boom: secret detail")
    ):
        error = assert_error(post_json(api, SEND, SEED_BODY), 500, "internal_error")
    assert "boom" not in json.dumps(error)
    assert any(record.levelno == logging.ERROR for record in caplog.records)


# --- Idempotency-Key ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_returns_the_original_message_for_a_repeated_idempotency_key(api, account, queues):
    first = post_json(api, SEND, SEED_BODY, HTTP_IDEMPOTENCY_KEY="order-42")
    second = post_json(api, SEND, SEED_BODY, HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_it_scopes_the_idempotency_key_to_the_user(api, account, outsider):
    make_account(outsider)
    first = post_json(api, SEND, SEED_BODY, HTTP_IDEMPOTENCY_KEY="shared-key")
    second = post_json(client_for(outsider), SEND, SEED_BODY, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert first.status_code == second.status_code == 202
    assert first.json()["messageId"] != second.json()["messageId"]
    assert OutboundMessage.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"content": "Something else"},
        {"recipientId": "fan_999"},
        {"priority": 9},
        {"mediaUrls": ["https://example.com/other.jpg"]},
        {"metadata": {"campaignId": "other"}},
    ],
    ids=["content", "recipient", "priority", "media", "metadata"],
)
def test_it_refuses_a_reused_idempotency_key_for_a_different_message(api, account, change):
    assert post_json(api, SEND, SEED_BODY, HTTP_IDEMPOTENCY_KEY="k1").status_code == 202
    response = post_json(api, SEND, {**SEED_BODY, **change}, HTTP_IDEMPOTENCY_KEY="k1")
    assert_error(response, 409, "idempotency_key_reused")
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_reused_idempotency_key_for_another_account(api, owner):
    first, second = make_account(owner), make_account(owner)
    body = {**SEED_BODY, "accountId": first.pk}
    assert post_json(api, SEND, body, HTTP_IDEMPOTENCY_KEY="k2").status_code == 202
    response = post_json(api, SEND, {**body, "accountId": second.pk}, HTTP_IDEMPOTENCY_KEY="k2")
    assert_error(response, 409, "idempotency_key_reused")


# --- estimatedSendTime --------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_estimates_later_sends_for_a_longer_backlog(api, account, settings):
    # Replies go out the minimum gap apart while the window has room (3 s, stretched by the guard):
    # the n-th waiting one n gaps after the moment it is accepted (the account's first slot).
    interval = settings.ONLYFANS_MIN_GAP_SECONDS * (1 + settings.ONLYFANS_RATE_GUARD)
    for ahead in range(3):
        with measured() as posting:
            body = post_json(api, SEND, SEED_BODY).json()
        assert_within(body["estimatedSendTime"], posting, plus=ahead * interval)


@pytest.mark.django_db
def test_it_paces_bulk_estimates_evenly_over_the_unreserved_slots(api, account, settings):
    body = {**SEED_BODY, "lane": "bulk"}
    with measured() as first_posting:
        first = post_json(api, SEND, body).json()
    with measured() as second_posting:
        second = post_json(api, SEND, body).json()
    assert OutboundMessage.objects.get(pk=first["messageId"]).lane == "bulk"
    # One bulk call per window / (limit − reserve): 60 / 8 = 7.5 s, stretched by the guard.
    pace = 60 / 8 * (1 + settings.ONLYFANS_RATE_GUARD)
    assert_within(first["estimatedSendTime"], first_posting)
    assert_within(second["estimatedSendTime"], second_posting, plus=pace)


@pytest.mark.django_db
def test_it_estimates_with_the_accounts_own_rate_limit(api, owner, settings):
    slow = make_account(owner, rate_limit_per_minute=2)
    body = {**SEED_BODY, "accountId": slow.pk}
    post_json(api, SEND, body)
    post_json(api, SEND, body)
    with measured() as posting:
        third = post_json(api, SEND, body).json()
    # Two calls a window: the third waits for the first (due at once) to leave the window.
    window = 60 * (1 + settings.ONLYFANS_RATE_GUARD)
    assert_within(third["estimatedSendTime"], posting, plus=window)


@pytest.mark.django_db
def test_it_does_not_count_another_accounts_backlog(api, owner):
    busy, quiet = make_account(owner), make_account(owner)
    for _ in range(5):
        post_json(api, SEND, {**SEED_BODY, "accountId": busy.pk})
    with measured() as posting:
        body = post_json(api, SEND, {**SEED_BODY, "accountId": quiet.pk}).json()
    assert_within(body["estimatedSendTime"], posting)  # its first slot: now


@pytest.mark.django_db
def test_it_starts_the_estimate_at_the_accounts_next_free_slot(api, account):
    from onlyfans import limiter

    with measured() as pushing:
        limiter.push_back(account.onlyfans_id, limit=account.effective_rate_limit, seconds=120)
    body = post_json(api, SEND, SEED_BODY).json()
    assert_within(body["estimatedSendTime"], pushing, plus=120)


@pytest.mark.django_db
def test_it_puts_a_higher_priority_message_ahead_of_the_backlog(api, account):
    for _ in range(3):
        post_json(api, SEND, {**SEED_BODY, "priority": 3})
    with measured() as posting:
        urgent = post_json(api, SEND, {**SEED_BODY, "priority": 10}).json()
    assert_within(urgent["estimatedSendTime"], posting)  # the account's first slot: now


# --- Structured logs ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_logs_the_seeds_structured_events(api, account, queues, caplog):
    caplog.set_level(logging.INFO)
    body = post_json(api, SEND, SEED_BODY).json()
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("OnlyFansRateLimiterService: ") for m in messages), messages
    assert any(m.startswith("OnlyFans send message: ") for m in messages), messages
    api_record = next(
        r for r in caplog.records if r.getMessage().startswith("OnlyFans send message: ")
    )
    assert api_record.messageId == body["messageId"]
    assert api_record.accountId == account.pk
    for record in caplog.records:
        assert "Bearer" not in record.getMessage()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code", "event"),
    [
        ({"content": "hi"}, 400, "validation_error", "OnlyFans send message: rejected"),
        (SEED_BODY, 503, "rate_limiter_disabled", "OnlyFans send message: unavailable"),
    ],
)
def test_it_logs_refused_sends_under_the_seeds_event(
    api, owner, account, settings, caplog, body, status, code, event
):
    settings.RATE_LIMITER_ENABLED = status != 503
    caplog.set_level(logging.INFO)
    post_json(api, SEND, body)
    [record] = [r for r in caplog.records if r.getMessage() == event]
    assert (record.status, record.code, record.userId) == (status, code, owner.pk)
    assert record.levelno == logging.WARNING


@pytest.mark.django_db
def test_it_logs_a_failed_send_as_an_error(api, account, caplog):
    with mock.patch.object(services, "message_send", side_effect=RuntimeError("boom")):
        post_json(api, SEND, SEED_BODY)
    [record] = [r for r in caplog.records if r.getMessage() == "OnlyFans send message: failed"]
    assert (record.status, record.levelno) == (500, logging.ERROR)


@pytest.mark.concurrency
@pytest.mark.django_db
def test_it_answers_a_racing_duplicate_with_the_winners_message(owner, account):
    """Two requests with one key: the loser's insert hits the unique constraint and returns the
    winner's message instead of a 500."""
    data = services.MessageInput(recipient_id="fan_123", content="Hello")
    winner = services.message_send(user=owner, account=account, data=data, idempotency_key="race")
    from onlyfans import accepting

    real_lookup = accepting._existing_for_key
    calls = []

    def lookup(**kwargs):
        # The loser's first look finds nothing: the winner had not committed yet.
        calls.append(kwargs)
        return None if len(calls) == 1 else real_lookup(**kwargs)

    with mock.patch.object(accepting, "_existing_for_key", side_effect=lookup):
        loser = services.message_send(
            user=owner, account=account, data=data, idempotency_key="race"
        )
    assert len(calls) == 2
    assert loser.replayed
    assert loser.message.pk == winner.message.pk
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_it_estimates_with_the_strictest_limit_of_users_sharing_the_account(
    api, account, outsider, queues, settings
):
    account.rate_limit_per_minute = 60
    account.save()
    make_account(outsider, onlyfans_id=account.onlyfans_id, rate_limit_per_minute=10)
    for _ in range(10):
        OutboundMessage.objects.create(
            account=account, recipient_id="f", content="waiting", status="queued"
        )

    body = post_json(api, SEND, SEED_BODY).json()

    # Ten messages ahead fill the shared account's 10 a window (not this user's 60): the new
    # one waits for the window to turn.
    gap = (parse_iso(body["estimatedSendTime"]) - parse_iso(body["queuedAt"])).total_seconds()
    assert gap >= 60 * (1 + settings.ONLYFANS_RATE_GUARD) - 0.5
