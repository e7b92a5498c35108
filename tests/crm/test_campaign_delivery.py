"""A campaign delivered for real: consumer processes, the bulk lane, replies in the interactive
lane meanwhile, a launch worker SIGKILLed between two batches while delivery runs, pause, resume
and cancel — judged by the gateway's own arrival order.

Time is compressed (a 1-second window) so that a 2,000-fan campaign takes seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest

from crm.campaigns import launch as campaign_launch
from crm.campaigns import services
from crm.campaigns.models import Campaign, CampaignRecipient, CampaignState
from crm.models import Fan
from onlyfans.accepting import MessageInput, message_send
from onlyfans.models import Lane, MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.support.gateway import max_calls_in_window
from tests.support.processes import ROOT, start_consumer, stop, subprocess_env
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.concurrency]

LIMIT = 60  # per compressed window
WINDOW = 1.0
GAP = 0.005
FANS = 2000


@pytest.fixture
def compressed_time(settings):
    settings.ONLYFANS_RATE_WINDOW_SECONDS = WINDOW
    settings.ONLYFANS_RATE_GUARD = 0.25
    settings.ONLYFANS_MIN_GAP_SECONDS = GAP


def started(owner, account, fans: int) -> Campaign:
    """A campaign to `fans` new fans, launched: running, its audience not frozen yet."""
    Fan.objects.bulk_create(
        [
            Fan(account=account, onlyfans_user_id=f"camp_{n}", username=f"camp{n}")
            for n in range(fans)
        ],
        batch_size=500,
    )
    campaign = services.campaign_create(
        account=account, user=owner, data={"name": "Mass", "content": "Hi all", "rules": {}}
    )
    return services.campaign_launch(campaign=campaign)


def launch(owner, account, fans: int) -> Campaign:
    campaign = started(owner, account, fans)
    assert campaign_launch.campaign_advance(campaign.pk, budget_seconds=120).done
    return campaign


# A launch worker SIGKILLed right after its `batches`-th freeze batch committed: between two
# batches, as a crash or a deploy would stop it.
LAUNCH_THEN_DIE = """
import os, signal, django
django.setup()
from crm.campaigns import launch
launch.FREEZE_BATCH = {batch}
real, done = launch._freeze_batch, []
def batch_then_die(campaign):
    done.append(real(campaign))
    if len(done) == {batches}:
        os.kill(os.getpid(), signal.SIGKILL)
    return done[-1]
