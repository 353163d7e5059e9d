"""Compare judges (humans, LLM judges, reward models) on pairwise comparisons: the entry point. No Django.

    report = judges_report(verdicts, reference=HUMAN_MAJORITY)
    report.to_dict()                                   # JSON-ready; keys in docs/judges.md
    report.difference("gpt-4", "rm-7b", "accuracy")    # paired bootstrap interval of a difference
    report.mcnemar("gpt-4", "rm-7b")                   # exact test on the same non-tie items

Definitions follow /work/shared/JUDGING.md; docs/judges.md says which library each number is checked against.
The statistics live in `judge_data` (encoding, item verdicts, references), `judge_metrics` (one row per judge),
`judge_pairs` (judge against judge) and `bootstrap` (intervals). Generator statistics (win rates, Bradley-Terry)
plug in through `sections`: a callable that takes the `ReportContext` and returns a JSON-ready value.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotation.analysis.bootstrap import RESAMPLES, Interval, difference
from annotation.analysis.judge_data import (
    ABSENT,
    TIE,
    UNPARSED,
    EncodedVerdicts,
    JudgeData,
    LeaveOneOut,
    Units,
    human_counts,
    human_indices,
    leave_one_out,
    random_mode,
    reference_is_valid,
    reference_units,
)
from annotation.analysis.judge_metrics import JudgeInputs, Row, judge_row, scopes
from annotation.analysis.judge_pairs import (
    AgreementMatrix,
    McNemar,
    agreement_matrix,
    fleiss_kappa,
    krippendorff_alpha,
    mcnemar,
    mtbench_agreement,
    mtbench_human_agreement,
)
from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY, Verdict, VerdictColumns

__all__ = [
    "HUMAN_LOO",
    "HUMAN_MAJORITY",
    "Interval",
    "JudgesReport",
    "ReportContext",
    "judges_report",
]

BASELINE_FIRST = "always first shown"
BASELINE_LONGER = "always longer"
BASELINE_RANDOM = "random"
CEILING = "humans (leave one out)"


@dataclass
class ReportContext:
    """What a report was computed from, for sections that extend it (e.g. generator win rates): the data, the
    reference's label per item (codes 0 = A, 1 = B, 2 = tie, -1 none; under HUMAN_LOO the full human majority), the
    human judges' indices and the seed. `judge_data.resamples` are the report's resamples: use them for intervals
    that must pair with the report's."""

    judge_data: JudgeData
    reference: str
    reference_labels: np.ndarray
    humans: np.ndarray
    seed: int


Section = Callable[[ReportContext], Any]


@dataclass
class CategoryAgreement:
    """Judge against judge inside one prompt category (its prompts' resamples)."""

    matrix: AgreementMatrix
    fleiss_kappa: Interval
    krippendorff_alpha: Interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "matrix": self.matrix.to_dict(),
            "fleiss_kappa": self.fleiss_kappa.to_dict(),
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
        }


@dataclass
class JudgesReport:
    reference: str
    items: int  # comparisons the report covers (after the filters)
    reference_items: int  # of which the reference judged
    prompts: int
    resamples: int
    seed: int
    judges: list[Row]
    baselines: list[Row]
    ceiling: Row | None
    matrix: AgreementMatrix
    fleiss_kappa: Interval
    krippendorff_alpha: Interval
    humans: dict[str, Interval]
    mtbench: dict[str, dict[str, Interval]]
    category_agreement: dict[str, CategoryAgreement] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    context: ReportContext | None = field(default=None, repr=False)

    def row(self, name: str) -> Row:
        rows = [*self.judges, *self.baselines, *([self.ceiling] if self.ceiling else [])]
        for row in rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def difference(self, first: str, second: str, metric: str, category: str | None = None) -> Interval:
        """first's metric - second's, with an interval from the same resamples (paired bootstrap)."""
        a, b = self.row(first), self.row(second)
        if category is not None:
            a, b = a.categories[category], b.categories[category]
        return difference(a.metrics[metric], b.metrics[metric])

    def mcnemar(self, first: str, second: str) -> McNemar:
        assert self.context is not None
        return mcnemar(self.context.judge_data, first, second, self.context.reference_labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "items": self.items,
            "reference_items": self.reference_items,
            "prompts": self.prompts,
            "resamples": self.resamples,
            "seed": self.seed,
            "judges": [row.to_dict() for row in self.judges],
            "baselines": [row.to_dict() for row in self.baselines],
            "ceiling": None if self.ceiling is None else self.ceiling.to_dict(),
            "matrix": self.matrix.to_dict(),
            "fleiss_kappa": self.fleiss_kappa.to_dict(),
            "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
            "humans": {name: value.to_dict() for name, value in self.humans.items()},
            "mtbench": {
                judge: {name: value.to_dict() for name, value in values.items()}
                for judge, values in self.mtbench.items()
            },
            "category_agreement": {name: value.to_dict() for name, value in self.category_agreement.items()},
            "sections": self.sections,
        }


