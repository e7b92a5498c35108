"""Celery entry points of the CRM: thin wrappers over its services. Tasks take ids."""

from __future__ import annotations

from celery import shared_task

from crm import imports


@shared_task(name="crm.tasks.run_import_job", ignore_result=True)
def run_import_job(job_id: str) -> dict | None:
    job = imports.import_job_run(job_id=job_id)
    if job is None:
        return None
    return {"jobId": str(job.pk), "status": job.status, "rows": job.rows_processed}


@shared_task(name="crm.tasks.campaign_advance", ignore_result=True)
def campaign_advance(campaign_id: int) -> dict:
    from crm.campaigns import launch

    progress = launch.campaign_advance_exclusive(campaign_id)
    if progress is None:
        return {"campaignId": campaign_id, "skipped": "another worker advances this campaign"}
    return {
        "campaignId": campaign_id,
        "frozen": progress.frozen,
        "created": progress.created,
        "done": progress.done,
    }


@shared_task(name="crm.tasks.campaigns_tick", ignore_result=True)
def campaigns_tick() -> dict:
    from crm.campaigns import services as campaigns

    return campaigns.campaigns_tick()
