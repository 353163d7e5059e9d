"""Celery tasks: thin, take ids, import their service inside the body."""

from celery import shared_task


@shared_task(name="annotation.import_job_run", acks_late=True)
def import_job_run_task(job_id: int) -> None:
    from annotation.services.import_jobs import import_job_run

    import_job_run(job_id=job_id)


# The export task lives beside its service; imported here so workers register it.
from annotation.export_tasks import export_job_run_task  # noqa: E402, F401
