"""Judgments posted by scripts (the REST API): from an external judge (an imported source or an LLM judge, named in
the request and created on first use), or from the requesting user's own human judge.

A human judgment still goes through the queue: it is the submission of the user's lease on that comparison
(`judgment_submit`), so exact overlap, blindness and every annotator rule hold whichever way it arrives. An external
judge's judgment is written directly; the project's strength scale and criteria apply to it, the annotator-page rules
(ties, "both bad", rationale required or off) do not. Both are idempotent by client token.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from annotation.models import Assignment, Comparison, Judge, Judgment, Placement, Project
from annotation.services.judgments import InvalidJudgment, Verdict, human_judge_for, judgment_submit, validate_verdict
from annotation.services.prompts import RowsInvalid
from workbench.exceptions import ApplicationError, Conflict

EXTERNAL_KINDS = (Judge.Kind.IMPORTED, Judge.Kind.LLM, Judge.Kind.REFERENCE)
MAX_JUDGMENTS = 1000


@dataclass(frozen=True)
class JudgmentInput:
    comparison_id: int
    ranking: list[list[int]]
    judge_name: str | None = None  # None: the requesting user's human judge
    judge_kind: str = Judge.Kind.IMPORTED
    scores: dict[int, float] = field(default_factory=dict)
    strength: int | None = None
    margin: float | None = None
    criteria: dict[str, str] = field(default_factory=dict)
    rationale: str = ""
    both_bad: bool = False
    duration_ms: int | None = None
    client_token: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def verdict(self) -> Verdict:
        return Verdict(
            ranking=self.ranking,
            strength=self.strength,
            criteria=dict(self.criteria),
            rationale=self.rationale,
            both_bad=self.both_bad,
            duration_ms=self.duration_ms,
            client_token=self.client_token or None,
        )


def _fail(field_name: str, message: str) -> InvalidJudgment:
    return InvalidJudgment(message, extra={"field": field_name})


def judge_get_or_create_external(*, project: Project, name: str, kind: str) -> Judge:
    """The project's external judge called `name`, created with `kind` on first use. Judges are per project, so
    the name and anything refused about it concern this project's judges only. A name already taken by a judge of
    another kind (a reward model, an imported annotator, the other external kind) is refused; names starting
    `human:` are reserved for annotators' own judges."""
    if kind not in EXTERNAL_KINDS:
        raise _fail("judge.kind", f"Scripts post as an external judge of kind {' or '.join(EXTERNAL_KINDS)}.")
    name = name.strip()
    if not name:
        raise _fail("judge.name", "Name the judge.")
    if name.startswith(Judge.RESERVED_PREFIX):
        raise _fail("judge.name", f"Names starting {Judge.RESERVED_PREFIX!r} are reserved for annotators' own judges.")
    judge = Judge.objects.filter(project=project, name=name).first()
    if judge is None:
        try:
            with transaction.atomic():
                judge = Judge.objects.create(project=project, name=name, kind=kind)
        except IntegrityError:  # created by a concurrent first use of the same name
            judge = Judge.objects.get(project=project, name=name)
    if judge.kind != kind:
        raise _fail("judge.kind", f"The judge {name!r} of this project has kind {judge.kind!r}, not {kind!r}.")
    return judge


def _earlier(judge: Judge, data: JudgmentInput) -> Judgment | None:
    """The judgment an earlier request with this client token stored (a retry gets it back unchanged)."""
    if not data.client_token:
        return None
    earlier = Judgment.objects.filter(judge=judge, client_token=data.client_token).first()
    if earlier is not None and earlier.comparison_id != data.comparison_id:
        raise Conflict(
            "This client token was already used for a judgment of another comparison.",
            extra={"field": "client_token"},
        )
    return earlier


def _comparison(project: Project, comparison_id: int) -> Comparison:
    comparison = Comparison.objects.filter(project=project, pk=comparison_id).first()
    if comparison is None:
        raise _fail("comparison", f"No comparison {comparison_id} in this project.")
    return comparison


def _create_human(*, project: Project, user: AbstractBaseUser, data: JudgmentInput) -> tuple[Judgment, bool]:
    for name, value in (("scores", data.scores), ("margin", data.margin), ("metadata", data.metadata)):
        if value:
            raise _fail(name, f"{name} comes from external judges; name the judge to send it.")
    comparison = _comparison(project, data.comparison_id)  # first: a token may only find this project's judgments
    judge = human_judge_for(user=user, project=project)
    earlier = _earlier(judge, data)
    if earlier is not None:
        return earlier, False
    leases = Assignment.objects.select_related("project", "comparison", "annotator").filter(
        comparison=comparison, annotator_id=user.pk
    )
    # A live lease first; else the latest expired one (judgment_submit takes a slot again if one is free).
    assignment = (
        leases.filter(status=Assignment.Status.LEASED).first()
        or leases.filter(status=Assignment.Status.EXPIRED).order_by("-id").first()
    )
    if assignment is None:
        raise Conflict(
            f"You hold no lease on comparison {comparison.pk}. Human judgments go through the queue (each item gets "
            "exactly the project's overlap of annotators): claim items with assignments/next and submit them.",
            extra={"field": "comparison"},
        )
    return judgment_submit(assignment=assignment, verdict=data.verdict(), source=Judgment.Source.API), True


