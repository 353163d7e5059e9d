"""Properties of every model-free detector and of `combine` on random small records: pairwise and listwise
judgments, ties, people and model judges asked in both orders, missing times and shown sides."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.analysis.noise.detect import DETECTORS, annotator_table, combine, detect
from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, UNKNOWN, NoiseInput


@st.composite
def noise_inputs(draw: st.DrawFn) -> NoiseInput:
    rows: list[dict] = []
    n_judgments = draw(st.integers(min_value=0, max_value=30))
    for judgment in range(1, n_judgments + 1):
        judge = draw(st.integers(min_value=1, max_value=4))
        human = judge <= 3
        prompt = draw(st.integers(min_value=1, max_value=3))
        responses = [prompt * 10 + k for k in range(3)]
        common = {
            "judgment_id": judgment,
            "prompt_id": prompt,
            "judge_id": judge,
            "judge_is_human": human,
            "order_key": 0 if human else draw(st.integers(min_value=1, max_value=2)),
            "duration_ms": draw(st.one_of(st.just(np.nan), st.floats(min_value=0, max_value=60_000))),
        }
        if draw(st.booleans()):  # listwise: a ranking of all three, ties allowed
            ranks = draw(st.lists(st.integers(min_value=1, max_value=3), min_size=3, max_size=3))
            for (i, a), (j, b) in combinations(enumerate(responses), 2):
                outcome = A_WINS if ranks[i] < ranks[j] else B_WINS if ranks[i] > ranks[j] else TIE
                rows.append({**common, "comparison_id": prompt * 100, "response_a": a, "response_b": b,
                             "outcome": outcome, "a_shown_first": UNKNOWN})  # fmt: skip
        else:
            a, b = sorted(draw(st.lists(st.sampled_from(responses), min_size=2, max_size=2, unique=True)))
            rows.append({**common, "comparison_id": a * 1000 + b, "response_a": a, "response_b": b,
                         "outcome": draw(st.sampled_from([A_WINS, B_WINS, TIE])),
                         "a_shown_first": draw(st.sampled_from([0, 1, UNKNOWN]))})  # fmt: skip
    return NoiseInput.from_rows(rows)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise_inputs())
def test_every_detector_scores_each_judgment_at_most_once(records: NoiseInput) -> None:
    flags = detect(records, DETECTORS)
    known = set(records.judgment_id.tolist())
    assert list(flags) == list(DETECTORS)
    for items in flags.values():
        ids = [s.judgment_id for s in items]
        assert len(ids) == len(set(ids)) and set(ids) <= known
        assert all(0.0 <= s.score <= 1.0 and s.reason for s in items)
    combined = {s.judgment_id: s for s in combine(flags)}
    assert set(combined) == {s.judgment_id for items in flags.values() for s in items}
    for items in flags.values():
        for s in items:  # the noisy-OR is never below its strongest part
            assert combined[s.judgment_id].score >= s.score - 1e-4
    humans = set(records.judge_id[records.judge_is_human].tolist())
    assert {row["judge_id"] for row in annotator_table(records, flags)} == humans
