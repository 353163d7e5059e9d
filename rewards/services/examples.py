"""Training and evaluation data from the judgment records: one PreferenceExample per active judgment, read in
chunks so a big project never sits in memory as ORM objects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.db.models import Prefetch

from annotation.analysis.pairs import stated_margin
from annotation.models import Judgment, Placement, Project
from rewards.training import PreferenceExample

CHUNK = 2000


@dataclass(frozen=True)
class ExampleSource:
    """Which judgments are data: active ones in these projects from judges of these kinds (and names)."""

    project_ids: tuple[int, ...]
    judge_kinds: tuple[str, ...]
    judge_names: tuple[str, ...] = ()

    def judgments(self):  # noqa: ANN201 - a QuerySet[Judgment]
        query = Judgment.objects.filter(
            project_id__in=self.project_ids, status=Judgment.Status.ACTIVE, judge__kind__in=self.judge_kinds
        )
        if self.judge_names:
            query = query.filter(judge__name__in=self.judge_names)
        return query


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def iter_examples(source: ExampleSource) -> Iterator[tuple[PreferenceExample, list[int]]]:
    """(example, the response id behind each of its responses), in judgment id order."""
    ids = list(source.judgments().order_by("id").values_list("id", flat=True))
    placements = Prefetch("placements", queryset=Placement.objects.select_related("response").order_by("response_id"))
    for chunk in _chunks(ids):
        rows = (
            Judgment.objects.filter(id__in=chunk)
            .select_related("comparison__prompt")
            .prefetch_related(placements)
            .order_by("id")
        )
        for judgment in rows:
            yield example_of(judgment)


def example_of(judgment: Judgment) -> tuple[PreferenceExample, list[int]]:
    prompt = judgment.comparison.prompt
    placed = list(judgment.placements.all())
    contexts = None
    if any(p.response.conversation for p in placed):
        contexts = tuple(tuple(p.response.conversation[:-1]) if p.response.conversation else None for p in placed)
    example = PreferenceExample(
        prompt=tuple(prompt.messages),
        responses=tuple(p.response.text for p in placed),
        ranks=tuple(p.rank for p in placed),
        margin=stated_margin(judgment.margin, judgment.strength),
        # The prompt's external id, not its row id: the held-out split (analysis.split, the export's too) is then
        # the same in every database and after a re-import, and keeps one prompt imported into two projects on one
        # side.
        group_id=prompt.external_id,
        category=prompt.category,
        example_id=str(judgment.pk),
        response_contexts=contexts,
    )
    return example, [p.response_id for p in placed]


def load_examples(source: ExampleSource) -> tuple[list[PreferenceExample], dict[str, list[int]]]:
    """All examples, and for each example id the response ids in its response order (to map scores back)."""
    examples, response_ids = [], {}
    for example, ids in iter_examples(source):
        examples.append(example)
        response_ids[example.example_id] = ids
    return examples, response_ids


def source_for(
    *, projects: Iterable[Project], judge_kinds: Sequence[str], judge_names: Sequence[str] = ()
) -> ExampleSource:
    return ExampleSource(
        project_ids=tuple(sorted(p.pk for p in projects)),
        judge_kinds=tuple(judge_kinds),
        judge_names=tuple(judge_names),
    )
