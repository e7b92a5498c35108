"""`manage.py campaign_status [ID …] [--json]`: where campaigns stand, as the API reports it."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.campaigns.models import Campaign, CampaignState
from crm.campaigns.selectors import campaign_progress
from crm.campaigns.serializers import ProgressOutputSerializer


class Command(BaseCommand):
    help = (
        "Print campaigns' progress: state, recipients by state, sent/total, the bulk rate, the "
        "projected finish and why a campaign waits. Without ids: every campaign not finished or "
        "cancelled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "ids", nargs="*", type=int, help="Campaign ids (default: the active ones)."
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="One JSON object per campaign, as the API's `progress`.",
        )

    def handle(self, *args: Any, ids: list[int], **options: Any) -> None:
        campaigns = Campaign.objects.select_related("account").order_by("id")
        if ids:
            campaigns = campaigns.filter(pk__in=ids)
            missing = sorted(set(ids) - set(campaigns.values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"No campaign with id {', '.join(map(str, missing))}.")
        else:
            campaigns = campaigns.exclude(
                state__in=[CampaignState.FINISHED, CampaignState.CANCELLED]
            )
        rows = 0
        for campaign in campaigns:
            progress = ProgressOutputSerializer(campaign_progress(campaign)).data
            rows += 1
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "id": campaign.pk,
                            "name": campaign.name,
                            "state": campaign.state,
                            **progress,
                        }
                    )
                )
                continue
            states = ", ".join(f"{state} {n}" for state, n in progress["byState"].items() if n)
            self.stdout.write(
                f"#{campaign.pk} {campaign.name!r} on @{campaign.account.username}: "
                f"{campaign.state}, {progress['sent']}/{progress['total']} sent "
                f"({states or 'no recipients'})"
            )
            if progress["forecast"]:
                self.stdout.write(
                    f"    {progress['forecast']}, finishing about {progress['projectedFinishAt']}"
                )
            if progress["waitingFor"]:
                self.stdout.write(f"    waiting for: {progress['waitingFor']}")
        if not rows and not options["json"]:
            self.stdout.write("No active campaign.")
