"""/healthz (liveness) and /readyz (readiness), as a load balancer calls them."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db.utils import OperationalError


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_liveness_answers_whatever_the_host_and_without_https(client, settings, path):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(path, HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    # The same request elsewhere is refused by the host check (400), not answered.
    assert client.get("/api/docs/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_liveness_calls_no_dependency(client, redis_down, sqs_down):
    with mock.patch(
        "django.db.backends.base.base.BaseDatabaseWrapper.cursor", side_effect=AssertionError
    ):
        response = client.get("/healthz")
    assert response.status_code == 200


@pytest.mark.django_db
def test_readiness_checks_the_database_redis_and_sqs(client, queues, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/readyz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "sqs": "ok"},
    }


@pytest.mark.django_db
def test_readiness_names_redis_when_it_is_down(client, queues, redis_down):
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"] == "Not ready: redis unavailable."
    assert error["details"]["checks"] == {"database": "ok", "redis": "unavailable", "sqs": "ok"}


@pytest.mark.django_db
def test_readiness_names_sqs_when_it_is_down(client, sqs_down):
    response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json()["error"]["details"]["checks"]["sqs"] == "unavailable"


@pytest.mark.django_db
def test_readiness_names_the_database_when_it_is_down(client, queues):
    with mock.patch(
        "django.db.backends.base.base.BaseDatabaseWrapper.cursor",
        side_effect=OperationalError("down"),
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Not ready: database unavailable."


@pytest.mark.django_db
def test_readiness_needs_no_authentication_but_refuses_writes(client, queues):
    assert client.get("/readyz").status_code == 200
    # POST is not a probe: it falls through to the URL resolver (no such page).
    assert client.post("/readyz").status_code == 404
