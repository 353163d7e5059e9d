"""Training and evaluation data from the judgment records: one PreferenceExample per judgment that passes the run's
filters (active ones by default), read in chunks so a big project never sits in memory as ORM objects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch

from annotation.analysis.pairs import stated_margin
from annotation.exports.options import COMBINED_DETECTOR, export_spec_validate
from annotation.models import Judgment, LabelFlag, Placement, Project
from rewards.training import PreferenceExample
from workbench.exceptions import ApplicationError

CHUNK = 2000


# Judgments a reviewer took out of the data: excluded, or replaced by a correction (the correction is active).
REVIEWED_OUT = {Judgment.Status.EXCLUDED: "excluded_by_review", Judgment.Status.SUPERSEDED: "superseded_by_correction"}


@dataclass(frozen=True)
class DataFilters:
    """The review and suspicion filters a run shares with exports (annotation.exports.options.ExportFilters):
    `active_only` leaves out excluded and superseded judgments; `max_suspicion` leaves out judgments whose
    `suspicion_detector` flag scores above it."""

    active_only: bool = True
    max_suspicion: float | None = None
    suspicion_detector: str = COMBINED_DETECTOR

    def as_json(self) -> dict[str, Any]:
        defaults = DataFilters()
        return {k: v for k, v in asdict(self).items() if v != getattr(defaults, k)}

    @classmethod
    def from_json(cls, values: dict[str, Any] | None) -> DataFilters:
        """Checked as an export's filters are (the same rules and messages); raises ApplicationError naming the
        field without the export's `filters.` prefix."""
        values = dict(values or {})
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ApplicationError(f"{unknown[0]}: unknown data filter", extra={"field": unknown[0]})
        try:
            clean = export_spec_validate(format="raw", filters=values, options=None).filters
        except ApplicationError as error:
            field = str(error.extra.get("field", "")).removeprefix("filters.")
            raise ApplicationError(error.message.removeprefix("filters."), extra={"field": field}) from None
        return cls(clean.active_only, clean.max_suspicion, clean.suspicion_detector)


@dataclass(frozen=True)
class ExampleSource:
    """Which judgments are data: active ones (with `filters.active_only` off, excluded and superseded ones too) in
    these projects from judges of these kinds (and names), less those above the suspicion threshold."""

    project_ids: tuple[int, ...]
    judge_kinds: tuple[str, ...]
    judge_names: tuple[str, ...] = ()
    filters: DataFilters = field(default_factory=DataFilters)

    def _judged(self):  # noqa: ANN202 - a QuerySet[Judgment]: every status
        query = Judgment.objects.filter(project_id__in=self.project_ids, judge__kind__in=self.judge_kinds)
        if self.judge_names:
            query = query.filter(judge__name__in=self.judge_names)
        return query

    def _statuses(self) -> list[str]:
        return [Judgment.Status.ACTIVE] + ([] if self.filters.active_only else list(REVIEWED_OUT))

    def _suspicious(self) -> Exists:
        f = self.filters
        flags = LabelFlag.objects.filter(judgment_id=OuterRef("pk"), detector=f.suspicion_detector)
        return Exists(flags.filter(score__gt=f.max_suspicion))

    def judgments(self):  # noqa: ANN201 - a QuerySet[Judgment]
        query = self._judged().filter(status__in=self._statuses())
        if self.filters.max_suspicion is not None:
            query = query.exclude(self._suspicious())
        return query

    def left_out(self) -> dict[str, Any]:
        """How many judgments of these projects and judges the filters leave out, by reason (a judgment left out
        for its review status is not counted again for its suspicion), and the threshold with its detector."""
        f = self.filters
        out: dict[str, Any] = {}
        if f.active_only:
            out = dict.fromkeys(REVIEWED_OUT.values(), 0)
            counts = self._judged().filter(status__in=list(REVIEWED_OUT)).values_list("status").annotate(n=Count("id"))
            for status, n in counts.order_by():
                out[REVIEWED_OUT[status]] = n
        if f.max_suspicion is not None:
            suspicious = self._judged().filter(status__in=self._statuses()).filter(self._suspicious())
            out.update(suspicion=suspicious.count(), suspicion_above=f.max_suspicion, detector=f.suspicion_detector)
        return out


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
    *,
    projects: Iterable[Project],
    judge_kinds: Sequence[str],
    judge_names: Sequence[str] = (),
    filters: DataFilters | None = None,
) -> ExampleSource:
    return ExampleSource(
        project_ids=tuple(sorted(p.pk for p in projects)),
        judge_kinds=tuple(judge_kinds),
        judge_names=tuple(judge_names),
        filters=filters or DataFilters(),
    )