def judges_report(
    verdicts: Sequence[Verdict] | VerdictColumns | EncodedVerdicts,
    *,
    reference: str,
    categories: Sequence[str] | None = None,
    kinds: Collection[str] | None = None,
    generators: Collection[str] | None = None,
    humans: Collection[str] | None = None,
    bootstrap: int = RESAMPLES,
    seed: int = 0,
    sections: Mapping[str, Section] | None = None,
) -> JudgesReport:
    """Every judge against `reference` (a judge's name, HUMAN_MAJORITY or HUMAN_LOO), overall and per category.

    categories: only these prompt categories (and per-category rows for them); kinds: only rows for judges of these
    kinds (the reference is still built from every verdict); generators: only comparisons that involve at least one
    of these generators; humans: the judges whose votes make the human references and the MT-Bench agreement (by
    default every judge of kind "human"); bootstrap: resamples (0: values only); seed: fixes the resamples, the
    random tie-breaks of the human majorities and the random baseline."""
    if isinstance(verdicts, VerdictColumns):
        data = EncodedVerdicts.from_columns(verdicts)
    else:
        data = verdicts if isinstance(verdicts, EncodedVerdicts) else EncodedVerdicts.from_verdicts(verdicts)
    data = _filtered(data, categories, generators)
    reference_is_valid(reference, data)
    judge_data = JudgeData.from_encoded(data, bootstrap=bootstrap, seed=seed)
    items = judge_data.items
    human = human_indices(data, humans)
    counts = human_counts(items, human)
    majority = random_mode(counts, np.random.default_rng([seed, 1]))
    loo = leave_one_out(items, human, counts, np.random.default_rng([seed, 2]))
    labels = _reference_labels(reference, data, items.label, majority)
    scope_list = scopes(data, list(categories) if categories is not None else None)

    def units_for(judge: int) -> Units:
        return reference_units(reference, data, items, majority, loo, judge)

    shown = [
        j
        for j, (name, kind) in enumerate(zip(data.judges, data.kinds, strict=True))
        if name != reference and (kinds is None or kind in kinds)
    ]
    rows = [
        judge_row(
            data.judges[j],
            data.kinds[j],
            _judge_inputs(judge_data, j, units_for(j)),
            data,
            scope_list,
            judge_data.resamples,
        )
        for j in shown
    ]
    baseline_units = units_for(-1)
    first = _first_shown(data, reference, human)
    baselines = [
        judge_row(
            name,
            "baseline",
            JudgeInputs(
                baseline_units, y[baseline_units.item], no_orders_reason="a baseline", no_scores_reason="a baseline"
            ),
            data,
            scope_list,
            judge_data.resamples,
        )
        for name, y in (
            (BASELINE_FIRST, first),
            (BASELINE_LONGER, _longer(data)),
            (BASELINE_RANDOM, np.random.default_rng([seed, 3]).integers(0, 2, data.n_items).astype(np.int8)),
        )
    ]
    ceiling = _ceiling(loo, data, scope_list, judge_data)
    names = [data.judges[j] for j in shown]
    context = ReportContext(judge_data, reference, labels, human, seed)
    return JudgesReport(
        reference=reference,
        items=data.n_items,
        reference_items=int(((labels >= 0) & (labels < UNPARSED)).sum()),
        prompts=data.n_prompts,
        resamples=judge_data.resamples.resamples,
        seed=seed,
        judges=rows,
        baselines=baselines,
        ceiling=ceiling,
        matrix=agreement_matrix(judge_data, names),
        fleiss_kappa=fleiss_kappa(judge_data, names),
        krippendorff_alpha=krippendorff_alpha(judge_data, names),
        humans=_human_group(judge_data, human),
        mtbench=_mtbench(judge_data, names, human),
        category_agreement={
            scope.category: CategoryAgreement(
                agreement_matrix(judge_data, names, scope),
                fleiss_kappa(judge_data, names, scope),
                krippendorff_alpha(judge_data, names, scope),
            )
            for scope in scope_list[1:]
            if scope.category is not None
        },
        sections={name: section(context) for name, section in (sections or {}).items()},
        context=context,
    )


