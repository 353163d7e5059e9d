"""The model-free noise detectors on small hand-made and seeded synthetic data: each finds what it is for and
leaves clean data alone. "High" below means a suspicion of 0.3 or more (CLEAN_MAX)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import MACE, DawidSkene, NoisyBradleyTerry, OneCoinDawidSkene
from sklearn.metrics import roc_auc_score

from annotation.analysis.noise.detect import DETECTORS, annotator_table, combine, detect
from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, NoiseInput
from annotation.analysis.noise.reliability import mace_spamming, noisy_bt, reliability, task_votes
from annotation.analysis.noise.suspicion import Suspicion
from annotation.analysis.noise.synthetic import Judges, synthetic

CLEAN_MAX = 0.3


def by_judgment(items: list[Suspicion]) -> dict[int, Suspicion]:
    return {s.judgment_id: s for s in items}


def scores(records: NoiseInput, items: list[Suspicion]) -> np.ndarray:
    out = np.zeros(len(records))
    index = {j: i for i, j in enumerate(records.judgment_id.tolist())}
    for s in items:
        out[index[s.judgment_id]] = s.score
    return out


def judge_rows(records: NoiseInput, judge: int) -> np.ndarray:
    return records.judge_id == judge


# --- other judges ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_spammer() -> tuple[NoiseInput, np.ndarray]:
    """Four good annotators (90%) and one who answers at random (judge id 5), three per comparison."""
    return synthetic(600, Judges([0.9, 0.9, 0.9, 0.9, 0.5]), per_comparison=3, seed=3)


def test_other_judges_finds_the_spammer_and_the_wrong_labels(with_spammer: tuple[NoiseInput, np.ndarray]) -> None:
    records, wrong = with_spammer
    flags = detect(records, ("other_judges", "crowdlab"))
    other = scores(records, flags["other_judges"])
    assert roc_auc_score(wrong, other) > 0.9
    spam = judge_rows(records, 5)
    # The spammer's wrong labels are called out; its right ones stay doubtful, not condemned.
    assert np.median(other[spam & wrong]) > 0.8
    assert np.median(other[~spam & ~wrong]) < 0.1
    assert roc_auc_score(wrong, scores(records, flags["crowdlab"])) > 0.85
    table = annotator_table(records, {**flags, "combined": combine(flags)})
    worst = table[0]
    assert worst["judge_id"] == 5
    assert worst["reliability"] < 0.65 < min(row["reliability"] for row in table[1:])
    assert worst["mace_spamming"] > 0.7 > max(row["mace_spamming"] for row in table[1:])
    assert worst["flag_rate"] > 2 * max(row["flag_rate"] for row in table[1:])


def test_other_judges_reason_reads_the_others() -> None:
    """Comparison 1: judges 1 and 2 say A, judge 3 says B; all three are reliable elsewhere."""
    rows = []
    for c in range(1, 41):  # forty comparisons where the three agree, to make them reliable
        for judge in (1, 2, 3):
            rows.append(
                {
                    "judgment_id": c * 10 + judge,
                    "comparison_id": c,
                    "prompt_id": c,
                    "judge_id": judge,
                    "response_a": 2 * c,
                    "response_b": 2 * c + 1,
                    "outcome": A_WINS if c % 2 else B_WINS,
                }
            )
    for judge, outcome in ((1, A_WINS), (2, A_WINS), (3, B_WINS)):
        rows.append(
            {
                "judgment_id": 1000 + judge,
                "comparison_id": 99,
                "prompt_id": 99,
                "judge_id": judge,
                "response_a": 198,
                "response_b": 199,
                "outcome": outcome,
            }
        )
    records = NoiseInput.from_rows(rows)
    flagged = by_judgment(detect(records, ("other_judges",))["other_judges"])
    odd = flagged[1003]
    assert odd.reason.startswith("2 of 2 other judges prefer response A (this judge says response B)")
    assert "judge reliability 0.9" in odd.reason
    assert odd.score > 0.9 and flagged[1001].score < 0.1
    assert odd.details["other_judges"] == 2 and odd.details["others_for_label"] == 0


def test_reliability_is_crowd_kits_own_and_the_consensus_leaves_the_judge_out(
    with_spammer: tuple[NoiseInput, np.ndarray],
) -> None:
    records, _ = with_spammer
    votes = task_votes(records)
    frame = votes.frame(records)
    one = OneCoinDawidSkene(n_iter=100).fit(frame)
    full = DawidSkene(n_iter=100).fit(frame)
    ours = reliability(records, votes)
    assert ours.skill == pytest.approx({int(j): float(s) for j, s in one.skills_.items()})
    assert ours.posterior[full.probas_.index.to_numpy()] == pytest.approx(full.probas_[[0, 1]].to_numpy())
    # Each judge's matrix, rebuilt here from the library's outputs: Dawid-Skene's errors_ with 20 pseudo-votes of
    # the one-coin matrix, floored at 1e-3.
    n_votes = frame.groupby("worker").size()
    confusion = {}
    for judge in n_votes.index:
        s, w = one.skills_[judge], n_votes[judge] / (n_votes[judge] + 20)
        matrix = np.array([[full.errors_.loc[(judge, vote), true] for vote in (0, 1)] for true in (0, 1)])
        matrix = np.clip(w * matrix + (1 - w) * np.array([[s, 1 - s], [1 - s, s]]), 1e-3, None)
        confusion[judge] = matrix / matrix.sum(axis=1, keepdims=True)
    # The other judges' consensus, with the judge's own matrix put against it, one task at a time in plain Python.
    other = by_judgment(detect(records, ("other_judges",))["other_judges"])
    tasks = frame.groupby("task")
    prior = full.priors_[[0, 1]].to_numpy()
    for row in np.flatnonzero(votes.kept)[:300]:
        task, judge, label = votes.task[row], records.judge_id[row], votes.label[row]
        voters = tasks.get_group(task)
        consensus = np.log(prior).copy()
        for _, vote in voters[voters["worker"] != judge].iterrows():
            consensus += np.log(confusion[vote["worker"]][:, vote["label"]])
        posterior = np.exp(consensus) * confusion[judge][:, label]
        expected = 1 - posterior[label] / posterior.sum()
        assert other[int(records.judgment_id[row])].score == pytest.approx(expected, abs=1e-4)


def test_mace_spamming_is_read_in_crowd_kits_worker_order(with_spammer: tuple[NoiseInput, np.ndarray]) -> None:
    records, _ = with_spammer
    votes = task_votes(records)
    frame = votes.frame(records)
    model = MACE(n_restarts=1, n_iter=20, random_state=0).fit(frame)
    first_seen = list(dict.fromkeys(frame["worker"].tolist()))
    expected = {int(w): float(model.spamming_[i, 0]) for i, w in enumerate(first_seen)}
    assert mace_spamming(records, votes) == pytest.approx(expected)


def test_noisy_bt_is_read_as_the_library_fits_it() -> None:
    """Shown-first item on the left, the chosen one as the label, ties left out; skill and bias by worker."""
    records, _ = synthetic(300, Judges([0.9, 0.9, 0.9, 0.6], always_first={3}), per_comparison=2, seed=4)
    first = records.a_shown_first == 1
    frame = pd.DataFrame(
        {
            "worker": records.judge_id,
            "left": np.where(first, records.response_a, records.response_b),
            "right": np.where(first, records.response_b, records.response_a),
            "label": np.where(records.outcome == A_WINS, records.response_a, records.response_b),
        }
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        model = NoisyBradleyTerry(n_iter=50, random_state=0).fit(frame)
    ours = noisy_bt(records)
    assert sorted(ours) == sorted(int(j) for j in model.skills_.index)
    for judge, (skill, bias) in ours.items():
        assert (skill, bias) == pytest.approx((model.skills_[judge], model.biases_[judge]))


def test_crowdlab_uses_the_models_probabilities(with_spammer: tuple[NoiseInput, np.ndarray]) -> None:
    records, wrong = with_spammer
    without = scores(records, detect(records, ("crowdlab",))["crowdlab"])
    # A model that knows the truth: P(wrong) 0.95 on wrong rows, 0.05 on right ones.
    model = np.where(wrong, 0.95, 0.05)
    flags = detect(records, ("crowdlab",), model_p_wrong=model)["crowdlab"]
    withm = scores(records, flags)
    assert roc_auc_score(wrong, withm) > roc_auc_score(wrong, without)
    assert "classifier: the reward model" in flags[0].reason
    with pytest.raises(ValueError, match="model_p_wrong"):
        detect(records, ("crowdlab",), model_p_wrong=model[:-1])


# --- inconsistency --------------------------------------------------------------------------------------------------


def pair(judgment: int, judge: int, a: int, b: int, outcome: int, **extra: object) -> dict:
    """A pairwise judgment on prompt 1; the comparison is the pair itself unless given."""
    lo, hi = min(a, b), max(a, b)
    if a > b:
        outcome = -outcome
    row = {
        "judgment_id": judgment,
        "comparison_id": lo * 100 + hi,
        "prompt_id": 1,
        "judge_id": judge,
        "response_a": lo,
        "response_b": hi,
        "outcome": outcome,
    }
    return {**row, **extra}


def test_a_cycle_is_found_and_only_its_verdicts() -> None:
    # Judge 1: 1 > 2, 2 > 3, 3 > 1 (a cycle), and all three beat 4. Judge 2: consistent 1 > 2 > 3.
    rows = [
        pair(1, 1, 1, 2, A_WINS), pair(2, 1, 2, 3, A_WINS), pair(3, 1, 3, 1, A_WINS),
        pair(4, 1, 1, 4, A_WINS), pair(5, 1, 2, 4, A_WINS), pair(6, 1, 3, 4, A_WINS),
        pair(7, 2, 1, 2, A_WINS), pair(8, 2, 2, 3, A_WINS), pair(9, 2, 1, 3, A_WINS),
    ]  # fmt: skip
    found = by_judgment(detect(NoiseInput.from_rows(rows), ("cycle",))["cycle"])
    assert set(found) == {1, 2, 3}
    assert all(s.score == pytest.approx(1 / 3, abs=1e-4) for s in found.values())
    assert "3 responses, 3 verdicts" in found[1].reason and "about 1 of them must be wrong" in found[1].reason


def test_two_cycles_in_one_component_share_the_blame() -> None:
    # 1 > 2 > 3 > 1 and 3 > 4 > 1: five verdicts, one strongly connected set of four responses.
    rows = [pair(1, 1, 1, 2, A_WINS), pair(2, 1, 2, 3, A_WINS), pair(3, 1, 3, 1, A_WINS),
            pair(4, 1, 3, 4, A_WINS), pair(5, 1, 4, 1, A_WINS)]  # fmt: skip
    found = detect(NoiseInput.from_rows(rows), ("cycle",))["cycle"]
    assert len(found) == 5
    # Dropping 1 > 2 alone breaks both cycles (1/5); the net-wins order leaves two verdicts backward (2/5).
    assert len({s.score for s in found}) == 1 and 0.2 <= found[0].score <= 0.4


def test_ties_make_no_cycle() -> None:
    rows = [pair(1, 1, 1, 2, A_WINS), pair(2, 1, 2, 3, A_WINS), pair(3, 1, 3, 1, TIE)]
    assert detect(NoiseInput.from_rows(rows), ("cycle",))["cycle"] == []


def test_an_order_flip_is_found() -> None:
    llm = {"judge_is_human": False}
    rows = [
        # Comparison of 1 and 2, asked in both orders: the verdict follows the order.
        pair(1, 7, 1, 2, A_WINS, order_key=1, **llm), pair(2, 7, 1, 2, B_WINS, order_key=2, **llm),
        # Comparison of 3 and 4: same verdict both ways.
        pair(3, 7, 3, 4, A_WINS, order_key=1, **llm), pair(4, 7, 3, 4, A_WINS, order_key=2, **llm),
        # A person shown 5/6 both ways (a re-queue), two against one.
        pair(5, 8, 5, 6, A_WINS, a_shown_first=1), pair(6, 8, 5, 6, A_WINS, a_shown_first=0),
        pair(7, 8, 5, 6, B_WINS, a_shown_first=1),
    ]  # fmt: skip
    found = by_judgment(detect(NoiseInput.from_rows(rows), ("order_flip",))["order_flip"])
    assert set(found) == {1, 2, 5, 6, 7}
    assert found[1].score == found[2].score == 0.5
    assert found[7].score == pytest.approx(2 / 3, abs=1e-4) and found[5].score == pytest.approx(1 / 3, abs=1e-4)
    assert "1 of 2 verdicts on this pair other than A when the shown order changed" in found[1].reason


def test_unknown_shown_side_is_no_order_flip() -> None:
    rows = [pair(1, 8, 5, 6, A_WINS), pair(2, 8, 5, 6, B_WINS)]  # a person, shown order unknown
    assert detect(NoiseInput.from_rows(rows), ("order_flip",))["order_flip"] == []


# --- behaviour ------------------------------------------------------------------------------------------------------


def test_a_too_fast_annotator_is_found() -> None:
    judges = Judges([0.9] * 6, median_seconds=[20.0] * 5 + [2.0])
    records, _ = synthetic(600, judges, per_comparison=3, seed=5)
    fast = scores(records, detect(records, ("too_fast",))["too_fast"])
    mine = judge_rows(records, 6)
    assert np.quantile(fast[mine], 0.1) > 0.45  # a tenth of the others' median: the full 0.5, nearly everywhere
    assert np.quantile(fast[~mine], 0.99) < 0.15 and fast[~mine].max() < CLEAN_MAX


def test_one_fast_item_of_a_normal_annotator() -> None:
    rows = [pair(i, 1, 2 * i, 2 * i + 1, A_WINS, duration_ms=20_000.0 + 100 * i) for i in range(1, 30)]
    rows.append(pair(99, 1, 500, 501, A_WINS, duration_ms=1_000.0))
    found = by_judgment(detect(NoiseInput.from_rows(rows), ("too_fast",))["too_fast"])
    assert set(found) == {99} and found[99].score == 0.5
    assert found[99].reason.startswith("took 1.0 s, 0.05 of this annotator's median")


def test_a_one_answer_annotator_is_found() -> None:
    judges = Judges([0.9] * 5 + [0.5], always_first={5})  # judge id 6 always picks the first-shown side
    records, _ = synthetic(600, judges, per_comparison=3, seed=6)
    flags = detect(records, ("long_run", "position_bias"))
    mine = judge_rows(records, 6)
    bias = scores(records, flags["position_bias"])
    assert bias[mine].min() > 0.45 and bias[~mine].max() < 0.05
    runs = scores(records, flags["long_run"])
    assert runs[mine].max() > 0.45 and runs[~mine].max() < CLEAN_MAX
    assert (
        "first-shown response in 100% of"
        in by_judgment(flags["position_bias"])[int(records.judgment_id[mine][0])].reason
    )
    table = {row["judge_id"]: row for row in annotator_table(records, flags)}
    assert table[6]["first_shown_rate"] == 1.0 and table[6]["first_shown_p"] < 1e-6
    assert all(abs(table[j]["first_shown_rate"] - 0.5) < 0.1 for j in range(1, 6))


def test_a_run_of_one_answer_by_id() -> None:
    """Judge 1 says A forty times in a row; judge 2 alternates. Shown order unknown: only the answer series counts."""
    rows = [pair(i, 1, 2 * i, 2 * i + 1, A_WINS) for i in range(1, 41)]
    rows += [pair(100 + i, 2, 2 * i, 2 * i + 1, A_WINS if i % 2 else B_WINS) for i in range(1, 41)]
    found = by_judgment(detect(NoiseInput.from_rows(rows), ("long_run",))["long_run"])
    assert set(found) == set(range(1, 41))
    assert found[1].score == 0.5 and found[1].reason == "one of 40 verdicts in a row for response A"


# --- clean data, combine, entry point -------------------------------------------------------------------------------


def test_clean_data_scores_nothing_high() -> None:
    """Everyone right, normal speeds, random shown order: no detector and no combined suspicion reaches 0.3."""
    records, wrong = synthetic(900, Judges([1.0] * 6), per_comparison=3, seed=7)
    assert not wrong.any()
    flags = detect(records, DETECTORS)
    for name, items in flags.items():
        assert all(s.score < CLEAN_MAX for s in items), (name, max(s.score for s in items))
    assert max(s.score for s in combine(flags)) < CLEAN_MAX


def test_normal_annotators_leave_behaviour_near_zero() -> None:
    """Annotators right 85-95% of the time: their genuine errors are for the consensus to find; speed, runs and
    position stay under 0.3 everywhere and at 0 for nearly all judgments."""
    records, _ = synthetic(1500, Judges([0.85, 0.88, 0.9, 0.92, 0.95]), per_comparison=3, seed=8)
    flags = detect(records, ("too_fast", "long_run", "position_bias"))
    every = np.concatenate([scores(records, items) for items in flags.values()])
    assert every.max() < CLEAN_MAX and np.mean(every > 0.05) < 0.01


def test_listwise_judgment_gets_one_suspicion_from_its_worst_pair() -> None:
    # Judgment 1 ranks 1 > 2 > 3 (three rows); judgment 2 by the same judge on the same prompt says 3 > 1.
    rows = [
        {"judgment_id": 1, "comparison_id": 1, "prompt_id": 1, "judge_id": 1, "response_a": 1, "response_b": 2,
         "outcome": A_WINS},
        {"judgment_id": 1, "comparison_id": 1, "prompt_id": 1, "judge_id": 1, "response_a": 1, "response_b": 3,
         "outcome": A_WINS},
        {"judgment_id": 1, "comparison_id": 1, "prompt_id": 1, "judge_id": 1, "response_a": 2, "response_b": 3,
         "outcome": A_WINS},
        pair(2, 1, 3, 1, A_WINS),
    ]  # fmt: skip
    found = detect(NoiseInput.from_rows(rows), ("cycle",))["cycle"]
    assert sorted(s.judgment_id for s in found) == [1, 2]


def test_combine_is_max_per_family_then_noisy_or() -> None:
    flags = {
        "other_judges": [Suspicion(1, 0.6, "x"), Suspicion(2, 0.1, "x")],
        "crowdlab": [Suspicion(1, 0.8, "y")],
        "reward_model": [Suspicion(1, 0.5, "m"), Suspicion(3, 0.9, "m")],
        "too_fast": [Suspicion(2, 0.0, "z")],
    }
    out = by_judgment(combine(flags))
    assert out[1].score == pytest.approx(1 - (1 - 0.8) * (1 - 0.5))  # crowdlab beats other_judges in its family
    assert out[1].reason == "crowdlab 0.80 + reward_model 0.50"
    assert out[1].details == {"crowdlab": 0.8, "reward_model": 0.5}
    assert out[2].score == pytest.approx(0.1) and out[3].score == pytest.approx(0.9)
    assert combine({}) == []


def test_detect_refuses_unknown_detectors_and_takes_empty_input() -> None:
    with pytest.raises(ValueError, match="reward_model"):
        detect(NoiseInput.from_rows([]), ("reward_model",))
    assert detect(NoiseInput.from_rows([]), DETECTORS) == {name: [] for name in DETECTORS}


def test_whole_pipeline_on_planted_noise() -> None:
    """Every planted problem at once; the combined suspicion ranks wrong labels first."""
    judges = Judges([0.9, 0.9, 0.88, 0.92, 0.5, 0.5, 0.9], always_first={5}, median_seconds=[20.0] * 6 + [2.0])
    records, wrong = synthetic(900, judges, per_comparison=3, seed=9)
    flags = detect(records, DETECTORS)
    combined = combine(flags)
    assert len(combined) == len(records)
    assert roc_auc_score(wrong, scores(records, combined)) > 0.9
    table = annotator_table(records, {**flags, "combined": combined})
    assert {row["judge_id"] for row in table[:2]} == {5, 6}
    fast = next(row for row in table if row["judge_id"] == 7)
    assert fast["median_seconds"] < 3
    frame = pd.DataFrame(table)
    assert frame["flag_rate"].between(0, 1).all()
