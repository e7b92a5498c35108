"""An unknown API route answers a JSON 404 in the error shape, even with DEBUG on."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/onlyfans/messages/send/extra", "/api/crm/nothing/"]
)
def test_an_unknown_api_route_is_a_json_404(api, settings, debug, path):
    settings.DEBUG = debug
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "No such API route."}}


@pytest.mark.django_db
def test_it_needs_no_login_to_say_so(client, settings):
    settings.DEBUG = True
    response = client.post("/api/does-not-exist", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
