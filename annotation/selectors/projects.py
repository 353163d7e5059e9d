"""Reads about projects: roles, lists, counts, the sample of judgments. Permission checks live here too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, OuterRef, Prefetch, QuerySet, Subquery

from annotation.models import Comparison, Judge, Judgment, Membership, Placement, Project, Prompt, Response
from workbench.exceptions import NotFound, PermissionDenied

User = AbstractBaseUser | AnonymousUser


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """The user's projects (every project for an admin), each with `member_role` (the user's membership role or
    None) for `role_of`, and `prompt_count`."""
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    member_role = Membership.objects.filter(project=OuterRef("pk"), user=user.pk).values("role")[:1]
    return projects.annotate(
        prompt_count=Count("prompts", distinct=True),
        member_role=Subquery(member_role),
    ).order_by("name")


def role_of(*, user: User, member_role: str | None) -> str | None:
    """'admin', 'researcher', 'annotator', or None for a non-member, from the `member_role` that
    `project_get` and `project_list_for_user` read with the project: admins hold every project, anonymous users
    none."""
    if not user.is_authenticated:
        return None
    return "admin" if user.is_superuser else member_role


# Every page of a project starts here, the judging endpoints several times a second: one plain statement,
# written out rather than compiled by the ORM (which costs more CPU than the query itself on a small machine).
_PROJECT_WITH_ROLE_SQL = """
SELECT p.*, m.role AS member_role FROM annotation_project p
LEFT JOIN annotation_membership m ON m.project_id = p.id AND m.user_id = %s
WHERE p.slug = %s
"""


def project_get(*, user: User, slug: str, roles: tuple[str, ...] = ("admin", "researcher")) -> Project:
    """The project if `user` holds one of `roles` in it. Non-members get 404, so project names do not leak.
    One query: the project with the user's role in it."""
    if not user.is_authenticated:
        raise NotFound("No such project.")
    project = next(iter(Project.objects.raw(_PROJECT_WITH_ROLE_SQL, [user.pk, slug])), None)
    role = role_of(user=user, member_role=project.member_role) if project else None
    if project is None or role is None:
        raise NotFound("No such project.")
    if role not in roles:
        raise PermissionDenied("Your role in this project does not allow this page.")
    return project


@dataclass
class JudgeSummary:
    name: str
    kind: str
    judgments: int
    ties: int


def project_counts(*, project: Project) -> dict[str, Any]:
    judgments = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE)
    by_judge = list(
        judgments.values("judge__name", "judge__kind")
        .annotate(n=Count("id"))
        .order_by("judge__kind", "-n", "judge__name")
    )
    # A judgment with a tie has fewer distinct ranks than placements.
    tied_ids = (
        Placement.objects.filter(judgment__project=project, judgment__status=Judgment.Status.ACTIVE)
        .values("judgment_id")
        .annotate(places=Count("id"), ranks=Count("rank", distinct=True))
        .filter(ranks__lt=F("places"))
        .values("judgment_id")
    )
    tied = dict(
        Judgment.objects.filter(id__in=tied_ids)
        .values("judge__name")
        .annotate(n=Count("id"))
        .values_list("judge__name", "n")
    )
    judges_by_kind: dict[str, int] = {kind: 0 for kind in Judge.Kind.values}
    for row in by_judge:
        judges_by_kind[row["judge__kind"]] += 1
    return {
        "prompts": Prompt.objects.filter(project=project).count(),
        "responses": Response.objects.filter(prompt__project=project).count(),
        "comparisons": Comparison.objects.filter(project=project).count(),
        "judgments": judgments.count(),
        "excluded": Judgment.objects.filter(project=project, status=Judgment.Status.EXCLUDED).count(),
        "judges": len(by_judge),
        "judges_by_kind": [(Judge.Kind(kind).label, n) for kind, n in judges_by_kind.items() if n],
        "by_judge": [
            JudgeSummary(r["judge__name"], Judge.Kind(r["judge__kind"]).label, r["n"], tied.get(r["judge__name"], 0))
            for r in by_judge
        ],
    }


@dataclass
class JudgmentView:
    judge: str
    kind: str
    source: str
    status: str
    groups: list[list[str]]  # response labels, best group first; a group of several is a tie
    rationale: str
    scores: dict[str, float]

    @property
    def ordering_text(self) -> str:
        return " > ".join(" = ".join(group) for group in self.groups)


@dataclass
class ComparisonView:
    comparison_id: int
    labels: list[tuple[str, Response]]
    judgments: list[JudgmentView]


@dataclass
class PromptSample:
    prompt: Prompt
    responses: list[tuple[str, Response]]
    comparisons: list[ComparisonView]


def _label(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


def project_sample(
    *, project: Project, page: int, per_page: int = 6, prompt_id: int | None = None
) -> tuple[list[PromptSample], bool]:
    """A page of prompts with their responses and every judge's ordering of each comparison; `prompt_id` keeps
    one prompt (the progress page links a comparison to its prompt here)."""
    start = (page - 1) * per_page
    chosen = Prompt.objects.filter(project=project)
    if prompt_id is not None:
        chosen = chosen.filter(pk=prompt_id)
    prompts = list(
        chosen.order_by("id").prefetch_related(
            Prefetch("responses", queryset=Response.objects.order_by("id")),
            Prefetch(
                "comparisons",
                queryset=Comparison.objects.order_by("id").prefetch_related(
                    "members",
                    Prefetch(
                        "judgments",
                        queryset=Judgment.objects.select_related("judge")
                        .prefetch_related(
                            Prefetch("placements", queryset=Placement.objects.order_by("rank", "response_id"))
                        )
                        .order_by("judge__kind", "judge__name"),
                    ),
                ),
            ),
        )[start : start + per_page + 1]
    )
    has_more = len(prompts) > per_page
    samples = []
    for prompt in prompts[:per_page]:
        responses = list(prompt.responses.all())
        label_of = {r.pk: _label(i) for i, r in enumerate(responses)}
        comparisons = []
        for comparison in prompt.comparisons.all():
            judgments = []
            for judgment in comparison.judgments.all():
                groups: dict[int, list[str]] = {}
                scores = {}
                for placement in judgment.placements.all():
                    groups.setdefault(placement.rank, []).append(label_of[placement.response_id])
                    if placement.score is not None:
                        scores[label_of[placement.response_id]] = placement.score
                judgments.append(
                    JudgmentView(
                        judge=judgment.judge.name,
                        kind=judgment.judge.get_kind_display(),
                        source=judgment.get_source_display(),
                        status=judgment.status,
                        groups=[groups[rank] for rank in sorted(groups)],
                        rationale=judgment.rationale,
                        scores=scores,
                    )
                )
            members = sorted(comparison.members.all(), key=lambda m: m.position)
            comparisons.append(
                ComparisonView(
                    comparison_id=comparison.pk,
                    labels=[(label_of[m.response_id], m.response_id) for m in members],  # type: ignore[misc]
                    judgments=judgments,
                )
            )
        samples.append(
            PromptSample(prompt=prompt, responses=[(label_of[r.pk], r) for r in responses], comparisons=comparisons)
        )
    return samples, has_more


def can_create_projects(*, user: User) -> bool:
    """Admins, staff, and anyone who is a researcher somewhere may start a project."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return Membership.objects.filter(user=user, role=Membership.Role.RESEARCHER).exists()
