from __future__ import annotations

import itertools
import logging
import uuid

import pytest
from django.contrib.auth import get_user_model
from django_redis import get_redis_connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from onlyfans import services
from onlyfans import sqs as sqs_queue
from onlyfans.models import OnlyFansAccount

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _clean_shared_state():
    """Each test starts with an empty Redis and a closed SQS circuit, and leaves the root
    logger's level as it found it (an in-process Celery worker lowers it to ERROR)."""
    get_redis_connection("default").flushdb()
    services.sqs_circuit.reset()
    sqs_queue.clear_caches()
    root_level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(root_level)
    sqs_queue.clear_caches()


@pytest.fixture
def queues(settings):
    """A fresh SQS queue and DLQ (with its redrive policy) on the moto server, for this test."""
    suffix = uuid.uuid4().hex[:10]
    main, dlq = sqs_queue.create_queues(queue_name=f"q-{suffix}", dlq_name=f"dlq-{suffix}")
    settings.SQS_RATE_LIMITER_QUEUE_URL = main
    settings.SQS_RATE_LIMITER_DLQ_URL = dlq
    sqs_queue.clear_caches()
    return type("Queues", (), {"main": main, "dlq": dlq})


@pytest.fixture
def sqs_down(settings, queues):
    """SQS unreachable: nothing listens on the endpoint (connections are refused at once)."""
    from tests.support.servers import free_port

    settings.SQS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    sqs_queue.clear_caches()
    yield
    sqs_queue.clear_caches()


def make_user(username: str | None = None, **kwargs):
    username = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(
        username=username, password="pw-" + username, **kwargs
    )


def make_account(owner, **kwargs) -> OnlyFansAccount:
    n = next(_counter)
    defaults = {"onlyfans_id": f"of-{n}-{uuid.uuid4().hex[:6]}", "username": f"creator{n}"}
    defaults.update(kwargs)
    return OnlyFansAccount.objects.create(owner=owner, **defaults)


def client_for(user) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def owner(db):
    return make_user("owner")


@pytest.fixture
def outsider(db):
    return make_user("outsider")


@pytest.fixture
def account(owner):
    return make_account(owner)


@pytest.fixture
def api(owner):
    return client_for(owner)


@pytest.fixture
def outsider_api(outsider):
    return client_for(outsider)


@pytest.fixture
def staff_api(db):
    """An operator (staff, not a superuser) on the JSON API."""
    return client_for(make_user("operator", is_staff=True))


@pytest.fixture
def redis_down(settings):
    """Redis unreachable: the cache points at a port nothing listens on."""
    from tests.support.servers import free_port

    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }


@pytest.fixture
def gateway(httpserver, settings):
    """The fake OnlyFans gateway on a real local HTTP server; the delivery client points at it."""
    from tests.support.gateway import FakeGateway

    fake = FakeGateway()
    httpserver.expect_request(FakeGateway.PATH, method="POST").respond_with_handler(fake.handler)
    settings.ONLYFANS_API_BASE_URL = httpserver.url_for("/").rstrip("/")
    return fake
