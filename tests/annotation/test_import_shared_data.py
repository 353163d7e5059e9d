"""The five shared data sets import through `import_data` with exact counts, and their content survives."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count
from sklearn.metrics import cohen_kappa_score

from annotation.models import Comparison, Judge, Judgment, Placement, Project, Prompt, Response

pytestmark = pytest.mark.django_db


def import_data(path: Path, project: str, *extra: str) -> None:
    call_command("import_data", str(path), "--project", project, "--create-project", *extra)


def ranking_of(judgment: Judgment) -> list[set[str]]:
    groups: dict[int, set[str]] = defaultdict(set)
    for placement in judgment.placements.select_related("response"):
        groups[placement.rank].add(placement.response.external_id)
    return [groups[rank] for rank in sorted(groups)]


def test_hh_rlhf_harmless_imports_every_row_and_keeps_diverging_transcripts(shared_data: Path, capsys) -> None:
    import_data(shared_data / "hh_rlhf_harmless_test/harmless-base_test.jsonl.gz", "hh")
    output = capsys.readouterr().out
    project = Project.objects.get(slug="hh")
    assert Judgment.objects.filter(project=project).count() == 2312
    assert Comparison.objects.filter(project=project).count() == 2312
    assert Response.objects.filter(prompt__project=project).count() == 4624
    # Two prompts recur with different response pairs: 2,310 distinct conversations.
    assert Prompt.objects.filter(project=project).count() == 2310
    # The 5 rows whose transcripts differ before the last assistant turn are reported and kept whole.
    assert "5 rows had transcripts that diverge" in output
    for row in (1255, 1689, 1951, 1953, 2037):
        assert f"row {row}, rejected: chosen and rejected differ" in output
    assert Response.objects.filter(prompt__project=project, conversation__isnull=False).count() == 10
    # Spot check the first row: a two-turn prompt, the chosen answer ranked first.
    first = Judgment.objects.filter(project=project).order_by("id").first()
    prompt = first.comparison.prompt
    assert prompt.messages[0] == {"role": "user", "content": "what are some pranks with a pen i can do?"}
    assert [m["role"] for m in prompt.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert prompt.messages[-1]["content"] == "okay some of these do not have anything to do with pens"
    best = first.placements.get(rank=1).response
    assert best.text.startswith("No, sorry!  All of these involve a pen")
    assert first.placements.get(rank=2).response.text.startswith("There are lots of funny things you can do with pens")
    assert first.judge.kind == Judge.Kind.IMPORTED


def test_reimporting_the_same_file_creates_nothing(shared_data: Path, capsys) -> None:
    path = shared_data / "hh_rlhf_harmless_test/harmless-base_test.jsonl.gz"
    import_data(path, "hh")
    counts = (Prompt.objects.count(), Response.objects.count(), Comparison.objects.count(), Judgment.objects.count())
    capsys.readouterr()
    import_data(path, "hh")
    assert "2312 already present" in capsys.readouterr().out
    assert counts == (
        Prompt.objects.count(),
        Response.objects.count(),
        Comparison.objects.count(),
        Judgment.objects.count(),
    )
    assert Placement.objects.count() == 2 * 2312


def test_hhh_alignment(shared_data: Path) -> None:
    import_data(shared_data / "hhh_alignment/hhh_alignment.json", "hhh")
    project = Project.objects.get(slug="hhh")
    assert Judgment.objects.filter(project=project).count() == 221
    assert Prompt.objects.filter(project=project).count() == 102  # 221 pairs over 102 distinct prompts
    assert Counter(Prompt.objects.filter(project=project).values_list("category", flat=True)) == {
        "other": 36,
        "harmless": 25,
        "helpful": 22,
        "honest": 19,
    }
    # Row 86's chosen answer is text that looks like a JSON list: it stays text.
    judgment = Judgment.objects.get(project=project, metadata__source_id=85)
    assert judgment.placements.get(rank=1).response.text.startswith('["Kosovo')


def test_openassistant_trees_give_212_ranked_groups(shared_data: Path) -> None:
    import_data(shared_data / "oasst_en100/en_100_tree.jsonl.gz", "oasst")
    project = Project.objects.get(slug="oasst")
    assert Judgment.objects.filter(project=project).count() == 212
    sizes = Counter(c.members.count() for c in Comparison.objects.filter(project=project))
    assert sizes == {3: 117, 2: 57, 4: 27, 6: 6, 5: 3, 9: 1, 8: 1}
    # The first tree: the root prompt's replies ranked 0 (best) first; context is the root message.
    judgment = Judgment.objects.get(
        project=project, comparison__prompt__external_id="054e1df3-35e0-4bb8-a585-607dbdcd24e0"
    )
    assert judgment.comparison.prompt.messages == [
        {"role": "user", "content": "How can I find the best 401k plan for my needs?"}
    ]
    assert judgment.placements.get(response__external_id="fa783ef0-4f4e-457d-b429-afd89edf8757").rank == 1
    # Deeper groups carry the whole conversation path above them.
    assert Prompt.objects.filter(project=project, metadata__depth__gte=3).exists()


def test_pandalm_three_annotators_with_ties_and_two_model_judges(shared_data: Path, capsys) -> None:
    folder = shared_data / "pandalm"
    import_data(folder / "testset-v1.json", "pandalm")
    import_data(folder / "gpt-3.5-turbo-testset-v1.json", "pandalm")
    output = capsys.readouterr().out
    import_data(folder / "pandalm-7b-testset-v1.json", "pandalm")
    project = Project.objects.get(slug="pandalm")
    assert Prompt.objects.filter(project=project).count() == 999
    human = Judgment.objects.filter(project=project, judge__kind=Judge.Kind.HUMAN)
    assert human.count() == 2997
    assert set(human.values_list("judge__name", flat=True)) == {
        "pandalm:annotator1",
        "pandalm:annotator2",
        "pandalm:annotator3",
    }
    llm = Judgment.objects.filter(project=project, judge__kind=Judge.Kind.LLM, status=Judgment.Status.ACTIVE)
    assert dict(Counter(llm.values_list("judge__name", flat=True))) == {
        "pandalm:gpt-3.5-turbo": 974,  # 25 'garbage' verdicts reported, not guessed
        "pandalm:pandalm-7b": 999,
    }
    # ... and recorded as the judge's "no verdict", with no placements, so coverage counts them.
    no_verdict = Judgment.objects.filter(project=project, status=Judgment.Status.NO_VERDICT)
    assert list(no_verdict.values_list("judge__name").annotate(n=Count("id"))) == [("pandalm:gpt-3.5-turbo", 25)]
    assert not Placement.objects.filter(judgment__in=no_verdict).exists()
    assert "25 unparsable verdicts recorded as no verdict" in output

    # Labels as 0 (tie) / 1 / 2 per annotator, rebuilt from the placements alone.
    labels: dict[str, dict[str, int]] = defaultdict(dict)
    ranks: dict[int, dict[str, int]] = defaultdict(dict)
    names = {}
    for judgment_id, judge, prompt_id, response, rank in Placement.objects.filter(judgment__in=human).values_list(
        "judgment_id",
        "judgment__judge__name",
        "judgment__comparison__prompt__external_id",
        "response__external_id",
        "rank",
    ):
        ranks[judgment_id][response] = rank
        names[judgment_id] = (judge, prompt_id)
    for judgment_id, (judge, prompt_id) in names.items():
        r = ranks[judgment_id]
        labels[judge][prompt_id] = (
            0 if r["response1"] == r["response2"] else (1 if r["response1"] < r["response2"] else 2)
        )
    ids = sorted(labels["pandalm:annotator1"])
    series = {name: [labels[name][i] for i in ids] for name in labels}
    kappa = lambda a, b: round(cohen_kappa_score(series[f"pandalm:{a}"], series[f"pandalm:{b}"]), 2)  # noqa: E731
    assert (
        kappa("annotator1", "annotator2"),
        kappa("annotator1", "annotator3"),
        kappa("annotator2", "annotator3"),
    ) == (
        0.85,
        0.88,
        0.86,
    )
    # Published majority counts (tie/1/2) and unanimity.
    majority = Counter()
    unanimous = 0
    for i in ids:
        votes = Counter(series[name][ids.index(i)] for name in series)
        label, count = votes.most_common(1)[0]
        majority[label] += 1
        unanimous += count == 3
    assert (majority[0], majority[1], majority[2]) == (105, 422, 472)
    assert unanimous == 879


def test_mtbench_votes_and_gpt4_verdicts_with_conversations(shared_data: Path, capsys) -> None:
    folder = shared_data / "mtbench_human_partial"
    import_data(folder / "human_votes.jsonl", "mtbench")
    import_data(folder / "gpt4_pair_verdicts.jsonl", "mtbench")
    project = Project.objects.get(slug="mtbench")
    humans = Judgment.objects.filter(project=project, judge__kind=Judge.Kind.HUMAN)
    assert humans.count() == 1751
    assert humans.values("judge").distinct().count() == 65
    gpt4 = Judgment.objects.filter(project=project, judge__name="mtbench:gpt-4")
    assert gpt4.count() == 1240
    assert gpt4.filter(metadata__position_inconsistent=True).count() == 196

    # Ties: 417 human ties and 108 + 196 GPT-4 ties, each stored as equal ranks.
    def tied(judgments) -> int:
        return sum(
            1 for j in judgments.prefetch_related("placements") if len({p.rank for p in j.placements.all()}) == 1
        )

    assert tied(humans) == 417
    assert tied(gpt4) == 304
    # Turn 2 is its own prompt; its responses carry their model's whole conversation.
    turn2 = Prompt.objects.get(project=project, external_id="81-turn2")
    assert [m["role"] for m in turn2.messages] == ["user", "user"]
    response = turn2.responses.get(external_id="gpt-3.5-turbo")
    assert [m["role"] for m in response.conversation] == ["user", "assistant", "user", "assistant"]
    assert response.text == response.conversation[-1]["content"]
    assert Prompt.objects.filter(project=project).count() == 160
    assert set(Prompt.objects.filter(project=project).values_list("metadata__turn", flat=True)) == {1, 2}
