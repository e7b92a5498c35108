"""The database unreachable (stopped, restarting, connection lost): every route answers 503 with
the one error shape (`database_unavailable`), pages a clear message — never a 202, never a 500.

The database is made unreachable the way PostgreSQL's absence reaches Django: every cursor raises
`OperationalError` (or `InterfaceError`, a connection already closed under the client)."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from onlyfans.models import OutboundMessage
from tests.conftest import client_for

REFUSED = 'connection to server at "127.0.0.1", port 1 failed: Connection refused'


def database_down(error: type[Exception] = OperationalError):
    return mock.patch(
        "django.db.backends.base.base.BaseDatabaseWrapper.cursor", side_effect=error(REFUSED)
    )


def assert_database_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "database_unavailable"
    assert body["error"]["message"]
    assert response["Retry-After"]


SEND_BODY = {"recipientId": "fan_1", "content": "Hello", "priority": 5}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_send_while_the_database_is_down_is_a_503_not_a_202(owner, account, error):
    api = client_for(owner)
    with database_down(error):
        response = api.post(
            "/api/onlyfans/messages/send",
            data=json.dumps(SEND_BODY),
            content_type="application/json",
            HTTP_X_ACCOUNT_ID=account.onlyfans_id,
        )
    assert_database_unavailable(response)
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/onlyfans/messages/batch"),
        ("get", "/api/onlyfans/messages/status"),
        ("get", "/api/crm/fans/"),
        ("post", "/api/auth/token"),
    ],
)
def test_every_api_route_answers_503_in_the_error_shape(owner, method, path):
    api = client_for(owner)
    with database_down():
        response = getattr(api, method)(path, data=json.dumps({"username": "owner", "password": "pw-owner"})
                                         if method == "post" else None, content_type="application/json")
    assert_database_unavailable(response)


@pytest.mark.django_db(transaction=True)
def test_a_page_says_the_database_is_unavailable(owner):
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    with database_down():
        response = client.get("/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"database cannot be reached" in response.content
    assert b"Traceback" not in response.content


@pytest.mark.django_db(transaction=True)
def test_other_unexpected_errors_stay_a_500(owner):
    api = client_for(owner)
    with mock.patch("onlyfans.apis.QueueStatusApi.get", side_effect=RuntimeError("boom")):
        response = api.get("/api/onlyfans/messages/status")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
