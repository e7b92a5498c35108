"""End to end: a message posted into a conversation is delivered by the pipeline's consumer
(moto SQS, real Redis bucket, a real local HTTP gateway) and the thread shows the outcome."""

from __future__ import annotations

import pytest

from tests.crm.factories import make_conversation, make_fan, send_json
from tests.support.delivery import consume

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(account):
    return make_conversation(make_fan(account, onlyfans_user_id="fan_777"))


def post_message(api, conversation, content="See you tonight") -> dict:
    response = send_json(
        api, "post", f"/api/crm/conversations/{conversation.pk}/messages", {"content": content}
    )
    assert response.status_code == 202, response.content
    return response.json()


def thread_item(api, conversation) -> dict:
    [item] = api.get(f"/api/crm/conversations/{conversation.pk}/messages").json()["results"]
    return item


def test_it_shows_the_message_sent_after_the_consumer_delivers_it(
    api, account, conversation, queues, gateway
):
    accepted = post_message(api, conversation)
    assert thread_item(api, conversation)["status"] == "queued"

    report = consume()

    assert report.sent == 1
    item = thread_item(api, conversation)
    assert (item["status"], item["messageId"], item["error"]) == (
        "sent",
        accepted["messageId"],
        None,
    )
    assert item["deliveredAt"].endswith("Z")
    [call] = gateway.calls
    assert (call.account, call.recipient, call.body["text"]) == (
        account.onlyfans_id,
        "fan_777",
        "See you tonight",
    )
    assert call.idempotency_key == accepted["messageId"]


def test_it_shows_the_message_failed_with_the_reason_on_a_permanent_gateway_error(
    api, conversation, queues, gateway
):
    gateway.respond_next(400)
    post_message(api, conversation)

    consume()

    item = thread_item(api, conversation)
    assert item["status"] == "failed"
    assert item["deliveredAt"] is None
    assert item["error"]
