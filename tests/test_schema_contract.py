"""The OpenAPI schema is the contract, both ways: Schemathesis generates requests for every
operation from the live schema (/api/schema), valid and invalid ones, sends them to the app and
runs all of its checks on every answer:

- the answer matches the schema (status code documented, content type, body, headers);
- a request the schema allows is not refused with a 400 (positive data acceptance), and one it
  forbids is not accepted (negative data rejection);
- a route that needs a token refuses a request without one, a required header left out is a
  4xx, an undocumented method answers 405, and nothing is a 500.

Hand-written tests check the behaviours we thought of; this one enumerates what the schema
promises. It runs in-process (WSGI) against the suite's real Redis and moto's SQS, as the
seeded user with a JWT, derandomized so a CI run is reproducible.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import checks

from onlyfans.serializers import MetadataField
from tests.conftest import make_account, make_user

# Every check Schemathesis has, except response time (a loaded CI machine is not a contract)
# and the stateful ones (use_after_free, ensure_resource_availability: they need links between
# operations, which this schema does not declare).
ALL_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.ignored_auth,
    checks.unsupported_method,
]

schema = schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application())


def _metadata_values(body):
    if not isinstance(body, dict):
        return []
    values = [body["metadata"]] if "metadata" in body else []
    for item in body.get("messages", []) if isinstance(body.get("messages"), list) else []:
        if isinstance(item, dict) and "metadata" in item:
            values.append(item["metadata"])
    return values


def _storable_metadata(case) -> bool:
    for metadata in _metadata_values(case.body):
        try:
            MetadataField().run_validation(metadata)
        except ValidationError:
            return False
    return True


def _ranges_in_order(case) -> bool:
    values = dict(case.query or {})
    body = case.body if isinstance(case.body, dict) else {}
    for rules in (body.get("rules"), body.get("filter")):
        if isinstance(rules, dict):
            values.update(rules)
    for low, high in (("minSpent", "maxSpent"), ("minTips", "maxTips")):
        try:
            if Decimal(str(values[low])) > Decimal(str(values[high])):
                return False
        except (KeyError, ArithmeticError, TypeError, ValueError):
            continue
    return True


def _scheduled_in_range(case) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    when = body.get("scheduledAt")
    parsed = parse_datetime(when) if isinstance(when, str) else None
    if parsed is None or parsed.tzinfo is None:
        return True
    now = timezone.now()
    return now <= parsed <= now + timedelta(days=365)


def _no_fan_ids(case) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    return not (body.get("includeFanIds") or body.get("excludeFanIds"))


@schema.hook
def filter_case(context, case):
    """Valid cases keep to the rules a schema cannot state; invalid cases are left alone (they
    must be refused whatever else they hold). The server refuses each with a 400 that names
    the field:
    - `metadata`: at most 4,096 bytes of UTF-8, 32 levels deep, no NUL anywhere (keys too):
      OpenAPI 3.0 has no byte sizes and no propertyNames;
    - `minSpent` ≤ `maxSpent`, `minTips` ≤ `maxTips`: JSON Schema cannot compare two values;
    - `scheduledAt` (a campaign's, a send's) from now to a year ahead: a rule about the clock;
    - a segment's `includeFanIds`/`excludeFanIds`: ids of the account's fans, which only the
      database knows."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    return (
        _storable_metadata(case)
        and _ranges_in_order(case)
        and _scheduled_in_range(case)
        and _no_fan_ids(case)
    )


@pytest.fixture
def seeded(db, queues, settings):
    """One user with one OnlyFans account (so that `accountId` may be left out), and a JWT."""
    # Generated requests arrive far faster than the per-user and per-IP limits allow; a 429
    # would hide what the schema says about the request itself.
    settings.SEND_RATE_LIMIT = "100000/m"
    settings.LOGIN_RATE_LIMIT = "100000/m"
    user = make_user("contract")
    make_account(user)
    token = RefreshToken.for_user(user).access_token
    # As Django's test client does: the WSGI handler would close the connection that holds the
    # test's transaction at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"Authorization": f"Bearer {token}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_route_answers_as_its_schema_says(case, seeded):
    excluded = []
    if case.operation.path == "/api/onlyfans/import/csv":
        # The upload's *content* must be a fans CSV (UTF-8, a fan id column): a rule about the
        # file's bytes that JSON Schema cannot state, so generated files are refused (400
        # not_csv, documented). Every other check still runs on this route.
        excluded.append(checks.positive_data_acceptance)
    case.call_and_validate(headers=seeded, checks=ALL_CHECKS, excluded_checks=excluded)
