"""POST /api/onlyfans/messages/batch: 1 to 10 messages, one SendMessageBatch, per-item results."""

from __future__ import annotations

import json
from unittest import mock

import boto3
import pytest

from onlyfans import services, sqs
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.support.api import SEED_BODY, assert_error, parse_iso, post_json

BATCH = "/api/onlyfans/messages/batch"


def items(n: int) -> list[dict]:
    return [{**SEED_BODY, "recipientId": f"fan_{i}"} for i in range(n)]


def queue_bodies(settings, url: str) -> list[dict]:
    client = boto3.client(
        "sqs", endpoint_url=settings.SQS_ENDPOINT_URL, region_name=settings.AWS_REGION
    )
    bodies = []
    while True:
        received = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not received:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in received)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("n", [1, 10])
def test_it_queues_1_to_10_messages_with_per_item_results(api, account, queues, settings, n):
    response = post_json(api, BATCH, {"messages": items(n)})
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"accepted", "queued", "pending", "results"}
    assert (body["accepted"], body["queued"], body["pending"]) == (n, n, 0)
    assert [r["index"] for r in body["results"]] == list(range(n))
    for result in body["results"]:
        assert set(result) == {
            "index",
            "messageId",
            "status",
            "queuedAt",
            "estimatedSendTime",
            "message",
        }
        assert result["status"] == "queued"
    ids = {r["messageId"] for r in body["results"]}
    assert {str(pk) for pk in OutboundMessage.objects.values_list("pk", flat=True)} == ids
    assert OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count() == n
    # The account's wake-up, not a copy per message.
    [wake] = queue_bodies(settings, queues.main)
    assert (wake["kind"], wake["account"]) == ("wake", account.onlyfans_id)
    recipients = [
        OutboundMessage.objects.get(pk=r["messageId"]).recipient_id for r in body["results"]
    ]
    assert recipients == [f"fan_{i}" for i in range(n)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", [BATCH, BATCH + "/"])
def test_it_serves_the_route_with_and_without_trailing_slash(api, account, queues, path):
    assert post_json(api, path, {"messages": items(2)}).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_it_arms_a_batch_with_one_sqs_call_and_the_next_batch_with_none(api, account, queues):
    with mock.patch.object(sqs, "send_wakeups", wraps=sqs.send_wakeups) as send:
        post_json(api, BATCH, {"messages": items(10)})
        assert send.call_count == 1
        assert len(send.call_args.args[0]) == 1  # one wake-up for the account
        post_json(api, BATCH, {"messages": items(10)})
    # The account's wake-up is in flight: accepting more needs no SQS call at all.
    assert send.call_count == 2
    assert send.call_args.args[0] == []
    assert OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count() == 20


@pytest.mark.django_db
def test_it_spaces_the_estimates_of_a_batch_by_the_accounts_pace(api, account, settings):
    batch = items(3) + [{**item, "lane": "bulk"} for item in items(2)]
    results = post_json(api, BATCH, {"messages": batch}).json()["results"]
    times = [parse_iso(r["estimatedSendTime"]) for r in results]
    gap = settings.ONLYFANS_MIN_GAP_SECONDS * (1 + settings.ONLYFANS_RATE_GUARD)
    pace = 60 / 8 * (1 + settings.ONLYFANS_RATE_GUARD)
    assert gap - 0.01 <= (times[1] - times[0]).total_seconds() < gap + 0.5
    assert gap - 0.01 <= (times[2] - times[1]).total_seconds() < gap + 0.5
    # Bulk goes after every interactive message, then at its even pace.
    assert times[3] > times[2]
    assert pace - 0.01 <= (times[4] - times[3]).total_seconds() < pace + 0.5


@pytest.mark.django_db
@pytest.mark.parametrize("n", [0, 11])
def test_it_rejects_an_empty_or_oversized_batch(api, account, n):
    error = assert_error(post_json(api, BATCH, {"messages": items(n)}), 400, "validation_error")
    assert "messages" in error["details"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{}, {"messages": None}, {"messages": "hi"}, {"messages": SEED_BODY}, [SEED_BODY]],
    ids=["missing", "null", "string", "object", "array-body"],
)
def test_it_rejects_a_malformed_batch(api, account, body):
    assert_error(post_json(api, BATCH, body), 400, "validation_error")
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_rejects_the_whole_batch_for_one_invalid_item_naming_it(api, account):
    batch = items(4)
    batch[1]["content"] = ""
    batch[3]["priority"] = 11
    error = assert_error(post_json(api, BATCH, {"messages": batch}), 400, "validation_error")
    # Only the invalid items are named, by their index.
    details = error["details"]["messages"]
    assert set(details) == {"1", "3"}
    assert "content" in details["1"]
    assert "priority" in details["3"]
    assert "messages[1].content" in error["message"]
    assert "messages[3].priority" in error["message"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_names_a_bad_media_url_inside_an_item(api, account):
    batch = items(2)
    batch[1]["mediaUrls"] = ["https://example.com/ok.jpg", "http://example.com/no.jpg"]
    error = assert_error(post_json(api, BATCH, {"messages": batch}), 400)
    assert set(error["details"]["messages"]["1"]["mediaUrls"]) == {"1"}
    assert "messages[1].mediaUrls[1]" in error["message"]


@pytest.mark.django_db
def test_it_rejects_an_item_that_is_not_an_object(api, account):
    error = assert_error(post_json(api, BATCH, {"messages": [SEED_BODY, 42]}), 400)
    assert set(error["details"]["messages"]) == {"1"}
    assert "nonFieldErrors" in error["details"]["messages"]["1"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_rejects_unknown_fields_in_an_item_and_at_the_top(api, account):
    error = assert_error(
        post_json(api, BATCH, {"messages": [{**SEED_BODY, "text": "x"}], "foo": 1}), 400
    )
    assert "foo" in error["details"]


@pytest.mark.django_db(transaction=True)
def test_it_reports_a_refused_wake_up_on_every_entry_it_covers(
    api, owner, account, queues, settings
):
    client = sqs.sqs(settings.SQS_REQUEST_TIMEOUT)

    def refusing(*, QueueUrl, Entries):  # noqa: N803 - boto3's keyword names
        return {
            "Successful": [],
            "Failed": [
                {
                    "Id": e["Id"],
                    "SenderFault": False,
                    "Code": "InternalError",
                    "Message": "try again",
                }
                for e in Entries
            ],
        }

    with mock.patch.object(client, "send_message_batch", side_effect=refusing):
        response = post_json(api, BATCH, {"messages": items(5)})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["queued"], body["pending"]) == (5, 0, 5)
    for result in body["results"]:
        assert result["status"] == "pending"
        assert "InternalError" in result["error"]
    # The relay arms the account later: nothing is lost.
    assert services.messages_publish_pending(retry_delays=()).published == 5
    assert OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count() == 5
    [wake] = queue_bodies(settings, queues.main)
    assert wake["account"] == account.onlyfans_id


@pytest.mark.django_db(transaction=True)
def test_it_accepts_the_whole_batch_as_pending_during_an_sqs_outage(api, account, sqs_down):
    response = post_json(api, BATCH, {"messages": items(3)})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["queued"], body["pending"]) == (0, 3)
    assert all(r["status"] == "pending" and r["error"] for r in body["results"])
    assert OutboundMessage.objects.filter(status=MessageStatus.PENDING).count() == 3


