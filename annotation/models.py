"""The judgment data model (DESIGN.md §2): a judgment is one judge's ordering of a comparison's responses.

Orderings are stored as Placement rows (rank per response, 1 = best, equal ranks = tie) so SQL can join,
filter and aggregate on them. Comparison and Judgment carry a denormalised `project` so the per-project
queries of exports and overviews need no three-table join.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from workbench.models import BackgroundJob, BaseModel


class Project(BaseModel):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise"
        LISTWISE = "listwise", "Listwise"

    class Rationale(models.TextChoices):
        OFF = "off", "Off"
        OPTIONAL = "optional", "Optional"
        REQUIRED = "required", "Required"

    class QueueOrder(models.TextChoices):
        SEQUENTIAL = "sequential", "Sequential"
        RANDOM = "random", "Random"
        FEWEST_FIRST = "fewest_first", "Fewest judgments first"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAIRWISE)
    list_size = models.PositiveSmallIntegerField(default=2)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Distinct annotators per comparison.")
    allow_ties = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=False)
    strength_scale = models.JSONField(
        default=list,
        blank=True,
        help_text='Labels from weakest to strongest, e.g. ["slightly", "clearly", "much"]; empty = off.',
    )
    criteria = models.JSONField(default=list, blank=True, help_text='[{"key", "label", "scale"}]')
    rationale = models.CharField(max_length=16, choices=Rationale.choices, default=Rationale.OPTIONAL)
    guidelines_md = models.TextField(blank=True)
    lease_minutes = models.PositiveSmallIntegerField(default=30)
    queue_order = models.CharField(max_length=16, choices=QueueOrder.choices, default=QueueOrder.SEQUENTIAL)
    source = models.TextField(blank=True, help_text="Where the data came from: citation, licence, URL.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(list_size__gte=2), name="project_list_size_at_least_2"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_at_least_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(BaseModel):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        RESEARCHER = "researcher", "Researcher"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Prompt(BaseModel):
    """A conversation: `messages` is a list of {"role", "content"}; the responses continue it."""

    # Indexed by the (project, external_id) unique constraint; a separate index only slows inserts.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts", db_index=False)
    external_id = models.CharField(max_length=255)
    messages = models.JSONField()
    category = models.CharField(max_length=100, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "external_id"], name="prompt_unique_external_id")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.external_id}"

    def clean(self) -> None:
        from annotation.messages import validate_messages

        try:
            validate_messages(self.messages)
        except ValueError as error:
            raise ValidationError({"messages": str(error)}) from error


class Response(BaseModel):
    """One answer to a prompt. `conversation` is set only where this response's own earlier turns differ from
    the shared prompt (MT-Bench turn 2, HH rows whose transcripts diverge early): it is then the whole
    conversation this response ends, and `text` its last assistant turn."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses", db_index=False)
    external_id = models.CharField(max_length=255)
    text = models.TextField()
    generator = models.CharField(max_length=200, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    conversation = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["prompt", "external_id"], name="response_unique_external_id")]

    def __str__(self) -> str:
        return f"{self.prompt_id}/{self.external_id}"


class Comparison(BaseModel):
    """A set of one prompt's responses put before judges together: the unit of assignment and overlap.
    `key` is the sorted response ids joined by commas, so a response set has one comparison per prompt."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons", db_index=False)
    key = models.CharField(max_length=512)
    responses = models.ManyToManyField(Response, through="ComparisonResponse", related_name="comparisons")
    # Annotator slots still free: starts at the project's overlap, a claim takes one with a conditional UPDATE
    # (`slots_left > 0`, row count checked), a skip or an expired lease gives it back, a submission keeps it.
    # So a comparison never receives more than `overlap` human judgments, even under concurrent claims.
    slots_left = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["prompt", "key"], name="comparison_unique_response_set")]
        indexes = [
            # The queue: open comparisons of a project in id order (sequential and random-start orders) and by
            # most free slots (fewest judgments first). Partial, so full comparisons cost the queue nothing.
            models.Index(fields=["project", "id"], condition=Q(slots_left__gt=0), name="comparison_open_queue"),
            models.Index(
                fields=["project", "-slots_left", "id"], condition=Q(slots_left__gt=0), name="comparison_open_fewest"
            ),
        ]

    def __str__(self) -> str:
        return f"comparison {self.pk} of prompt {self.prompt_id}"

    @staticmethod
    def key_for(response_ids: list[int] | tuple[int, ...]) -> str:
        return ",".join(str(i) for i in sorted(response_ids))

    @staticmethod
    def response_ids_of(key: str) -> list[int]:
        """The comparison's response ids, read from its key without a query."""
        return [int(part) for part in key.split(",")]