def _filtered(
    data: EncodedVerdicts, categories: Sequence[str] | None, generators: Collection[str] | None
) -> EncodedVerdicts:
    keep = np.ones(data.n_items, dtype=bool)
    if categories is not None:
        wanted = [data.categories.index(c) for c in categories if c in data.categories]
        keep &= np.isin(data.item_category, wanted)
    if generators is not None:
        wanted = [data.generators.index(g) for g in generators if g in data.generators]
        keep &= np.isin(data.generator_a, wanted) | np.isin(data.generator_b, wanted)
    return data if keep.all() else data.keep_items(keep)


def _reference_labels(reference: str, data: EncodedVerdicts, labels: np.ndarray, majority: np.ndarray) -> np.ndarray:
    if reference in (HUMAN_MAJORITY, HUMAN_LOO):
        return majority
    own = labels[data.judges.index(reference)]
    return np.where((own >= 0) & (own < UNPARSED), own, ABSENT).astype(np.int8)


def _judge_inputs(judge_data: JudgeData, judge: int, units: Units) -> JudgeInputs:
    items = judge_data.items
    order = items.order[judge][units.item]
    has_order = bool((items.order[judge] != ABSENT).any())
    margin = items.margin[judge]
    p_a = items.p_a[judge]
    scored = bool((~np.isnan(margin)).any() or (~np.isnan(p_a)).any())
    return JudgeInputs(
        units=units,
        y=items.label[judge][units.item],
        order=order if has_order else None,
        margin=margin[units.item] if scored else None,
        p_a=p_a[units.item] if scored else None,
    )


def _first_shown(data: EncodedVerdicts, reference: str, human: np.ndarray) -> np.ndarray:
    """The label of the response shown first on each item: the order the reference's verdicts (the humans' under
    a human reference) saw most often; `a`, the canonical first response, where no order is known."""
    source = human if reference in (HUMAN_MAJORITY, HUMAN_LOO) else np.array([data.judges.index(reference)])
    rows = np.isin(data.judge, source) & (data.shown >= 0)
    counts = np.bincount(data.item[rows].astype(np.int64) * 2 + data.shown[rows], minlength=data.n_items * 2)
    counts = counts.reshape(data.n_items, 2)
    return np.where(counts[:, 1] > counts[:, 0], 1, 0).astype(np.int8)


def _longer(data: EncodedVerdicts) -> np.ndarray:
    """The longer response (a tie when equally long)."""
    return np.select([data.length_a > data.length_b, data.length_a < data.length_b], [0, 1], TIE).astype(np.int8)


def _ceiling(loo: LeaveOneOut, data: EncodedVerdicts, scope_list: list[Any], judge_data: JudgeData) -> Row | None:
    """Each human against the majority of the other humans (items with at least three human verdicts), pooled over
    humans and items: how well humans agree with humans (JUDGING.md item 7)."""
    if not len(loo.item):
        return None
    units = Units(loo.item, loo.ref, np.ones(len(loo.item)))
    inputs = JudgeInputs(
        units,
        loo.own,
        no_orders_reason="not computed for the pooled human ceiling",
        no_scores_reason="not computed for the pooled human ceiling",
    )
    return judge_row(CEILING, "ceiling", inputs, data, scope_list, judge_data.resamples)


def _human_group(judge_data: JudgeData, human: np.ndarray) -> dict[str, Interval]:
    if len(human) < 2:
        return {}
    names = [judge_data.data.judges[j] for j in human]
    return {
        "fleiss_kappa": fleiss_kappa(judge_data, names),
        "krippendorff_alpha": krippendorff_alpha(judge_data, names),
        "mtbench_agreement_with_ties": mtbench_human_agreement(judge_data, humans=names, ties=True),
        "mtbench_agreement_without_ties": mtbench_human_agreement(judge_data, humans=names, ties=False),
    }


def _mtbench(judge_data: JudgeData, names: list[str], human: np.ndarray) -> dict[str, dict[str, Interval]]:
    if not len(human):
        return {}
    human_names = {judge_data.data.judges[j] for j in human}
    return {
        name: {
            "with_ties": mtbench_agreement(judge_data, name, humans=human_names, ties=True),
            "without_ties": mtbench_agreement(judge_data, name, humans=human_names, ties=False),
        }
        for name in names
        if name not in human_names
    }
