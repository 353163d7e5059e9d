"""Hand-made projects for the noisy-label run tests: prompts with two (or more) responses, one comparison each, and
human judges whose verdicts, shown orders, durations and times are set row by row."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from annotation.models import Comparison, ComparisonResponse, Judge, Judgment, Placement, Project, Prompt, Response


@dataclass
class Built:
    project: Project
    comparisons: list[Comparison]
    judges: dict[str, Judge]
    judgments: list[Judgment] = field(default_factory=list)


def comparisons_of(project: Project, prompts: int, responses: int = 2) -> list[Comparison]:
    out = []
    first = Prompt.objects.filter(project=project).count()
    for i in range(first, first + prompts):
        prompt = Prompt.objects.create(
            project=project, external_id=f"q{i}", messages=[{"role": "user", "content": f"question {i}"}]
        )
        made = [Response.objects.create(prompt=prompt, external_id=f"r{k}", text=f"a{i}.{k}") for k in range(responses)]
        ids = sorted(r.pk for r in made)
        key = Comparison.key_for(ids)
        comparison = Comparison.objects.create(project=project, prompt=prompt, key=key, slots_left=0)
        ComparisonResponse.objects.bulk_create(
            ComparisonResponse(comparison=comparison, response_id=rid, position=p) for p, rid in enumerate(ids)
        )
        out.append(comparison)
    return out


def judge(project: Project, name: str, kind: str = Judge.Kind.HUMAN) -> Judge:
    return Judge.objects.create(project=project, name=name, kind=kind)


def judgment(
    comparison: Comparison,
    judge: Judge,
    ranks: list[int],
    *,
    shown: list[int] | None = None,
    order_key: str = "",
    duration_ms: int | None = None,
    at=None,  # noqa: ANN001 - a datetime
    status: str = Judgment.Status.ACTIVE,
) -> Judgment:
    """`ranks[i]` is the rank of the comparison's i-th response by id."""
    ids = Comparison.response_ids_of(comparison.key)
    made = Judgment.objects.create(
        project_id=comparison.project_id, comparison=comparison, judge=judge, source=Judgment.Source.IMPORT,
        shown_order=shown if shown is not None else ids, order_key=order_key, duration_ms=duration_ms, status=status,
    )  # fmt: skip
    if at is not None:
        Judgment.objects.filter(pk=made.pk).update(created_at=at)
    Placement.objects.bulk_create(
        Placement(judgment=made, response_id=rid, rank=rank) for rid, rank in zip(ids, ranks, strict=True)
    )
    return made


def crowd(project: Project, *, prompts: int = 30, annotators: int = 4, seed: int = 0) -> Built:
    """`annotators` careful humans (each right 90% of the time, a in truth better on even prompts) and one spammer
    who always answers "the first shown" in half a second: something for every detector to find."""
    rng = random.Random(seed)
    comparisons = comparisons_of(project, prompts)
    judges = {f"ann{i}": judge(project, f"ann{i}") for i in range(annotators)} | {"spam": judge(project, "spam")}
    built = Built(project, comparisons, judges)
    start = timezone.now() - timedelta(days=1)
    for index, comparison in enumerate(comparisons):
        a, b = Comparison.response_ids_of(comparison.key)
        truth_a = index % 2 == 0
        for name, who in judges.items():
            shown = [a, b] if rng.random() < 0.5 else [b, a]
            if name == "spam":
                a_better, duration = shown[0] == a, 500
            else:
                a_better, duration = truth_a if rng.random() < 0.9 else not truth_a, rng.randint(8000, 30000)
            at = start + timedelta(minutes=index)
            built.judgments.append(
                judgment(comparison, who, [1, 2] if a_better else [2, 1], shown=shown, duration_ms=duration, at=at)
            )
    return built


def bulk_crowd(project: Project, *, prompts: int, annotators: int, seed: int = 0) -> int:
    """A bigger crowd in bulk (no per-row queries): `annotators` humans, each right 90% of the time, judge every
    prompt's pair. Returns the number of judgments."""
    rng = random.Random(seed)
    made = Prompt.objects.bulk_create(
        Prompt(project=project, external_id=f"b{i}", messages=[{"role": "user", "content": f"q{i}"}])
        for i in range(prompts)
    )
    responses = Response.objects.bulk_create(
        Response(prompt=p, external_id=f"r{k}", text=f"answer {k}") for p in made for k in range(2)
    )
    pairs = [sorted((responses[2 * i].pk, responses[2 * i + 1].pk)) for i in range(prompts)]
    comparisons = Comparison.objects.bulk_create(
        Comparison(project=project, prompt=p, key=Comparison.key_for(ids), slots_left=0)
        for p, ids in zip(made, pairs, strict=True)
    )
    ComparisonResponse.objects.bulk_create(
        ComparisonResponse(comparison=c, response_id=rid, position=k)
        for c, ids in zip(comparisons, pairs, strict=True)
        for k, rid in enumerate(ids)
    )
    judges = [judge(project, f"crowd{i}") for i in range(annotators)]
    rows, ranks = [], []
    for index, (comparison, (a, b)) in enumerate(zip(comparisons, pairs, strict=True)):
        truth_a = index % 2 == 0
        for who in judges:
            shown = [a, b] if rng.random() < 0.5 else [b, a]
            a_better = truth_a if rng.random() < 0.9 else not truth_a
            rows.append(Judgment(project=project, comparison=comparison, judge=who, source=Judgment.Source.IMPORT,
                                 shown_order=shown, duration_ms=rng.randint(4000, 30000)))  # fmt: skip
            ranks.append((a, b, a_better))
    written = Judgment.objects.bulk_create(rows, batch_size=2000)
    Placement.objects.bulk_create(
        (
            Placement(judgment=j, response_id=rid, rank=rank)
            for j, (a, b, a_better) in zip(written, ranks, strict=True)
            for rid, rank in ((a, 1 if a_better else 2), (b, 2 if a_better else 1))
        ),
        batch_size=5000,
    )
    return len(written)
