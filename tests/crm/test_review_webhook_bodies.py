"""A signed event whose unknown fields hold text no database column can store (NUL, a lone
surrogate) is a 400 that writes nothing: the raw payload is kept on WebhookEvent, and
PostgreSQL's jsonb refuses both, which made it a 500 the sender would retry for ever."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.models import Fan, WebhookEvent
from tests.crm.factories import error_of, sign

pytestmark = [pytest.mark.django_db, pytest.mark.concurrency]  # make test runs it on PostgreSQL

SECRET = "test-webhook-secret"  # tests/settings.py sets ONLYFANS_WEBHOOK_SECRET to this


@pytest.mark.parametrize("extra", [rb'"a\u0000b"', rb'"\ud800"', rb'{"k\u0000": 1}'], ids=["nul", "surrogate", "nul-key"])
def test_it_refuses_an_event_with_unstorable_text_in_an_unknown_field(account, extra):
    body = b'{"id": "e1", "type": "fan.renewed", "extra": ' + extra + b', "data": {"fan": {"onlyfansUserId": "f1"}}}'
    response = APIClient().post(
        f"/api/onlyfans/webhooks/{account.pk}", data=body, content_type="application/json", **sign(SECRET, body)
    )
    error_of(response, 400)
    assert not WebhookEvent.objects.exists() and not Fan.objects.exists()


def test_it_refuses_an_event_nested_too_deeply_for_the_json_decoder(account):
    body = b'{"id": "e1", "type": "fan.renewed", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = APIClient().post(
        f"/api/onlyfans/webhooks/{account.pk}", data=body, content_type="application/json", **sign(SECRET, body)
    )
    error_of(response, 400, "invalid_json")
    assert not WebhookEvent.objects.exists()