@pytest.mark.django_db
def test_it_uses_the_named_account(api, owner):
    make_account(owner)
    second = make_account(owner)
    response = post_json(api, BATCH, {"accountId": second.pk, "messages": items(2)})
    assert response.status_code == 202
    assert set(OutboundMessage.objects.values_list("account", flat=True)) == {second.pk}


@pytest.mark.django_db
def test_it_requires_account_id_from_a_user_with_two_accounts(api, owner):
    make_account(owner)
    make_account(owner)
    error = assert_error(post_json(api, BATCH, {"messages": items(2)}), 400)
    assert "accountId" in error["details"]


@pytest.mark.django_db
def test_it_hides_another_users_account(api, account, outsider):
    theirs = make_account(outsider)
    assert_error(
        post_json(api, BATCH, {"accountId": theirs.pk, "messages": items(1)}), 404, "not_found"
    )
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_an_inactive_account(api, account):
    account.is_active = False
    account.save()
    assert_error(post_json(api, BATCH, {"messages": items(2)}), 409, "account_inactive")
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_answers_503_when_the_rate_limiter_is_disabled(api, account, settings):
    settings.RATE_LIMITER_ENABLED = False
    assert_error(post_json(api, BATCH, {"messages": items(2)}), 503, "rate_limiter_disabled")
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_answers_500_in_the_error_shape(api, account):
    with mock.patch.object(services, "messages_send_batch", side_effect=RuntimeError("boom")):
        assert_error(post_json(api, BATCH, {"messages": items(2)}), 500, "internal_error")


@pytest.mark.django_db
def test_it_shares_the_per_user_request_limit_with_send(api, account, settings):
    settings.SEND_RATE_LIMIT = "1/m"
    clock = mock.Mock()
    clock.time.return_value = 1_800_000_000.0
    with mock.patch("django_ratelimit.core.time", clock):
        assert post_json(api, "/api/onlyfans/messages/send", SEED_BODY).status_code == 202
        response = post_json(api, BATCH, {"messages": items(2)})
    assert_error(response, 429, "rate_limited")
    assert response["Retry-After"]


@pytest.mark.django_db
def test_it_refuses_an_idempotency_key_it_cannot_honour(api, account):
    response = post_json(api, BATCH, {"messages": items(2)}, HTTP_IDEMPOTENCY_KEY="k-1")
    error = assert_error(response, 400, "validation_error")
    assert "Idempotency-Key" in error["details"]
    assert not OutboundMessage.objects.exists()
