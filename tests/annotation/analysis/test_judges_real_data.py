"""The judge statistics on the shared real data sets (read straight from the files, no database) reproduce the
published figures and FastChat's agreement rules."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from annotation.analysis.judge_data import JudgeData
from annotation.analysis.judge_pairs import mtbench_agreement, mtbench_human_agreement
from annotation.analysis.judges import judges_report
from annotation.analysis.verdicts import HUMAN_MAJORITY, Verdict

from .test_judge_pairs import fastchat_agreement

PANDALM_LABEL = {1: "A", 2: "B", 0: "T"}  # data/README.md: 1 = response1 better, 2 = response2, 0 = tie
GPT_LABEL = {"1": "A", "2": "B", "Tie": "T"}  # anything else is unparsable text


@pytest.fixture(scope="module")
def pandalm(shared_data: Path) -> tuple[list[dict], list[Verdict]]:
    rows = json.loads((shared_data / "pandalm/testset-v1.json").read_text())
    gpt = {
        r["idx"]: r["gpt_result"]
        for r in json.loads((shared_data / "pandalm/gpt-3.5-turbo-testset-v1.json").read_text())
    }
    panda = {
        r["idx"]: r["pandalm_result"]
        for r in json.loads((shared_data / "pandalm/pandalm-7b-testset-v1.json").read_text())
    }
    verdicts = []
    for row in rows:
        generator_a, generator_b = row["cmp_key"].split("_", 1)
        common = {
            "shown_first": "a",
            "category": row["motivation_app"],
            "generator_a": generator_a,
            "generator_b": generator_b,
            "length_a": len(str(row["response1"])),
            "length_b": len(str(row["response2"])),
        }
        for k in (1, 2, 3):
            label = PANDALM_LABEL[row[f"annotator{k}"]]
            verdicts.append(Verdict(row["idx"], str(row["idx"]), f"annotator{k}", "human", label, **common))  # type: ignore[arg-type]
        verdicts.append(
            Verdict(row["idx"], str(row["idx"]), "gpt-3.5-turbo", "llm", GPT_LABEL.get(gpt[row["idx"]]), **common)
        )  # type: ignore[arg-type]
        verdicts.append(
            Verdict(row["idx"], str(row["idx"]), "pandalm-7b", "llm", PANDALM_LABEL[panda[row["idx"]]], **common)
        )  # type: ignore[arg-type]
    return rows, verdicts


def test_pandalm_annotator_kappas_and_majority_counts(pandalm: tuple[list[dict], list[Verdict]]) -> None:
    _, verdicts = pandalm
    report = judges_report(verdicts, reference=HUMAN_MAJORITY, bootstrap=200)
    matrix = report.matrix
    index = {name: k for k, name in enumerate(matrix.judges)}

    def kappa(first: str, second: str) -> float:
        cell = matrix.cells[index[first]][index[second]]
        assert cell is not None and cell.n == 999 and cell.cohen_kappa.value is not None
        return round(cell.cohen_kappa.value, 2)

    assert kappa("annotator1", "annotator2") == 0.85
    assert kappa("annotator1", "annotator3") == 0.88
    assert kappa("annotator2", "annotator3") == 0.86
    assert report.context is not None
    counts = Counter(int(code) for code in report.context.reference_labels)
    assert (counts[2], counts[0], counts[1]) == (105, 422, 472)  # tie / response1 / response2
    assert report.reference_items == 999


def test_pandalm_model_judges_accuracy_against_the_human_majority(pandalm: tuple[list[dict], list[Verdict]]) -> None:
    rows, verdicts = pandalm
    report = judges_report(verdicts, reference=HUMAN_MAJORITY, bootstrap=200)
    label_of = {(v.judge, v.item): v.label for v in verdicts}
    majority = {}
    for row in rows:
        votes = Counter(PANDALM_LABEL[row[f"annotator{k}"]] for k in (1, 2, 3))
        label, count = votes.most_common(1)[0]
        assert count >= 2  # no 1-1-1 split in this file
        majority[row["idx"]] = label
    splits = Counter(max(Counter(r[f"annotator{k}"] for k in (1, 2, 3)).values()) for r in rows)
    assert (splits[3], splits[2]) == (879, 120)  # unanimous, 2-1 (data/README.md)
    for judge in ("gpt-3.5-turbo", "pandalm-7b"):
        pairs = [(label_of[judge, i], g) for i, g in majority.items() if label_of[judge, i] is not None]
        decisive = [(y, g) for y, g in pairs if y != "T" and g != "T"]
        metrics = report.row(judge).metrics
        assert metrics["accuracy"].n == len(decisive)
        assert metrics["accuracy"].value == pytest.approx(sum(y == g for y, g in decisive) / len(decisive))
        assert metrics["agreement"].value == pytest.approx(sum(y == g for y, g in pairs) / len(pairs))
        assert metrics["coverage"].value == pytest.approx(len(pairs) / 999)
        low, high = metrics["accuracy"].low, metrics["accuracy"].high
        assert low is not None and high is not None and low < metrics["accuracy"].value < high


def mtbench_votes(shared_data: Path) -> tuple[list[dict], list[dict]]:
    folder = shared_data / "mtbench_human_partial"
    humans = [json.loads(line) for line in (folder / "human_votes.jsonl").read_text().splitlines() if line]
    gpt4 = [json.loads(line) for line in (folder / "gpt4_pair_verdicts.jsonl").read_text().splitlines() if line]
    return humans, gpt4


def canonical(row: dict, winner: str) -> tuple[tuple, str]:
    """FastChat's key (question, models sorted, turn) and the winner reverted when the models were swapped."""
    if row["model_a"] < row["model_b"]:
        return (row["question_id"], row["model_a"], row["model_b"], row["turn"]), winner
    swapped = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner)
    return (row["question_id"], row["model_b"], row["model_a"], row["turn"]), swapped


