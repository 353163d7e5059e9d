"""The export job's Celery task: thin, takes the job id, imports its service inside the body.

Register it with the worker by importing this module from annotation/tasks.py (autodiscovery looks only at
`tasks.py`): `from annotation.export_tasks import export_job_run_task  # noqa: F401`.
"""

from celery import shared_task


@shared_task(name="annotation.export_tasks.export_job_run_task", acks_late=True)
def export_job_run_task(job_id: int) -> None:
    from annotation.services.exports import export_run

    export_run(job_id=job_id)
