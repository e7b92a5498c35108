"""Bad input is a 400 in the error shape, never a 500 (found in review; each test first failed)."""

from __future__ import annotations

import json

import pytest

from onlyfans.models import OutboundMessage

SEND = "/api/onlyfans/messages/send"


# --- Bad input is a 400, never a 500 -------------------------------------------------------------
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

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "metadata" in error["details"]
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_it_still_accepts_metadata_with_real_non_ascii_text(api, account):
    body = {"recipientId": "fan_1", "content": "hi", "metadata": {"note": "café 🎉", "n": [1, None, True]}}
    response = api.post(SEND, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("path", [SEND, "/api/onlyfans/messages/batch", "/api/auth/token/", "/api/crm/fans"])
def test_it_answers_a_body_nested_too_deeply_as_a_400(api, account, path):
    body = "[" * 50_000 + "]" * 50_000  # 100 KB, far below the upload limit

    response = api.post(path, data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_json"


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
