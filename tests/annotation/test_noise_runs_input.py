"""The detectors' input read from the database: one row per induced pair of each active judgment, oriented with a the
lower response id, outcome from the ranks (pairs.py's "all" rule), shown order, order keys as ints, durations, and
each judgment's position in its judge's own work by time."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, UNKNOWN
from annotation.analysis.pairs import induced_pairs
from annotation.models import Comparison, Judge, Judgment
from annotation.selectors.noise_input import noise_input_for_project
from tests.annotation.noise_runs_data import comparisons_of, judge, judgment
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _rows(records) -> dict[int, list[tuple]]:  # noqa: ANN001 - NoiseInput
    out: dict[int, list[tuple]] = {}
    for i in range(len(records)):
        out.setdefault(int(records.judgment_id[i]), []).append(
            (int(records.response_a[i]), int(records.response_b[i]), int(records.outcome[i]),
             int(records.a_shown_first[i]))
        )  # fmt: skip
    return out


def test_pairs_orders_and_columns_of_a_small_project() -> None:
    project = ProjectFactory(slug="noise-input")
    pair, other = comparisons_of(project, 2)
    lst = comparisons_of(project, 1, responses=3)[0]
    a, b = Comparison.response_ids_of(pair.key)
    x, y, z = Comparison.response_ids_of(lst.key)
    human, llm = judge(project, "h"), judge(project, "gpt", kind=Judge.Kind.LLM)
    t0 = timezone.now() - timedelta(hours=1)
    # Created out of time order on purpose: the sequence follows created_at, not ids.
    late = judgment(pair, human, [2, 1], shown=[b, a], duration_ms=1200, at=t0 + timedelta(minutes=5))
    early = judgment(lst, human, [1, 2, 1], shown=[z, x, y], at=t0)
    tie = judgment(other, human, [1, 1], shown=[], duration_ms=None, at=t0 + timedelta(minutes=1))
    both = [
        judgment(pair, llm, [1, 2], shown=[a, b], order_key=f"{a},{b}", at=t0),
        judgment(pair, llm, [2, 1], shown=[b, a], order_key=f"{b},{a}", at=t0 + timedelta(seconds=1)),
    ]
    judgment(other, llm, [1, 2], status=Judgment.Status.EXCLUDED)  # left out
    Judgment.objects.create(project=project, comparison=other, judge=judge(project, "nv"), source="import",
                            status=Judgment.Status.NO_VERDICT)  # fmt: skip

    records = noise_input_for_project(project=project)
    rows = _rows(records)
    assert set(rows) == {late.pk, early.pk, tie.pk, *[j.pk for j in both]}
    assert rows[late.pk] == [(a, b, B_WINS, 0)]  # b shown first
    assert rows[tie.pk] == [(*Comparison.response_ids_of(other.key), TIE, UNKNOWN)]
    # x=1, y=2, z=1 (x and z tied); shown z, x, y.
    assert rows[early.pk] == [(x, y, A_WINS, 1), (x, z, TIE, 0), (y, z, B_WINS, 0)]
    assert rows[both[0].pk] == [(a, b, A_WINS, 1)] and rows[both[1].pk] == [(a, b, B_WINS, 0)]

    def column(name: str, judgment_id: int) -> list:
        return getattr(records, name)[records.judgment_id == judgment_id].tolist()

    assert column("order_key", late.pk) == [0]
    keys = {column("order_key", both[0].pk)[0], column("order_key", both[1].pk)[0]}
    assert len(keys) == 2 and 0 not in keys
    assert column("duration_ms", late.pk) == [1200.0] and np.isnan(column("duration_ms", tie.pk)[0])
    assert column("judge_sequence", early.pk) == [0, 0, 0]
    assert column("judge_sequence", tie.pk) == [1] and column("judge_sequence", late.pk) == [2]
    assert column("judge_sequence", both[1].pk) == [1]
    assert column("judge_is_human", late.pk) == [True] and column("judge_is_human", both[0].pk) == [False]
    assert column("prompt_id", early.pk) == [lst.prompt_id] * 3
    assert column("comparison_id", late.pk) == [pair.pk] and column("judge_id", late.pk) == [human.pk]
    assert list(records.judgment_id) == sorted(records.judgment_id)


def test_every_induced_pair_follows_the_pairs_rule() -> None:
    """Random lists with ties, every size from 2 to 5: the rows equal pairs.induced_pairs(mode="all")."""
    rng = random.Random(7)
    project = ProjectFactory(slug="noise-lists")
    people = [judge(project, f"h{i}") for i in range(3)]
    expected: dict[int, set[tuple[int, int, int]]] = {}
    for size in (2, 3, 4, 5):
        for comparison in comparisons_of(project, 3, responses=size) if size > 2 else comparisons_of(project, 3):
            for who in people:
                ranks = [rng.randint(1, size) for _ in range(size)]
                dense = {r: i + 1 for i, r in enumerate(sorted(set(ranks)))}
                ranks = [dense[r] for r in ranks]
                made = judgment(comparison, who, ranks)
                ids = Comparison.response_ids_of(comparison.key)
                pairs = induced_pairs([(rid, rank, None) for rid, rank in zip(ids, ranks, strict=True)], mode="all")
                expected[made.pk] = {
                    (min(bt, wr), max(bt, wr), TIE if tie else (A_WINS if bt < wr else B_WINS)) for bt, wr, tie in pairs
                }
    got = {jid: {row[:3] for row in rows} for jid, rows in _rows(noise_input_for_project(project=project)).items()}
    assert got == expected


def test_a_shown_order_that_is_not_a_list_of_ids_counts_as_unknown() -> None:
    project = ProjectFactory(slug="noise-odd")
    first, second = comparisons_of(project, 2)
    who = judge(project, "h")
    odd = judgment(first, who, [1, 2], shown=["x", "y"])
    fine = judgment(second, who, [2, 1], shown=list(reversed(Comparison.response_ids_of(second.key))))
    rows = _rows(noise_input_for_project(project=project))
    assert rows[odd.pk][0][3] == UNKNOWN and rows[fine.pk][0][3] == 0


def test_an_empty_project_gives_empty_columns() -> None:
    records = noise_input_for_project(project=ProjectFactory())
    assert len(records) == 0 and records.outcome.dtype == np.int8
