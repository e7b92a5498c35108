"""Fixtures shared by the pipeline's tests."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest

from tests.conftest import make_account


@pytest.fixture
def fast_account(owner, settings):
    """600 messages a minute and a 50 ms minimum gap: slots a tenth of a second apart."""
    settings.ONLYFANS_MIN_GAP_SECONDS = 0.05
    return make_account(owner, rate_limit_per_minute=600)


@pytest.fixture
def frozen_rate_window():
    """django-ratelimit counts in fixed windows; freeze its clock so that 61 requests cannot
    straddle two windows and make the test flaky."""
    clock = mock.Mock()
    clock.time.return_value = 1_800_000_000.0
    with mock.patch("django_ratelimit.core.time", clock):
        yield


@pytest.fixture
def namespace(settings):
    """A CloudWatch namespace of this test's own on the shared moto server."""
    settings.CLOUDWATCH_NAMESPACE = f"Huntaze/Test-{uuid.uuid4().hex[:8]}"
    return settings.CLOUDWATCH_NAMESPACE
