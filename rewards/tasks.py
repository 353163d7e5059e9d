"""Celery tasks for the `gpu` queue (routed by name in settings): thin, take ids, import their service inside the
body (torch loads only in the worker). Late acks; the row is the truth, so a redelivered message does nothing."""

from celery import shared_task


@shared_task(name="rewards.tasks.training_run", acks_late=True)
def training_run_task(run_id: int) -> None:
    from rewards.services.execution import training_run_execute

    training_run_execute(run_id=run_id)


@shared_task(name="rewards.tasks.scoring_job", acks_late=True)
def scoring_job_task(job_id: int) -> None:
    from rewards.services.scoring import scoring_job_run

    scoring_job_run(job_id=job_id)


@shared_task(name="rewards.tasks.evaluation", acks_late=True)
def evaluation_task(evaluation_id: int) -> None:
    from rewards.services.scoring import evaluation_run

    evaluation_run(evaluation_id=evaluation_id)


@shared_task(name="rewards.noise_crossfit", acks_late=True)
def noise_crossfit_task(run_id: int) -> None:
    """The cross-fitted reward-model detector of a noise run (sent by annotation.services.noise_runs)."""
    from rewards.services.noise_crossfit import noise_crossfit_execute

    noise_crossfit_execute(run_id=run_id)
