"""The OpenAPI 3 schema at /api/schema/ and the interactive docs at /api/docs/."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from onlyfans.serializers import HTTPS_URL_PATTERN

SEED_ROUTES = {
    ("/api/onlyfans/messages/send", "post"): {
        "202",
        "400",
        "401",
        "404",
        "409",
        "429",
        "500",
        "503",
    },
    ("/api/onlyfans/messages/status", "get"): {"200", "401", "500", "503"},
    ("/api/onlyfans/messages/batch", "post"): {
        "202",
        "400",
        "401",
        "404",
        "409",
        "429",
        "500",
        "503",
    },
    ("/api/onlyfans/messages/{messageId}", "get"): {"200", "401", "404"},
    ("/api/auth/token/", "post"): {"200", "400", "401", "429", "503"},
    ("/api/auth/token/refresh/", "post"): {"200", "400", "401"},
}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200, response.content
    return response.json()


def resolve(schema, ref: dict) -> dict:
    name = ref["$ref"].rsplit("/", 1)[1]
    return schema["components"]["schemas"][name]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method"), list(SEED_ROUTES))
def test_it_documents_every_route_with_its_responses(schema, path, method):
    assert path in schema["paths"], sorted(schema["paths"])
    operation = schema["paths"][path][method]
    assert SEED_ROUTES[path, method] <= set(operation["responses"])
    assert operation.get("summary")


@pytest.mark.django_db
def test_it_documents_the_seeds_paths_without_a_trailing_slash(schema):
    paths = set(schema["paths"])
    assert "/api/onlyfans/messages/send/" not in paths
    assert "/api/onlyfans/messages/status/" not in paths


@pytest.mark.django_db
def test_it_documents_every_error_in_the_one_shape(schema):
    for (path, method), codes in SEED_ROUTES.items():
        responses = schema["paths"][path][method]["responses"]
        for code in codes - {"200", "202"}:
            body = responses[code]["content"]["application/json"]["schema"]
            error = resolve(schema, body)
            assert error["required"] == ["error"]
            inner = resolve(schema, error["properties"]["error"])
            assert set(inner["properties"]) == {"code", "message", "details"}
            assert set(inner["required"]) == {"code", "message"}


@pytest.mark.django_db
def test_it_documents_the_send_body_and_its_limits(schema):
    operation = schema["paths"]["/api/onlyfans/messages/send"]["post"]
    body = operation["requestBody"]["content"]
    assert list(body) == ["application/json"]
    send = resolve(schema, body["application/json"]["schema"])
    assert set(send["required"]) == {"recipientId", "content"}
    properties = send["properties"]
    assert set(properties) == {
        "recipientId",
        "content",
        "mediaUrls",
        "priority",
        "metadata",
        "lane",
        "accountId",
        "scheduledAt",
    }
    assert properties["scheduledAt"]["format"] == "date-time"
    assert "365 days" in properties["scheduledAt"]["description"]
    assert properties["lane"]["default"] == "interactive"
    assert properties["recipientId"]["maxLength"] == 128
    assert properties["content"]["maxLength"] == 5000
    assert properties["mediaUrls"]["maxItems"] == 10
    assert properties["mediaUrls"]["items"]["pattern"] == HTTPS_URL_PATTERN
    assert (properties["priority"]["minimum"], properties["priority"]["maximum"]) == (1, 10)
    assert properties["priority"]["default"] == 5
    assert properties["metadata"]["type"] == "object"
    assert "4096" in properties["metadata"]["description"]
    headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]


@pytest.mark.django_db
def test_it_documents_the_seeds_response_fields(schema):
    send_ok = schema["paths"]["/api/onlyfans/messages/send"]["post"]["responses"]["202"]
    fields = resolve(schema, send_ok["content"]["application/json"]["schema"])["properties"]
    # The seed's five, plus scheduledAt for a message sent with one (not required: absent
    # otherwise).
    fields_schema = resolve(schema, send_ok["content"]["application/json"]["schema"])
    assert set(fields) == {
        "messageId",
        "status",
        "queuedAt",
        "estimatedSendTime",
        "message",
        "scheduledAt",
    }
    assert set(fields_schema["required"]) == {
        "messageId",
        "status",
        "queuedAt",
        "estimatedSendTime",
        "message",
    }
    status_ok = schema["paths"]["/api/onlyfans/messages/status"]["get"]["responses"]["200"]
    status = resolve(schema, status_ok["content"]["application/json"]["schema"])
    assert set(status["properties"]) == {"queue", "processing", "health", "timestamp"}
    assert set(resolve(schema, status["properties"]["queue"])["properties"]) == {
        "depth",
        "inFlight",
        "dlqCount",
        "total",
    }


@pytest.mark.django_db
def test_it_documents_jwt_authentication(schema):
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    assert {"jwtAuth": []} in schema["paths"]["/api/onlyfans/messages/send"]["post"]["security"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema"])
def test_it_serves_the_schema_without_authentication(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b"openapi: 3" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs"])
def test_it_serves_the_interactive_docs_from_local_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert 'url: "/api/schema' in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    out = StringIO()
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yaml"),
        stderr=out,
    )
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")
