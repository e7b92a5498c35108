"""POST /api/onlyfans/messages/{messageId}/cancel: a waiting message, for its owner only."""

from __future__ import annotations

import uuid

import pytest

from onlyfans.models import MessageStatus, OutboundMessage
from tests.support.api import SEED_BODY, SEND, assert_error, post_json


def cancel(message_id) -> str:
    return f"/api/onlyfans/messages/{message_id}/cancel"


@pytest.mark.django_db
@pytest.mark.parametrize("slash", ["", "/"])
def test_it_cancels_a_waiting_message(api, account, slash):
    sent = post_json(api, SEND, SEED_BODY).json()

    response = api.post(cancel(sent["messageId"]) + slash)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["messageId"], body["status"], body["waitingFor"]) == (
        sent["messageId"],
        "cancelled",
        None,
    )
    assert OutboundMessage.objects.get(pk=sent["messageId"]).status == MessageStatus.CANCELLED


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["sending", "sent", "failed", "dead_lettered", "cancelled"])
def test_it_answers_409_once_the_message_is_being_sent_or_final(api, account, status):
    message = OutboundMessage.objects.create(
        account=account, recipient_id="f", content="x", status=status
    )

    error = assert_error(api.post(cancel(message.pk)), 409, "not_cancellable")

    assert status in error["message"]
    assert OutboundMessage.objects.get(pk=message.pk).status == status


@pytest.mark.django_db
def test_another_users_message_is_a_404(api, outsider_api, account):
    sent = post_json(api, SEND, SEED_BODY).json()

    assert_error(outsider_api.post(cancel(sent["messageId"])), 404, "not_found")
    assert_error(api.post(cancel(uuid.uuid4())), 404, "not_found")
    assert OutboundMessage.objects.get(pk=sent["messageId"]).status != MessageStatus.CANCELLED


@pytest.mark.django_db
def test_it_needs_a_token(client, account):
    assert client.post(cancel(uuid.uuid4())).status_code == 401


@pytest.mark.django_db
def test_it_is_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/onlyfans/messages/{messageId}/cancel"]["post"]
    assert operation["operationId"] == "onlyfans_messages_cancel"
    assert {"200", "401", "404", "409"} <= set(operation["responses"])
