"""The OpenAPI schema documents every CRM route, its filters and its errors."""

from __future__ import annotations

import pytest


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operation(schema, path, method) -> dict:
    return schema["paths"][path][method]


def param_names(op) -> set[str]:
    return {p["name"] for p in op.get("parameters", [])}


OPERATIONS = [
    ("/api/crm/fans", "get", "crm_fans_list", {"200", "400", "401", "404"}),
    ("/api/crm/fans", "post", "crm_fans_create", {"201", "400", "401", "404", "409"}),
    ("/api/crm/fans/{id}", "get", "crm_fans_retrieve", {"200", "401", "404"}),
    ("/api/crm/fans/{id}", "put", "crm_fans_replace", {"200", "400", "401", "404", "409"}),
    ("/api/crm/fans/{id}", "patch", "crm_fans_update", {"200", "400", "401", "404", "409"}),
    ("/api/crm/fans/{id}", "delete", "crm_fans_delete", {"204", "401", "404"}),
    ("/api/crm/conversations", "get", "crm_conversations_list", {"200", "400", "401", "404"}),
    (
        "/api/crm/conversations",
        "post",
        "crm_conversations_open",
        {"200", "201", "400", "401", "404"},
    ),
    ("/api/crm/conversations/{id}", "get", "crm_conversations_retrieve", {"200", "401", "404"}),
    (
        "/api/crm/conversations/{id}",
        "patch",
        "crm_conversations_update",
        {"200", "400", "401", "404"},
    ),
    ("/api/crm/conversations/{id}/read", "post", "crm_conversations_read", {"200", "401", "404"}),
    (
        "/api/crm/conversations/{id}/messages",
        "get",
        "crm_conversation_messages_list",
        {"200", "400", "401", "404"},
    ),
    (
        "/api/crm/conversations/{id}/messages",
        "post",
        "crm_conversation_messages_send",
        {"202", "400", "401", "404", "409", "429", "503"},
    ),
    ("/api/crm/segments", "get", "crm_segments_list", {"200", "400", "401", "404"}),
    ("/api/crm/segments", "post", "crm_segments_create", {"201", "400", "401", "404"}),
    ("/api/crm/segments/{id}", "get", "crm_segments_retrieve", {"200", "401", "404"}),
    ("/api/crm/segments/{id}", "patch", "crm_segments_update", {"200", "400", "401", "404"}),
    ("/api/crm/segments/{id}", "delete", "crm_segments_delete", {"204", "401", "404"}),
    ("/api/crm/segments/{id}/preview", "get", "crm_segments_preview", {"200", "401", "404"}),
    ("/api/crm/campaigns", "get", "crm_campaigns_list", {"200", "400", "401", "404"}),
    ("/api/crm/campaigns", "post", "crm_campaigns_create", {"201", "400", "401", "404"}),
    ("/api/crm/campaigns/{id}", "get", "crm_campaigns_retrieve", {"200", "401", "404"}),
    (
        "/api/crm/campaigns/{id}/recipients",
        "get",
        "crm_campaigns_recipients",
        {"200", "400", "401", "404"},
    ),
    (
        "/api/crm/campaigns/{id}/launch",
        "post",
        "crm_campaigns_launch",
        {"200", "401", "404", "409"},
    ),
    ("/api/crm/campaigns/{id}/pause", "post", "crm_campaigns_pause", {"200", "401", "404", "409"}),
    (
        "/api/crm/campaigns/{id}/resume",
        "post",
        "crm_campaigns_resume",
        {"200", "401", "404", "409"},
    ),
    (
        "/api/crm/campaigns/{id}/cancel",
        "post",
        "crm_campaigns_cancel",
        {"200", "401", "404", "409"},
    ),
    (
        "/api/onlyfans/webhooks/{accountId}",
        "post",
        "onlyfans_webhooks_receive",
        {"200", "400", "401", "404", "503"},
    ),
]


@pytest.mark.parametrize(("path", "method", "operation_id", "statuses"), OPERATIONS)
def test_it_documents_every_route_with_its_errors(schema, path, method, operation_id, statuses):
    op = operation(schema, path, method)
    assert op["operationId"] == operation_id
    assert statuses <= set(op["responses"]), set(op["responses"])
    for status in statuses - {"200", "201", "202", "204"}:
        ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/Error")


def test_it_documents_only_the_methods_each_route_serves(schema):
    served = {(path, method) for path, method, _, _ in OPERATIONS}
    crm_paths = {
        p: ops
        for p, ops in schema["paths"].items()
        if p.startswith(("/api/crm/", "/api/onlyfans/webhooks/"))
    }
    documented = {
        (p, m)
        for p, ops in crm_paths.items()
        for m in ops
        if m in {"get", "post", "put", "patch", "delete"}
    }
    assert documented == served


def test_it_documents_the_fan_filters_ordering_and_pagination(schema):
    params = {p["name"]: p for p in operation(schema, "/api/crm/fans", "get")["parameters"]}
    assert {
        "search",
        "subscriptionStatus",
        "tag",
        "minSpent",
        "maxSpent",
        "expiringWithinDays",
        "ordering",
        "page",
        "pageSize",
        "accountId",
    } <= set(params)
    assert set(params["ordering"]["schema"]["enum"]) >= {
        "-totalSpent",
        "lastSeenAt",
        "-subscribedAt",
    }
    assert all(p["in"] == "query" for p in params.values())


def test_it_documents_the_inbox_filters_and_thread_cursors(schema):
    assert {"unread", "archived", "pinned", "search", "page", "pageSize"} <= param_names(
        operation(schema, "/api/crm/conversations", "get")
    )
    assert {"before", "after", "limit", "id"} <= param_names(
        operation(schema, "/api/crm/conversations/{id}/messages", "get")
    )
    assert "Idempotency-Key" in param_names(
        operation(schema, "/api/crm/conversations/{id}/messages", "post")
    )


def test_it_documents_camel_case_money_as_strings(schema):
    fan = schema["components"]["schemas"]["FanOutput"]["properties"]
    assert {"totalSpent", "subscriptionStatus", "expiresAt", "lastSeenAt", "onlyfansUserId"} <= set(
        fan
    )
    assert fan["totalSpent"]["type"] == "string" and fan["totalSpent"]["format"] == "decimal"


def test_it_documents_the_webhook_signature_headers_without_jwt(schema):
    op = operation(schema, "/api/onlyfans/webhooks/{accountId}", "post")
    assert {"X-Huntaze-Timestamp", "X-Huntaze-Signature"} <= param_names(op)
    assert "HMAC-SHA256" in op["description"]
    assert op.get("security", []) in ([], [{}])  # no JWT, unlike the other routes:
    assert operation(schema, "/api/crm/fans", "get")["security"]
    assert "security" not in schema
