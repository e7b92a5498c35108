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
