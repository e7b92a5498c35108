"""The sandbox gateway: the gateway contract, for the local stack."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from onlyfans.models import SandboxDelivery, SandboxFault
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

URL = "/sandbox/onlyfans/api/{account}/chats/{recipient}/messages"


@pytest.fixture
def gw(settings):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {settings.ONLYFANS_API_KEY}")

    def post(account="acct1", recipient="fan_1", body=None, key=None, **headers):
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        return client.post(
            URL.format(account=account, recipient=recipient),
            data=json.dumps(body if body is not None else {"text": "hi"}),
            content_type="application/json",
            **headers,
        )

    return post


def test_it_records_a_delivery(gw):
    response = gw(body={"text": "hello", "mediaFiles": ["https://cdn.example.com/x.jpg"]}, key="k1")
    assert response.status_code == 200
    delivery = SandboxDelivery.objects.get()
    assert response.json()["id"] == delivery.upstream_id
    assert (delivery.account, delivery.recipient_id, delivery.text) == ("acct1", "fan_1", "hello")
    assert delivery.media_files == ["https://cdn.example.com/x.jpg"]


def test_it_replays_an_idempotency_key(gw):
    first = gw(key="same")
    second = gw(key="same", body={"text": "different"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert SandboxDelivery.objects.count() == 1
    assert SandboxDelivery.objects.get().replays == 1


def test_it_refuses_a_wrong_key(client):
    response = client.post(
        URL.format(account="a", recipient="b"),
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer wrong",
    )
    assert response.status_code == 401


def test_it_refuses_a_message_without_text(gw):
    assert gw(body={"text": "  "}).status_code == 400
    assert gw(body=["not", "an", "object"]).status_code == 400


def test_it_answers_429_when_an_account_goes_over_its_limit(gw, owner):
    account = make_account(owner, rate_limit_per_minute=3)
    codes = [gw(account=account.onlyfans_id, key=f"k{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    response = gw(account=account.onlyfans_id, key="k-late")
    assert int(response["Retry-After"]) >= 1
    assert gw(account="another-account", key="k-other").status_code == 200


def test_it_injects_the_failures_it_is_told(gw, settings):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {settings.ONLYFANS_API_KEY}")
    created = client.post(
        "/sandbox/onlyfans/_faults",
        data=json.dumps({"statusCode": 503, "count": 2, "account": "acct1"}),
        content_type="application/json",
    )
    assert created.status_code == 201
    SandboxFault.objects.create(account="acct2", status_code=429, retry_after=7)

    assert [gw(key=f"a{i}").status_code for i in range(3)] == [503, 503, 200]
    limited = gw(account="acct2", key="b1")
    assert limited.status_code == 429
    assert limited["Retry-After"] == "7"
    assert gw(account="acct2", key="b2").status_code == 200
