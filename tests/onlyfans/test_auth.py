"""JWT login and refresh (simplejwt), login attempts limited per IP, and 401s in the error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.support.api import SEED_BODY, SEND, STATUS, assert_error, post_json

LOGIN = "/api/auth/token/"
REFRESH = "/api/auth/token/refresh/"
PROTECTED = [
    ("post", SEND),
    ("get", STATUS),
    ("get", "/api/onlyfans/messages/00000000-0000-0000-0000-000000000000"),
    ("post", "/api/onlyfans/messages/batch"),
]


def call(client, method, path):
    if method == "post":
        return post_json(client, path, SEED_BODY)
    return client.get(path)


def expired_token(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=-30))
    return str(token)


# --- Obtaining and refreshing tokens ------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("path", [LOGIN, LOGIN.rstrip("/")])
def test_it_issues_tokens_for_a_valid_login(client, owner, path):
    response = post_json(client, path, {"username": "owner", "password": "pw-owner"})
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


@pytest.mark.django_db(transaction=True)
def test_it_accepts_the_issued_token_on_the_send_route(client, owner, account, queues):
    access = post_json(client, LOGIN, {"username": "owner", "password": "pw-owner"}).json()[
        "access"
    ]
    response = post_json(client, SEND, SEED_BODY, HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 202, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("path", [REFRESH, REFRESH.rstrip("/")])
def test_it_refreshes_an_access_token(client, owner, account, path):
    refresh = str(RefreshToken.for_user(owner))
    response = post_json(client, path, {"refresh": refresh})
    assert response.status_code == 200, response.content
    access = response.json()["access"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert post_json(api, SEND, SEED_BODY).status_code == 202


@pytest.mark.django_db
def test_it_refuses_a_wrong_password_in_the_error_shape(client, owner):
    response = post_json(client, LOGIN, {"username": "owner", "password": "wrong"})
    error = assert_error(response, 401, "authentication_failed")
    assert "pw-owner" not in error["message"]


@pytest.mark.django_db
def test_it_rejects_a_login_without_credentials(client, owner):
    error = assert_error(post_json(client, LOGIN, {}), 400, "validation_error")
    assert {"username", "password"} <= set(error["details"])


@pytest.mark.django_db
def test_it_rejects_a_login_body_that_is_not_json(client, owner):
    assert_error(
        client.post(LOGIN, data="username=owner", content_type="application/json"),
        400,
        "invalid_json",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("refresh", ["garbage", None])
def test_it_rejects_a_bad_refresh_token(client, owner, refresh):
    if refresh is None:
        token = RefreshToken.for_user(owner)
        token.set_exp(lifetime=timedelta(seconds=-30))
        refresh = str(token)
    assert_error(post_json(client, REFRESH, {"refresh": refresh}), 401)


@pytest.mark.django_db
def test_it_refuses_an_access_token_as_a_refresh_token(client, owner):
    assert_error(post_json(client, REFRESH, {"refresh": str(AccessToken.for_user(owner))}), 401)


# --- Login attempts limited per IP --------------------------------------------------------------
@pytest.mark.django_db
def test_it_limits_login_attempts_per_ip(client, owner, settings, frozen_rate_window):
    settings.LOGIN_RATE_LIMIT = "5/m"
    for _ in range(5):
        response = post_json(
            client, LOGIN, {"username": "owner", "password": "wrong"}, REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 401
    blocked = post_json(
        client, LOGIN, {"username": "owner", "password": "pw-owner"}, REMOTE_ADDR="10.0.0.1"
    )
    assert_error(blocked, 429, "rate_limited")
    assert int(blocked["Retry-After"]) >= 1
    # Another address is not affected.
    other = post_json(
        client, LOGIN, {"username": "owner", "password": "pw-owner"}, REMOTE_ADDR="10.0.0.2"
    )
    assert other.status_code == 200


@pytest.mark.django_db
def test_it_refuses_logins_when_the_throttle_store_is_down(client, owner, settings, caplog):
    """Without its counters the login limit cannot hold: no unlimited password guessing."""
    from tests.support.servers import free_port

    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    for password in ("wrong", "pw-owner"):
        response = post_json(client, LOGIN, {"username": "owner", "password": password})
        error = assert_error(response, 503, "throttle_unavailable")
        assert "try again" in error["message"]
        assert response["Retry-After"] == "5"
    assert "access" not in response.json()
    assert any(
        r.getMessage() == "API throttle unavailable, request refused" for r in caplog.records
    )


@pytest.mark.django_db
def test_it_ignores_a_forwarded_for_header_unless_behind_a_proxy(
    client, owner, settings, frozen_rate_window
):
    settings.LOGIN_RATE_LIMIT = "1/m"
    wrong = {"username": "owner", "password": "wrong"}
    post_json(client, LOGIN, wrong, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1")
    spoofed = post_json(
        client, LOGIN, wrong, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="2.2.2.2"
    )
    assert spoofed.status_code == 429


@pytest.mark.django_db
def test_it_limits_each_client_behind_a_load_balancer(client, owner, settings, frozen_rate_window):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.LOGIN_RATE_LIMIT = "1/m"
    wrong = {"username": "owner", "password": "wrong"}
    balancer = "10.0.0.254"
    first = post_json(
        client, LOGIN, wrong, REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    assert first.status_code == 401
    again = post_json(
        client, LOGIN, wrong, REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    assert again.status_code == 429
    # Another client behind the same balancer still gets through; a forged first hop does not help.
    other = post_json(
        client, LOGIN, wrong, REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    assert other.status_code == 401
    forged = post_json(
        client, LOGIN, wrong, REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7"
    )
    assert forged.status_code == 429


@pytest.mark.django_db
def test_it_limits_login_attempts_by_default(client, owner, settings, frozen_rate_window):
    limit = int(settings.LOGIN_RATE_LIMIT.split("/")[0])
    for _ in range(limit):
        post_json(client, LOGIN, {"username": "owner", "password": "wrong"})
    assert post_json(client, LOGIN, {"username": "owner", "password": "wrong"}).status_code == 429


# --- 401 on every protected route ---------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_it_requires_a_token(client, method, path):
    error = assert_error(call(client, method, path), 401, "not_authenticated")
    assert "details" not in error


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_it_refuses_an_expired_token(client, owner, account, method, path):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {expired_token(owner)}"
    assert_error(call(client, method, path), 401, "authentication_failed")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Bearer garbage", "Bearer ", "Bearer a.b.c", "Basic b3duZXI6cHctb3duZXI=", "Token abc"],
)
def test_it_refuses_a_garbage_token(client, owner, account, header):
    client.defaults["HTTP_AUTHORIZATION"] = header
    response = post_json(client, SEND, SEED_BODY)
    assert_error(response, 401)


@pytest.mark.django_db
def test_it_refuses_a_token_signed_with_another_key(client, owner, account, settings):
    import jwt

    forged = jwt.encode(
        {"token_type": "access", "user_id": str(owner.pk), "exp": 4_000_000_000, "jti": "x"},
        "not-the-signing-key-of-this-project-at-all",
        algorithm="HS256",
    )
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {forged}"
    assert_error(post_json(client, SEND, SEED_BODY), 401, "authentication_failed")


@pytest.mark.django_db
def test_it_refuses_the_token_of_a_deactivated_user(client, owner, account):
    token = str(AccessToken.for_user(owner))
    owner.is_active = False
    owner.save()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert_error(post_json(client, SEND, SEED_BODY), 401)


@pytest.mark.django_db
def test_it_answers_401_with_a_www_authenticate_header(client):
    response = post_json(client, SEND, SEED_BODY)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db(transaction=True)
def test_it_accepts_a_session_login_too(client, owner, account, queues):
    client.force_login(owner)
    assert client.get(STATUS).status_code == 200