class ComparisonResponse(models.Model):
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="members", db_index=False)
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(help_text="Canonical position (A = 0, B = 1, ...).")

    class Meta:
        ordering = ["comparison_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "response"], name="comparison_response_unique"),
            models.UniqueConstraint(fields=["comparison", "position"], name="comparison_position_unique"),
        ]

    def __str__(self) -> str:
        return f"response {self.response_id} at {self.position} in comparison {self.comparison_id}"


class Judge(BaseModel):
    """Anything that orders responses, in one project: judges are scoped to their project, so two projects can each
    have an "annotator1", and nothing about one project's judges (names, kinds, client tokens) shows in another.
    A person has one human judge per project they judge in (`user` set); names starting `human:` are the system's."""

    class Kind(models.TextChoices):
        HUMAN = "human", "Human"
        REWARD_MODEL = "reward_model", "Reward model"
        LLM = "llm", "LLM judge"
        REFERENCE = "reference", "Reference"
        IMPORTED = "imported", "Imported source"

    RESERVED_PREFIX = "human:"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    name = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="judges"
    )
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="judge_unique_name_per_project"),
            models.UniqueConstraint(
                fields=["project", "user"], condition=Q(user__isnull=False), name="judge_one_per_user_per_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class ImportJob(BackgroundJob):
    """One file imported into one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    path = models.CharField(max_length=1024)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=64, blank=True, help_text="Empty = detect from the columns.")
    phase = models.CharField(max_length=32, blank=True)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)

    class Origin(models.TextChoices):
        PAGE = "page", "Import page"
        API = "api", "API"
        COMMAND = "command", "Command line"

    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.PAGE)
    # BLAKE2b of the file's bytes with its format and options: a succeeded job with the same hash, in a project whose
    # earlier rows are unchanged since (`project_state`), makes a re-import of the file a no-op without parsing it.
    content_hash = models.CharField(max_length=64, blank=True, default="")
    project_state = models.JSONField(default=dict, blank=True)

    class Meta(BackgroundJob.Meta):
        indexes = [models.Index(fields=["project", "content_hash"], name="importjob_project_hash")]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.original_name} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.bytes_total:
            return 0
        # The file is read twice (validate, then write); each pass is half the bar.
        passes_done = 1 if self.phase == "write" else 0
        return min(99, int(50 * passes_done + 50 * self.bytes_done / self.bytes_total))


class Judgment(BaseModel):
    class Source(models.TextChoices):
        UI = "ui", "Annotation UI"
        API = "api", "API"
        IMPORT = "import", "Import"
        MODEL = "model", "Model scoring"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXCLUDED = "excluded", "Excluded"
        # The judge was asked and gave no usable verdict (an LLM's unparsable output): no placements, never active,
        # so everything that reads active judgments (exports, training, agreement, the queue) ignores it, while
        # coverage and the both-order metrics can count it.
        NO_VERDICT = "no_verdict", "No verdict"
        # A reviewer corrected it: the correction is a new active judgment (`superseded_by`); this one is kept, out of
        # exports and training, so the raw export's provenance can show what was changed.
        SUPERSEDED = "superseded", "Superseded"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgments", db_index=False)
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="judgments")
    # RESTRICT, not PROTECT: a judge with judgments cannot be deleted alone, but deleting its project (which cascades
    # to both) works.
    judge = models.ForeignKey(Judge, on_delete=models.RESTRICT, related_name="judgments", db_index=False)
    strength = models.SmallIntegerField(
        null=True, blank=True, help_text="Index into the strength scale; for imports, the margin."
    )
    margin = models.FloatField(null=True, blank=True, help_text="Numeric preference margin (TRL `margin`).")
    criteria = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    shown_order = models.JSONField(default=list, blank=True, help_text="Response ids in the order they were shown.")
    order_key = models.CharField(
        max_length=512,
        blank=True,
        default="",
        help_text="For judges that see a comparison in several orders (LLM judges, reward models): the shown order's "
        "response ids joined by commas, so each order keeps its own judgment; empty for human judges and unknown "
        "orders (one judgment per comparison).",
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    client_token = models.CharField(max_length=64, null=True, blank=True)
    import_job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metadata = models.JSONField(default=dict, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes",
        help_text="The reviewer's correction that replaced this judgment.",
    )  # fmt: skip

    class Meta:
        ordering = ["id"]
        constraints = [
            # One outcome (an active judgment or a recorded "no verdict") per judge, comparison and shown order; a
            # judgment without an order key (every human judgment, unknown orders) is one per judge and comparison.
            models.UniqueConstraint(
                fields=["judge", "comparison"],
                condition=Q(status__in=["active", "no_verdict"], order_key=""),
                name="judgment_one_active_per_judge",
            ),
            models.UniqueConstraint(
                fields=["judge", "comparison", "order_key"],
                condition=Q(status__in=["active", "no_verdict"]) & ~Q(order_key=""),
                name="judgment_one_active_per_judge_order",
            ),
            models.UniqueConstraint(
                fields=["judge", "client_token"],
                condition=Q(client_token__isnull=False),
                name="judgment_unique_client_token",
            ),
        ]
        # Leading columns of composite indexes and unique constraints serve project, judge and comparison lookups;
        # no single-column copies (each costs every insert: see docs/benchmarks.md).
        indexes = [
            models.Index(fields=["project", "judge"], name="judgment_project_judge"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk} by {self.judge_id} on {self.comparison_id}"


class Placement(models.Model):
    """A response's place in a judgment: rank 1 is best; equal ranks are ties; ranks are dense."""

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="placements", db_index=False)
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="placements")
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["judgment_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["judgment", "response"], name="placement_unique_response"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="placement_rank_positive"),
        ]

    def __str__(self) -> str:
        return f"response {self.response_id} ranked {self.rank} in judgment {self.judgment_id}"