def test_mtbench_gpt4_against_experts_follows_compute_agreement(shared_data: Path) -> None:
    humans, gpt4 = mtbench_votes(shared_data)
    keys: dict[tuple, int] = {}
    verdicts = []
    label = {"model_a": "A", "model_b": "B"}
    for row, judge, winner in [(r, r["judge"], r["winner"]) for r in humans] + [
        (r, "gpt-4", r["gpt4_winner"]) for r in gpt4
    ]:
        key, winner = canonical(row, winner)
        item = keys.setdefault(key, len(keys))
        kind = "llm" if judge == "gpt-4" else "human"
        common = {"category": f"turn {row['turn']}", "generator_a": key[1], "generator_b": key[2]}
        verdicts.append(Verdict(item, str(row["question_id"]), judge, kind, label.get(winner, "T"), **common))  # type: ignore[arg-type]
    experts = {r["judge"] for r in humans if r["judge"].startswith("expert")}  # FastChat's "human"; authors apart
    results = {}
    for turn in (1, 2):
        # FastChat's data: votes per key, the experts as "human", GPT-4 as "gpt4-pair"
        votes: dict[tuple, dict[str, list[str]]] = {}
        for row in humans:
            key, winner = canonical(row, row["winner"])
            if key[3] == turn and row["judge"] in experts:
                votes.setdefault(key, {}).setdefault("human", []).append(winner)
        for row in gpt4:
            key, winner = canonical(row, row["gpt4_winner"])
            if key[3] == turn:
                votes.setdefault(key, {}).setdefault("gpt4-pair", []).append(winner)
        subset = [v for v in verdicts if v.category == f"turn {turn}"]
        data = JudgeData.build(subset, bootstrap=200)
        for ties, ban in ((True, []), (False, ["tie"])):
            agree, total = fastchat_agreement(votes, "gpt4-pair", ban)
            ours = mtbench_agreement(data, "gpt-4", humans=experts, ties=ties)
            assert ours.n == total and ours.value == pytest.approx(agree / total)
            agree, total = fastchat_agreement(votes, "human", ban)
            pairs = mtbench_human_agreement(data, humans=experts, ties=ties)
            assert pairs.n == total and pairs.value == pytest.approx(agree / total)
            results[turn, ties] = (round(ours.value, 3), ours.n, round(pairs.value, 3), pairs.n)  # type: ignore[arg-type]
    report = judges_report(verdicts, reference=HUMAN_MAJORITY, humans=experts, bootstrap=100)
    assert "gpt-4" in report.mtbench and not experts & set(report.mtbench)
    assert results[1, False][0] > 0.5  # GPT-4 agrees with the experts far above chance
