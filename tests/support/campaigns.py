"""Helpers for the campaign API tests: create, act, read and launch a campaign step by step."""

from __future__ import annotations

from unittest import mock

import pytest

from crm.campaigns import delivery, launch
from tests.crm.factories import send_json

CAMPAIGNS = "/api/crm/campaigns"


def create(api, body: dict, status: int = 201) -> dict:
    response = send_json(
        api, "post", CAMPAIGNS, {"name": "Win-back", "content": "We miss you!", **body}
    )
    assert response.status_code == status, response.content
    return response.json()


def act(api, campaign_id: int, action: str, status: int = 200) -> dict:
    response = api.post(f"{CAMPAIGNS}/{campaign_id}/{action}")
    assert response.status_code == status, response.content
    return response.json()


def detail(api, campaign_id: int) -> dict:
    response = api.get(f"{CAMPAIGNS}/{campaign_id}")
    assert response.status_code == 200, response.content
    return response.json()


def launch_fully(api, campaign_id: int) -> dict:
    """Launch, then run the batched launch to its end in this process."""
    act(api, campaign_id, "launch")
    progress = launch.campaign_advance(campaign_id)
    assert progress.done
    return detail(api, campaign_id)


@pytest.fixture
def no_background_launch():
    """The API enqueues the launch on Celery; the tests push it on themselves, step by step.
    A test module imports this and marks itself `usefixtures("no_background_launch")`."""
    with mock.patch.object(delivery, "advance_soon"):
        yield


def launch_killed_after_one_batch(monkeypatch, campaign_id: int) -> None:
    """Run the launch as a worker killed after its first freeze batch committed (the second
    raises), then put the real batch back for the run that resumes it."""
    real, calls = launch._freeze_batch, {"n": 0}

    def dies_on_the_second(campaign):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(campaign)

    monkeypatch.setattr(launch, "_freeze_batch", dies_on_the_second)
    with pytest.raises(RuntimeError):
        launch.campaign_advance(campaign_id)
    monkeypatch.setattr(launch, "_freeze_batch", real)
