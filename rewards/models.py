"""Reward-model training runs, their curves and evaluations, and the scoring jobs that turn a trained model into
a judge. Each row is its job's state: the worker writes it, pages poll it, a reaper ends runs whose worker died."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotation.models import Judge, Judgment, Project, Response
from workbench.models import BaseModel


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class TrainingRun(BaseModel):
    """One reward-model training: data (projects and judge filters), the frozen training config, live progress,
    and what it produced (metrics, artifact, provenance)."""

    name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    projects = models.ManyToManyField(Project, related_name="training_runs")
    judge_kinds = models.JSONField(default=list, help_text="Judge kinds whose active judgments are training data.")
    judge_names = models.JSONField(default=list, blank=True, help_text="Only these judges (empty = all of the kinds).")
    config = models.JSONField(help_text="TrainingConfig.to_dict(): everything that decides what the run computes.")
    data_filters = models.JSONField(
        default=dict, blank=True,
        help_text="Review and suspicion filters (rewards.services.examples.DataFilters.as_json); empty = defaults.",
    )  # fmt: skip

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    phase = models.CharField(max_length=32, blank=True, help_text="loading data, training, evaluating, saving")
    cancel_requested = models.BooleanField(default=False)
    attempt = models.PositiveSmallIntegerField(default=1)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0)
    loss = models.FloatField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True, help_text="Training accuracy over recent steps.")
    samples_per_s = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it")
    error = models.TextField(blank=True)

    data_stats = models.JSONField(default=dict, blank=True, help_text="Examples, split sizes, truncation counts.")
    dataset_fingerprint = models.CharField(max_length=128, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out evaluation with 95% intervals.")
    result = models.JSONField(default=dict, blank=True, help_text="Timings, throughput, versions, git revision.")
    artifact_dir = models.CharField(max_length=1024, blank=True, help_text="Relative to the data directory.")
    judge = models.OneToOneField(
        Judge, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run",
        help_text="The reward-model judge this run's scoring jobs write as.",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or f"run {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        return min(99, int(100 * self.step / self.total_steps)) if self.total_steps else 0


class RunMetric(models.Model):
    """One point of a run's curves (training loss and accuracy per logged step, evaluation numbers)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="curve")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    value = models.FloatField()

    class Meta:
        ordering = ["run_id", "name", "step"]
        indexes = [models.Index(fields=["run", "name", "step"], name="runmetric_run_name_step")]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value:.4g}"


class Evaluation(BaseModel):
    """A trained model scored against one set of judgments: the run's held-out split, or any project's."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="evaluations")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    held_out = models.BooleanField(default=False, help_text="The run's own held-out split (by prompt).")
    judge_kinds = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.run_id}"


class PairScore(models.Model):
    """The model's rewards for one induced pair of one judgment: kept so noise analysis can ask where the model
    and the label disagree, and by how much."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="pair_scores")
    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="+", db_index=False)
    better = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+", db_index=False)
    worse = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+", db_index=False)
    tie = models.BooleanField(default=False)
    reward_better = models.FloatField()
    reward_worse = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["evaluation", "judgment"], name="pairscore_eval_judgment")]

    def __str__(self) -> str:
        return f"{self.better_id} vs {self.worse_id}: {self.reward_better:.3f} / {self.reward_worse:.3f}"


class ScoringJob(BaseModel):
    """Run a trained model over a project's comparisons and store its orderings as judgments of its judge."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="scoring_jobs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    comparisons_total = models.PositiveIntegerField(default=0)
    comparisons_done = models.PositiveIntegerField(default=0)
    judgments_written = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"scoring {self.pk} of {self.project_id} by run {self.run_id}"