launch._freeze_batch = batch_then_die
launch.campaign_advance({campaign_id}, budget_seconds=120)
"""


def probe(owner, account, name: str) -> str:
    """A bulk message of the account's own, accepted now behind every campaign message in lane
    order (the lowest priority, accepted last). Once the gateway has it, the consumer has given
    out a bulk slot since this moment, and a campaign message still ready would have had it
    first: a check that needs no sleep."""
    outcome = message_send(
        user=owner,
        account=account,
        data=MessageInput(recipient_id=name, content=name, lane=Lane.BULK, priority=1),
    )
    return str(outcome.message.id)


def delivered(gateway, key: str) -> bool:
    return any(c.idempotency_key == key for c in gateway.calls)


def calls_since(gateway, moment: float, *, besides: set[str]) -> list:
    return [c for c in gateway.calls if c.at > moment and c.idempotency_key not in besides]


def bulk_arrivals(gateway, account) -> list:
    lanes = dict(OutboundMessage.objects.filter(account=account).values_list("pk", "lane"))
    calls = sorted(
        (c for c in gateway.calls if c.account == account.onlyfans_id), key=lambda c: c.at
    )
    return [(c, lanes[uuid.UUID(c.idempotency_key)]) for c in calls]


def test_a_2000_fan_campaign_never_delays_a_reply_and_reaches_each_fan_once(
    owner, queues, gateway, compressed_time, tmp_path, monkeypatch
):
    account = make_account(owner, rate_limit_per_minute=LIMIT)
    campaign = started(owner, account, FANS)
    consumers = [start_consumer(tmp_path / f"consumer-{i}.log") for i in range(2)]
    replies: list[tuple[float, str]] = []
    try:
        # The launch runs while the consumers deliver, and its first worker is killed between
        # two batches; the next run (beat's tick would start it) resumes without a duplicate.
        batch = 250
        died = subprocess.run(
            [sys.executable, "-c", LAUNCH_THEN_DIE.format(
                batch=batch, batches=3, campaign_id=campaign.pk)],
            cwd=ROOT, env=subprocess_env(), capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
        campaign.refresh_from_db()
        assert campaign.audience_frozen_at is None
        assert CampaignRecipient.objects.filter(campaign=campaign).count() == 3 * batch
        monkeypatch.setattr(campaign_launch, "FREEZE_BATCH", batch)
        assert campaign_launch.campaign_advance(campaign.pk, budget_seconds=120).done
        # Replies arrive at moments spread over the campaign, each in the interactive lane.
        for n in range(5):
            wait_for(
                lambda n=n: len(gateway.calls) >= 200 * (n + 1),
                timeout=120,
                what="the campaign to progress",
            )
            outcome = message_send(
                user=owner,
                account=account,
                data=MessageInput(recipient_id=f"reply_{n}", content=f"reply {n}"),
            )
            replies.append((time.time(), str(outcome.message.id)))
        wait_for(
            lambda: not services.open_recipients(campaign).exists(),
            timeout=300,
            what="every recipient to be final",
        )
        services.campaigns_tick()
    finally:
        codes = [stop(process) for process in consumers]
    logs = "\n".join(p.read_text() for p in tmp_path.glob("consumer-*.log"))
    assert codes == [0, 0], logs

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.FINISHED
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert recipients.count() == FANS
    assert recipients.filter(message__status=MessageStatus.SENT).count() == FANS
    # No fan twice: one accepted gateway call per recipient.
    keys = [c.idempotency_key for c in gateway.calls]
    assert len(keys) == len(set(keys)) == FANS + len(replies)
    arrivals = bulk_arrivals(gateway, account)
    times = [c.at for c, _ in arrivals]
    assert max_calls_in_window(times, WINDOW) <= LIMIT
    assert (
        max_calls_in_window([c.at for c, lane in arrivals if lane == Lane.BULK], WINDOW)
        <= LIMIT - 2
    )
    # Each reply went out with at most one bulk call (the one already in flight) before it.
    order = [c.idempotency_key for c, _ in arrivals]
    for accepted_at, reply_id in replies:
        position = order.index(reply_id)
        bulk_before = sum(
            1 for c, lane in arrivals[:position] if lane == Lane.BULK and c.at > accepted_at
        )
        assert bulk_before <= 1, (reply_id, bulk_before)


def test_pause_stops_within_one_slot_resume_continues_cancel_leaves_nothing(
    owner, queues, gateway, compressed_time, tmp_path
):
    account = make_account(owner, rate_limit_per_minute=LIMIT)
    campaign = launch(owner, account, 300)
    consumer = start_consumer(tmp_path / "consumer.log")
    try:
        wait_for(lambda: len(gateway.calls) >= 40, timeout=60, what="the campaign to start sending")
        services.campaign_pause(campaign=Campaign.objects.get(pk=campaign.pk))
        paused_at = time.time()
        after_pause = probe(owner, account, "probe_after_pause")
        probes = {after_pause}
        wait_for(
            lambda: (
                delivered(gateway, after_pause)
                or len(calls_since(gateway, paused_at, besides=probes)) > 1
            ),
            timeout=60,
            what="a bulk slot to be given out after the pause",
        )
        assert delivered(gateway, after_pause)
        # The call already under way, at most.
        assert len(calls_since(gateway, paused_at, besides=probes)) <= 1
        held = OutboundMessage.objects.filter(
            campaign_recipient__campaign=campaign, status=MessageStatus.QUEUED
        ).count()
        assert held > 0

        services.campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
        at_resume = len(gateway.calls)
        wait_for(
            lambda: len(gateway.calls) >= at_resume + 80, timeout=60, what="delivery to resume"
        )
        services.campaign_cancel(campaign=Campaign.objects.get(pk=campaign.pk))
        cancelled_at = time.time()
        after_cancel = probe(owner, account, "probe_after_cancel")
        probes.add(after_cancel)
        wait_for(
            lambda: (
                delivered(gateway, after_cancel)
                or len(calls_since(gateway, cancelled_at, besides=probes)) > 1
            ),
            timeout=60,
            what="a bulk slot to be given out after the cancel",
        )
    finally:
        assert stop(consumer) == 0
    assert delivered(gateway, after_cancel)
    assert len(calls_since(gateway, cancelled_at, besides=probes)) <= 1
    mine = OutboundMessage.objects.filter(campaign_recipient__campaign=campaign)
    assert not mine.filter(status__in=[MessageStatus.PENDING, MessageStatus.QUEUED]).exists()
    sent = mine.filter(status=MessageStatus.SENT).count()
    assert sent + mine.filter(status=MessageStatus.CANCELLED).count() == 300
    campaign_calls = [c for c in gateway.calls if c.idempotency_key not in probes]
    assert len({c.idempotency_key for c in campaign_calls}) == len(campaign_calls) == sent
