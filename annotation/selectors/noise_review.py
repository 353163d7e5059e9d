"""Reads for the review screen and the review API: one flagged judgment with everything a reviewer weighs (the
prompt and responses, every judge's ordering of the comparison, the flags and the out-of-fold margin) and its
review history. Researchers and admins of the project only (annotators get 403, outsiders 404: `project_get`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotation.models import Comparison, Judgment, LabelFlag, Placement, ReviewAction
from annotation.selectors.projects import User, project_get
from workbench.exceptions import NotFound

REVIEW_ROLES = ("admin", "researcher")


def judgment_get_for_review(*, user: User, judgment_id: int) -> Judgment:
    """The judgment if `user` may review its project; a judgment of a project the user is not in is a 404, as is
    an unknown id, so ids do not tell which projects exist."""
    judgment = (
        Judgment.objects.select_related("project", "judge", "comparison__prompt", "superseded_by__judge")
        .filter(pk=judgment_id)
        .first()
    )
    if judgment is None:
        raise NotFound("No such judgment.")
    judgment.project = project_get(user=user, slug=judgment.project.slug, roles=REVIEW_ROLES)
    return judgment


def review_action_get(*, user: User, action_id: int) -> ReviewAction:
    action = ReviewAction.objects.select_related("judgment", "user", "undone_by").filter(pk=action_id).first()
    if action is None:
        raise NotFound("No such review action.")
    judgment_get_for_review(user=user, judgment_id=action.judgment_id)
    return action


@dataclass(frozen=True)
class ShownResponse:
    label: str
    response_id: int
    text: str
    generator: str
    conversation: list[dict[str, Any]] | None


@dataclass(frozen=True)
class JudgeOrdering:
    judgment_id: int
    judge: str
    kind: str
    status: str
    groups: list[list[str]]  # labels, best group first
    order_key: str
    is_this: bool
    superseded_by: int | None

    @property
    def text(self) -> str:
        return " > ".join(" = ".join(group) for group in self.groups)


@dataclass(frozen=True)
class HistoryEntry:
    action: ReviewAction
    correction_text: str


@dataclass
class ReviewItem:
    judgment: Judgment
    messages: list[dict[str, Any]]
    responses: list[ShownResponse]
    orderings: list[JudgeOrdering]
    flags: list[LabelFlag]
    margin: dict[str, float] = field(default_factory=dict)  # the reward_model flag's out-of-fold numbers
    history: list[HistoryEntry] = field(default_factory=list)
    this_ordering: list[list[int]] = field(default_factory=list)  # response ids, for the correct form's default


def _label(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


def review_item(*, judgment: Judgment) -> ReviewItem:
    comparison = Comparison.objects.select_related("prompt").get(pk=judgment.comparison_id)
    members = list(comparison.members.select_related("response").order_by("position"))
    label_of = {m.response_id: _label(i) for i, m in enumerate(members)}
    responses = [
        ShownResponse(label_of[m.response_id], m.response_id, m.response.text, m.response.generator,
                      m.response.conversation)
        for m in members
    ]  # fmt: skip
    others = (
        Judgment.objects.filter(comparison=comparison)
        .exclude(status=Judgment.Status.NO_VERDICT)
        .select_related("judge")
        .order_by("judge__kind", "judge__name", "id")
    )
    groups_of: dict[int, dict[int, list[int]]] = {}
    for judgment_id, rank, response_id in Placement.objects.filter(judgment__in=others).values_list(
        "judgment_id", "rank", "response_id"
    ):
        groups_of.setdefault(judgment_id, {}).setdefault(rank, []).append(response_id)
    orderings = []
    for other in others:
        ranks = groups_of.get(other.pk, {})
        orderings.append(
            JudgeOrdering(
                judgment_id=other.pk,
                judge=other.judge.name,
                kind=other.judge.get_kind_display(),
                status=other.status,
                groups=[sorted(label_of[r] for r in ranks[rank]) for rank in sorted(ranks)],
                order_key=other.order_key,
                is_this=other.pk == judgment.pk,
                superseded_by=other.superseded_by_id,
            )
        )
    flags = list(LabelFlag.objects.filter(judgment=judgment).order_by("-score", "detector"))
    margin = next((f.details for f in flags if f.detector == "reward_model"), {}) or {}
    own = groups_of.get(judgment.pk, {})
    return ReviewItem(
        judgment=judgment,
        messages=list(comparison.prompt.messages or []),
        responses=responses,
        orderings=orderings,
        flags=flags,
        margin={k: float(v) for k, v in margin.items() if k in ("margin_mean", "margin_spread", "p_wrong")
                and isinstance(v, (int, float))},
        history=review_history(judgment=judgment, label_of=label_of),
        this_ordering=[sorted(own[rank]) for rank in sorted(own)],
    )  # fmt: skip


def review_history(*, judgment: Judgment, label_of: dict[int, str] | None = None) -> list[HistoryEntry]:
    """Every review action on the judgment and on its correction (if any), newest first, undone ones included."""
    ids = [judgment.pk] + ([judgment.superseded_by_id] if judgment.superseded_by_id else [])
    actions = list(
        ReviewAction.objects.filter(judgment_id__in=ids)
        .select_related("user", "undone_by")
        .order_by("-created_at", "-id")
    )
    texts: dict[int, str] = {}
    correction_ids = [a.correction_id for a in actions if a.correction_id]
    if correction_ids and label_of is not None:
        ranks: dict[int, dict[int, list[str]]] = {}
        for judgment_id, rank, response_id in Placement.objects.filter(judgment_id__in=correction_ids).values_list(
            "judgment_id", "rank", "response_id"
        ):
            ranks.setdefault(judgment_id, {}).setdefault(rank, []).append(label_of.get(response_id, "?"))
        texts = {
            jid: " > ".join(" = ".join(sorted(g)) for _, g in sorted(by_rank.items())) for jid, by_rank in ranks.items()
        }
    return [HistoryEntry(action, texts.get(action.correction_id or 0, "")) for action in actions]
