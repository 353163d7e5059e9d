"""Celery tasks: thin, take ids, import their service inside the body (the database row is the source of truth)."""

from celery import shared_task
from django.conf import settings


# The service stops an import at WORKBENCH_IMPORT_TIME_LIMIT_S itself; Celery's limits (prefork pool) are the
# backstop for a run stuck where that check cannot run.
@shared_task(
    name="annotation.import_job_run",
    acks_late=True,
    soft_time_limit=settings.WORKBENCH_IMPORT_TIME_LIMIT_S + 30,
    time_limit=settings.WORKBENCH_IMPORT_TIME_LIMIT_S + 90,
)
def import_job_run_task(job_id: int) -> None:
    from annotation.services.import_jobs import import_job_run

    import_job_run(job_id=job_id)


@shared_task(name="annotation.export_job_run", acks_late=True)
def export_job_run_task(job_id: int) -> None:
    from annotation.services.exports import export_run

    export_run(job_id=job_id)


@shared_task(name="annotation.judges_report_run", acks_late=True)
def judges_report_run_task(job_id: int) -> None:
    from annotation.services.judges_report import judges_report_run

    judges_report_run(job_id=job_id)


@shared_task(name="annotation.noise_run", acks_late=True)
def noise_run_task(run_id: int) -> None:
    from annotation.services.noise_runs import noise_run_execute

    noise_run_execute(run_id=run_id)
