"""Data whose shape does not fit the project is refused, naming rows and the project's setting; `--as-pairs` turns
each ranking into its induced pairs on request."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotation.importers.records import ImportItem, JudgeRef, JudgmentIn, PromptIn, ResponseIn
from annotation.importers.shape import induced_pairs
from annotation.models import Comparison, ImportJob, Judgment, Placement, Project, Prompt
from tests.factories import ProjectFactory

OASST = "oasst_en100/en_100_tree.jsonl.gz"
HH = "hh_rlhf_harmless_test/harmless-base_test.jsonl.gz"


def oasst_groups(path: Path, *, with_rows: bool = False) -> list:
    """Each ranked group of sibling replies of the file, in file order: {message_id: rank} (with its line number)."""
    groups = []
    with gzip.open(path, "rt") as stream:
        for row, line in enumerate(stream, start=1):
            stack = [json.loads(line)["prompt"]]
            while stack:
                message = stack.pop()
                replies = message.get("replies") or []
                ranked = {r["message_id"]: r["rank"] for r in replies if r["role"] == "assistant" and "rank" in r}
                ranked = {k: v for k, v in ranked.items() if v is not None}
                if len(ranked) >= 2 and message["role"] == "prompter":
                    groups.append((row, ranked) if with_rows else ranked)
                stack.extend(replies)
    return groups


# --- the conversion itself, no database ----------------------------------------------------------------------------


def test_induced_pairs_keep_order_ties_scores_criteria_and_the_shown_order() -> None:
    judgment = JudgmentIn(
        judge=JudgeRef("llm-1", "llm"),
        ranking=[["b"], ["a", "c"]],  # b first, a and c tied
        scores={"a": 1.0, "b": 3.0, "c": 1.0},
        margin=2.0,
        strength=1,
        criteria={"helpful": {"a": 2, "b": 5, "c": 2}, "note": "x"},
        rationale="b is best",
        duration_ms=900,
        comparison_order=["a", "b", "c"],
        shown_order=["c", "b", "a"],
    )
    item = ImportItem(
        prompt=PromptIn("p1", [{"role": "user", "content": "q"}]),
        responses=[ResponseIn(rid, rid) for rid in "abc"],
        judgments=[judgment],
    )
    pairs = induced_pairs(item).judgments
    assert [(p.comparison_order, p.ranking) for p in pairs] == [
        (["a", "b"], [["b"], ["a"]]),
        (["a", "c"], [["a", "c"]]),
        (["b", "c"], [["b"], ["c"]]),
    ]
    first = pairs[0]
    assert first.scores == {"a": 1.0, "b": 3.0}
    assert first.criteria == {"helpful": {"a": 2, "b": 5}, "note": "x"}
    assert first.shown_order == ["b", "a"]  # as they were shown: c, b, a
    assert (first.margin, first.strength, first.duration_ms) == (None, None, None)
    assert first.rationale == "b is best" and first.metadata == {"induced_from": ["a", "b", "c"]}
    assert all(p.judge == JudgeRef("llm-1", "llm") for p in pairs)


def test_induced_pairs_of_a_list_without_a_verdict_have_none_either() -> None:
    judgment = JudgmentIn(judge=JudgeRef("j", "llm"), ranking=[], comparison_order=["a", "b", "c"], no_verdict=True)
    item = ImportItem(prompt="p", judgments=[judgment])
    pairs = induced_pairs(item).judgments
    assert len(pairs) == 3 and all(p.no_verdict and p.ranking == [] for p in pairs)


def test_a_pair_is_left_as_it_is() -> None:
    item = ImportItem(prompt="p", judgments=[JudgmentIn(judge=JudgeRef("j", "human"), ranking=[["a"], ["b"]])])
    assert induced_pairs(item) is item


# --- refusals, through the command ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openassistant_lists_into_a_pairwise_project_are_refused_naming_rows_and_setting(shared_data: Path) -> None:
    project = ProjectFactory(slug="pairs", kind=Project.Kind.PAIRWISE, list_size=2)
    with pytest.raises(CommandError) as refused:
        call_command("import_data", str(shared_data / OASST), "--project", "pairs")
    message = str(refused.value)
    list_rows = sorted({row for row, g in oasst_groups(shared_data / OASST, with_rows=True) if len(g) > 2})
    assert len(list_rows) == 93 and list_rows[:5] == [1, 3, 4, 5, 6]  # 93 of the 100 trees hold a list of 3+
    assert "rows 1, 3, 4, 5, 6 and 88 more (93 in all) rank lists of 3-9 responses" in message
    assert "this project is pairwise (list size 2)" in message
    assert "--as-pairs" in message
    assert not Prompt.objects.filter(project=project).exists()
    job = ImportJob.objects.get(project=project)
    assert job.status == ImportJob.Status.FAILED and job.origin == ImportJob.Origin.COMMAND
    assert job.report["errors"][0]["field"] == "responses"


@pytest.mark.django_db
def test_as_pairs_imports_every_ranking_as_its_induced_pairs(shared_data: Path, capsys) -> None:
    project = ProjectFactory(slug="pairs", kind=Project.Kind.PAIRWISE, list_size=2)
    call_command("import_data", str(shared_data / OASST), "--project", "pairs", "--as-pairs")
    groups = oasst_groups(shared_data / OASST)
    assert Counter(len(g) for g in groups) == {2: 57, 3: 117, 4: 27, 5: 3, 6: 6, 8: 1, 9: 1}
    expected_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups)
    assert expected_pairs == 754
    assert Judgment.objects.filter(project=project).count() == expected_pairs
    assert Comparison.objects.filter(project=project).count() == expected_pairs
    assert "754 new judgments" in capsys.readouterr().out
    # Every comparison is a pair, and every pair agrees with the ranks of the list it came from.
    ranks = {rid: rank for group in groups for rid, rank in group.items()}
    for judgment in Judgment.objects.filter(project=project).prefetch_related("placements__response"):
        placed = {p.response.external_id: p.rank for p in judgment.placements.all()}
        assert len(placed) == 2
        (a, rank_a), (b, rank_b) = placed.items()
        assert (rank_a < rank_b) == (ranks[a] < ranks[b]) and (rank_a == rank_b) == (ranks[a] == ranks[b])
        if len(judgment.metadata.get("induced_from", [])) > 2:
            assert {a, b} <= set(judgment.metadata["induced_from"])
    assert Placement.objects.filter(judgment__project=project).count() == 2 * expected_pairs
    job = ImportJob.objects.get(project=project)
    assert job.options == {"as_pairs": True} and job.report["shape"]["9"] == 1


@pytest.mark.django_db
def test_a_listwise_project_refuses_lists_longer_than_its_list_size(shared_data: Path) -> None:
    project = ProjectFactory(slug="lists", kind=Project.Kind.LISTWISE, list_size=4)
    with pytest.raises(CommandError) as refused:
        call_command("import_data", str(shared_data / OASST), "--project", "lists")
    message = str(refused.value)
    long_rows = sorted({row for row, g in oasst_groups(shared_data / OASST, with_rows=True) if len(g) > 4})
    assert len(long_rows) == 10  # 11 lists of 5-9 replies in 10 trees
    named = ", ".join(map(str, long_rows[:5]))
    assert f"rows {named} and 5 more (10 in all) rank lists of 5-9 responses, more than the project's" in message
    assert "this project is listwise (list size 4)" in message and "Raise its list size to 9" in message
    assert not Prompt.objects.filter(project=project).exists()
    # Raised to 9, the same file imports: one listwise judgment per ranked group.
    Project.objects.filter(pk=project.pk).update(list_size=9)
    call_command("import_data", str(shared_data / OASST), "--project", "lists")
    assert Judgment.objects.filter(project=project).count() == len(oasst_groups(shared_data / OASST)) == 212


@pytest.mark.django_db
def test_a_listwise_project_refuses_a_file_of_pairs_only(shared_data: Path) -> None:
    project = ProjectFactory(slug="lists", kind=Project.Kind.LISTWISE, list_size=4)
    with pytest.raises(CommandError) as refused:
        call_command("import_data", str(shared_data / HH), "--project", "lists")
    message = str(refused.value)
    assert "the file holds only pairs (rows 1, 2, 3, 4, 5 and 2,307 more (2,312 in all): 2 responses each)" in message
    assert "this project is listwise (list size 4). Import it into a pairwise project" in message
    assert not Prompt.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_as_pairs_is_refused_for_a_listwise_project(shared_data: Path) -> None:
    ProjectFactory(slug="lists", kind=Project.Kind.LISTWISE, list_size=9)
    with pytest.raises(CommandError, match="lists become pairs only for a pairwise project"):
        call_command("import_data", str(shared_data / OASST), "--project", "lists", "--as-pairs")
    assert not Judgment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "extra", "kind", "list_size", "judgments"),
    [
        (OASST, [], "listwise", 9, 212),
        (HH, [], "pairwise", 2, 2312),
        (OASST, ["--as-pairs"], "pairwise", 2, 754),
        (OASST, ["--project-kind", "listwise"], "listwise", 9, 212),
    ],
)
def test_a_created_project_takes_the_shape_of_its_data(
    shared_data: Path, data: str, extra: list[str], kind: str, list_size: int, judgments: int
) -> None:
    call_command("import_data", str(shared_data / data), "--project", "made", "--create-project", *extra)
    project = Project.objects.get(slug="made")
    assert (project.kind, project.list_size) == (kind, list_size)
    assert Judgment.objects.filter(project=project).count() == judgments