class Assignment(BaseModel):
    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED, db_index=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    judgment = models.OneToOneField(
        Judgment, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignment"
    )
    shown_order = models.JSONField(default=list, blank=True)
    served_at = models.DateTimeField(null=True, blank=True, help_text="When the item was last handed out.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "annotator"],
                condition=Q(status__in=["leased", "done"]),
                name="assignment_one_open_per_annotator",
            )
        ]
        indexes = [
            # An annotator's work in a project (progress, their open leases, undo) and the lease reaper.
            models.Index(fields=["project", "annotator", "status"], name="assignment_project_annotator"),
            models.Index(fields=["status", "leased_until"], name="assignment_status_lease"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} of comparison {self.comparison_id} to {self.annotator_id} ({self.status})"


class ExportJob(BackgroundJob):
    """One export of one project's judgments: its format, filters and options are kept so it can be reproduced."""

    class Format(models.TextChoices):
        TRL_PAIRWISE = "trl-pairwise", "TRL pairwise (prompt / chosen / rejected)"
        LISTWISE = "listwise", "Listwise (responses in order)"
        RAW = "raw", "Raw judgments with provenance"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    format = models.CharField(max_length=32, choices=Format.choices)
    file_type = models.CharField(max_length=16, default="jsonl", help_text="jsonl, parquet or csv.")
    filters = models.JSONField(default=dict, blank=True)
    rows_total = models.BigIntegerField(default=0)
    output_dir = models.CharField(max_length=1024, blank=True, help_text="Relative to the data directory.")
    files = models.JSONField(default=list, blank=True, help_text="Names of the files written in output_dir.")

    def __str__(self) -> str:
        return f"export {self.pk} of {self.project_id} as {self.format} ({self.status})"


class JudgeReport(BackgroundJob):
    """One judge comparison of a project (docs/judges.md): what was asked (`options`), the result (`report`), and the
    fingerprint of the judgments it read, so a page can tell a stored report from a stale one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judge_reports")
    key = models.CharField(max_length=64, help_text="Hash of the options: reports of the same question share it.")
    fingerprint = models.CharField(max_length=400, blank=True, help_text="The judgments it read (count, ids, times).")
    phase = models.CharField(max_length=32, blank=True)
    stale = False  # not stored: set by judges_report_start when it compared the fingerprint

    class Meta(BackgroundJob.Meta):
        indexes = [models.Index(fields=["project", "key", "-created_at"], name="judgereport_project_key")]

    def __str__(self) -> str:
        return f"judges report {self.pk} of {self.project_id} ({self.status})"


class NoiseRun(BackgroundJob):
    """One run of the noisy-label detectors over a project (docs/noise.md): what was asked (`options`: detectors,
    folds, seeds), live progress (`phase`, `rows_done`), and per-detector summaries in `report` (flags written, the
    estimated flip rate). Its flags replace the flags the same detectors wrote before."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="noise_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    phase = models.CharField(max_length=64, blank=True)
    detectors = models.JSONField(default=list, help_text="Detector names this run computes.")
    cancel_requested = models.BooleanField(default=False)
    attempt = models.PositiveSmallIntegerField(default=1)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it")

    def __str__(self) -> str:
        return f"noise run {self.pk} of {self.project_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)


class LabelFlag(BaseModel):
    """One detector's suspicion that a judgment is wrong: a score in [0, 1] (higher = more likely wrong) and a
    one-line reason. One flag per judgment and detector: a rerun replaces it. `detector="combined"` holds the combined
    suspicion. The review status records what a reviewer did about it (ReviewAction has the history)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        KEPT = "kept", "Kept"
        CORRECTED = "corrected", "Corrected"
        EXCLUDED = "excluded", "Excluded"
        REQUEUED = "requeued", "Re-queued"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_flags", db_index=False)
    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="flags", db_index=False)
    run = models.ForeignKey(NoiseRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="flags")
    detector = models.CharField(max_length=32)
    score = models.FloatField()
    reason = models.CharField(max_length=400)
    details = models.JSONField(default=dict, blank=True, help_text="Detector numbers: margin mean and spread, ...")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["judgment", "detector"], name="labelflag_one_per_detector"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=1), name="labelflag_score_in_unit"),
        ]
        indexes = [models.Index(fields=["project", "detector", "-score"], name="labelflag_project_detector")]

    def __str__(self) -> str:
        return f"{self.detector} flag {self.score:.2f} on judgment {self.judgment_id}"


class ReviewAction(models.Model):
    """Who did what to a judgment in review, when and why: keep (dismiss its flags), correct (a new active judgment
    supersedes it), exclude, re-queue. Undoing sets `undone_at` and reverses the change; the row stays."""

    class Action(models.TextChoices):
        KEEP = "keep", "Keep"
        CORRECT = "correct", "Correct"
        EXCLUDE = "exclude", "Exclude"
        REQUEUE = "requeue", "Re-queue"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_actions", db_index=False)
    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="review_actions")
    action = models.CharField(max_length=16, choices=Action.choices)
    note = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    correction = models.ForeignKey(
        Judgment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="For a correction: the new judgment.",
    )  # fmt: skip
    requeued = models.PositiveSmallIntegerField(default=0, help_text="For a re-queue: annotator slots opened.")
    previous_flag_status = models.JSONField(default=dict, blank=True, help_text="flag id -> status before, for undo.")
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="reviewaction_project_time")]

    def __str__(self) -> str:
        return f"{self.action} of judgment {self.judgment_id} by {self.user_id}"
