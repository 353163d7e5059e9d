"""A small flagged project for the review tests, built in the database the way detectors leave it: prompts with two
responses, three annotators' judgments (one of them a planted wrong label), a model judge, and LabelFlag rows from a
"reward_model" detector (with its out-of-fold margin) and the "combined" suspicion. One response carries a script."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotation.models import (
    Comparison,
    ComparisonResponse,
    Judge,
    Judgment,
    LabelFlag,
    Membership,
    Placement,
    Project,
    Prompt,
    Response,
)
from tests.factories import MembershipFactory, ProjectFactory

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@dataclass
class ReviewWorld:
    project: Project
    researcher: object
    annotator: object
    comparisons: list[Comparison] = field(default_factory=list)
    judges: dict[str, Judge] = field(default_factory=dict)
    # (annotator name, prompt index) -> judgment
    judgments: dict[tuple[str, int], Judgment] = field(default_factory=dict)


def make_judgment(project: Project, comparison: Comparison, judge: Judge, ordering: list[list[int]]) -> Judgment:
    judgment = Judgment.objects.create(
        project=project,
        comparison=comparison,
        judge=judge,
        source=Judgment.Source.IMPORT,
        shown_order=Comparison.response_ids_of(comparison.key),
        duration_ms=20_000,
    )
    Placement.objects.bulk_create(
        Placement(judgment=judgment, response_id=rid, rank=rank)
        for rank, group in enumerate(ordering, start=1)
        for rid in group
    )
    return judgment


def flag(judgment: Judgment, detector: str, score: float, reason: str, **details: float) -> LabelFlag:
    return LabelFlag.objects.create(
        project_id=judgment.project_id,
        judgment=judgment,
        detector=detector,
        score=score,
        reason=reason,
        details=details,
    )


def review_world(prompts: int = 4, slug: str = "noisy") -> ReviewWorld:
    """`prompts` prompts; annotators a1, a2 prefer the first response everywhere, a3 the second (planted wrong). The
    a3 judgments are flagged with falling suspicion, the first one most; a1's first judgment is flagged weakly."""
    project = ProjectFactory(slug=slug, name="Noisy demo", overlap=3)
    researcher = MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user__username="rev").user
    annotator = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="ann").user
    world = ReviewWorld(project=project, researcher=researcher, annotator=annotator)
    for name in ("a1", "a2", "a3"):
        world.judges[name] = Judge.objects.create(project=project, name=f"crowd:{name}", kind=Judge.Kind.HUMAN)
    world.judges["rm"] = Judge.objects.create(project=project, name="rm:small", kind=Judge.Kind.REWARD_MODEL)
    for i in range(prompts):
        prompt = Prompt.objects.create(
            project=project,
            external_id=f"p{i}",
            messages=[{"role": "user", "content": f"Question {i}: which answer is better?"}],
            category="math" if i % 2 else "chat",
        )
        good = Response.objects.create(prompt=prompt, external_id="good", text=f"A careful answer {i}.")
        bad_text = HOSTILE if i == 0 else f"A sloppy answer {i}."
        bad = Response.objects.create(prompt=prompt, external_id="bad", text=bad_text)
        comparison = Comparison.objects.create(
            project=project, prompt=prompt, key=Comparison.key_for([good.pk, bad.pk]), slots_left=0
        )
        ComparisonResponse.objects.create(comparison=comparison, response=good, position=0)
        ComparisonResponse.objects.create(comparison=comparison, response=bad, position=1)
        world.comparisons.append(comparison)
        for name in ("a1", "a2"):
            world.judgments[(name, i)] = make_judgment(project, comparison, world.judges[name], [[good.pk], [bad.pk]])
        world.judgments[("a3", i)] = make_judgment(project, comparison, world.judges["a3"], [[bad.pk], [good.pk]])
        world.judgments[("rm", i)] = make_judgment(project, comparison, world.judges["rm"], [[good.pk], [bad.pk]])
        wrong = world.judgments[("a3", i)]
        score = round(0.95 - 0.1 * i, 2)
        flag(wrong, "reward_model", score, "the out-of-fold model prefers the other response",
             margin_mean=-2.5 + 0.3 * i, margin_spread=0.4, p_wrong=score)  # fmt: skip
        flag(wrong, "other_judges", 0.9, "2 of 2 other annotators disagree")
        flag(wrong, "combined", score, "reward model and other judges agree it is wrong")
    weak = world.judgments[("a1", 0)]
    flag(weak, "combined", 0.2, "a weak doubt")
    flag(weak, "behaviour", 0.2, "faster than usual")
    return world
