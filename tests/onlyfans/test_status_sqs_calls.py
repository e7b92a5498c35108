"""GET /status reads SQS' attributes at most once per few seconds per process: polled by many
clients it does not cost two GetQueueAttributes calls a request; SQS unreachable is still a 503
once the last reading is too old."""

from __future__ import annotations

import pytest

from onlyfans import sqs, status
from tests.support.api import STATUS

pytestmark = pytest.mark.django_db


def test_staff_polling_status_reads_sqs_once_per_few_seconds(
    staff_api,
    queues,
    settings,
    monkeypatch,
):
    calls: list[str] = []

    def seen(model, **kwargs):
        calls.append(model.name)

    sqs.sqs(settings.SQS_REQUEST_TIMEOUT * 4).meta.events.register("before-call.sqs", seen)
    for _ in range(5):
        assert staff_api.get(STATUS).status_code == 200
    assert calls == ["GetQueueAttributes", "GetQueueAttributes"]

    monkeypatch.setattr(status, "SQS_ATTRIBUTES_MAX_AGE_SECONDS", 0.0)
    assert staff_api.get(STATUS).status_code == 200
    assert len(calls) == 4


def test_an_old_reading_does_not_hide_an_unreachable_sqs(
    api, account, queues, settings, monkeypatch
):
    assert api.get(STATUS).status_code == 200
    monkeypatch.setattr(status, "SQS_ATTRIBUTES_MAX_AGE_SECONDS", 0.0)
    settings.SQS_ENDPOINT_URL = "http://127.0.0.1:9"
    sqs._cached_client.cache_clear()
    assert api.get(STATUS).status_code == 503