def _create_external(*, project: Project, data: JudgmentInput) -> tuple[Judgment, bool]:
    comparison = _comparison(project, data.comparison_id)  # first: a token may only find this project's judgments
    judge = judge_get_or_create_external(project=project, name=data.judge_name or "", kind=data.judge_kind)
    earlier = _earlier(judge, data)
    if earlier is not None:
        return earlier, False
    response_ids = Comparison.response_ids_of(comparison.key)
    if data.both_bad:
        raise _fail("both_bad", "'Both bad' is an annotator answer; an external judge ranks the responses as a tie.")
    # The annotator-page rules on ties and rationale are for people; scales, criteria and sizes apply to everyone.
    rules = copy.copy(project)
    rules.allow_ties, rules.rationale = True, Project.Rationale.OPTIONAL
    validate_verdict(project=rules, response_ids=response_ids, verdict=data.verdict())
    for response_id, score in data.scores.items():
        if response_id not in response_ids:
            raise _fail("scores", f"Response {response_id} is not in comparison {comparison.pk}.")
        if not math.isfinite(score):
            raise _fail("scores", "Scores must be finite numbers.")
    if data.margin is not None and not math.isfinite(data.margin):
        raise _fail("margin", "The margin must be a finite number.")
    active = Judgment.objects.filter(judge=judge, comparison=comparison, status=Judgment.Status.ACTIVE).first()
    if active is not None:
        raise Conflict(
            f"The judge {judge.name!r} already has an active judgment of comparison {comparison.pk}.",
            extra={"field": "comparison", "judgment": active.pk},
        )
    try:
        with transaction.atomic():
            judgment = Judgment.objects.create(
                project=project,
                comparison=comparison,
                judge=judge,
                strength=data.strength,
                margin=data.margin,
                criteria=dict(data.criteria),
                rationale=data.rationale.strip(),
                duration_ms=data.duration_ms,
                source=Judgment.Source.API,
                client_token=data.client_token or None,
                metadata=dict(data.metadata),
            )
            Placement.objects.bulk_create(
                Placement(judgment=judgment, response_id=rid, rank=rank, score=data.scores.get(rid))
                for rank, group in enumerate(data.ranking, start=1)
                for rid in group
            )
    except IntegrityError:  # a concurrent request with the same token or for the same comparison won
        earlier = _earlier(judge, data)
        if earlier is not None:
            return earlier, False
        raise Conflict(
            f"The judge {judge.name!r} already has an active judgment of comparison {comparison.pk}.",
            extra={"field": "comparison"},
        ) from None
    return judgment, True


def judgment_create(*, project: Project, user: AbstractBaseUser, data: JudgmentInput) -> tuple[Judgment, bool]:
    """Store one judgment; returns it and whether it is new (False: a retry with a client token already used).
    The caller has checked the role: researchers and admins for external judges, any member for their own."""
    if data.judge_name is None:
        return _create_human(project=project, user=user, data=data)
    return _create_external(project=project, data=data)


def judgment_create_many(
    *, project: Project, user: AbstractBaseUser, items: list[JudgmentInput]
) -> list[tuple[Judgment, bool]]:
    """All or nothing: every row is tried, and if any is refused nothing is kept and each refusal is reported with
    its row and field."""
    if not items:
        raise ApplicationError("Send at least one judgment.", extra={"field": "judgments"})
    if len(items) > MAX_JUDGMENTS:
        raise ApplicationError(f"At most {MAX_JUDGMENTS} judgments per request.", extra={"field": "judgments"})
    results: list[tuple[Judgment, bool]] = []
    problems: list[dict[str, Any]] = []
    with transaction.atomic():
        for index, data in enumerate(items):
            try:
                with transaction.atomic():
                    results.append(judgment_create(project=project, user=user, data=data))
            except ApplicationError as error:
                problems.append(
                    {"row": index, "field": error.extra.get("field", ""), "message": error.message}
                    | ({"status": error.status_code} if error.status_code != 400 else {})
                )
        if problems:
            raise RowsInvalid.of(problems, len(items))
    return results
