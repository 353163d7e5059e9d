"""The generic verdicts format, judges scoped by project, both shown orders, legal benchmark rows and the full error
report."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from annotation.models import Judge, Judgment, Placement, Project, Response
from annotation.services.imports import ImportFailed, import_file
from annotation.services.projects import project_create
from tests.annotation.bad_input import trl_rows, write_jsonl
from tests.annotation.verdict_files import verdict_row, write_verdicts

pytestmark = pytest.mark.django_db


def run_import(path: Path, project: str, *extra: str) -> dict[str, Any]:
    stdout = io.StringIO()
    call_command("import_data", str(path), "--project", project, "--create-project", "--json", *extra, stdout=stdout)
    return json.loads(stdout.getvalue())


def failed_import(path: Path, project: str, *extra: str) -> dict[str, Any]:
    stdout = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_data", str(path), "--project", project, "--create-project", "--json", *extra, stdout=stdout
        )
    return json.loads(stdout.getvalue())


def placed(judgment: Judgment) -> list[tuple[int, str, float | None]]:
    return sorted(judgment.placements.values_list("rank", "response__text", "score"))


# --- each verdict form, in each container -------------------------------------------------------------------------

FORMS = [
    verdict_row("w", winner="b"),
    verdict_row("t", winner="tie"),
    verdict_row(
        "r",
        responses=[{"text": "r one"}, {"text": "r two"}, {"text": "r three"}],
        ranks=[2, 1, 2],
    ),
    verdict_row(
        "s",
        responses=[{"text": "s one"}, {"text": "s two"}, {"text": "s three"}],
        scores=[0.5, 2.5, -1.0],
    ),
    verdict_row("p", preference=0.8),
]


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "json", "csv", "parquet"])
def test_each_verdict_form_in_each_container(tmp_path: Path, suffix: str) -> None:
    rows = FORMS if suffix != "parquet" else [FORMS[0], FORMS[1]]  # Parquet: one schema, the winner rows
    report = run_import(write_verdicts(tmp_path / f"v.{suffix}", rows), "v")
    assert (report["format"], report["judgments_created"]) == ("verdicts", len(rows))
    judgments = {j.comparison.prompt.messages[0]["content"][0]: j for j in Judgment.objects.select_related("judge")}
    assert {(j.judge.name, j.judge.kind) for j in judgments.values()} == {("gpt-judge", "llm")}
    assert placed(judgments["w"]) == [(1, "w answer two", None), (2, "w answer one", None)]
    assert placed(judgments["t"]) == [(1, "t answer one", None), (1, "t answer two", None)]
    if suffix == "parquet":
        return
    assert placed(judgments["r"]) == [(1, "r two", None), (2, "r one", None), (2, "r three", None)]
    assert placed(judgments["s"]) == [(1, "s two", 2.5), (2, "s one", 0.5), (3, "s three", -1.0)]
    assert placed(judgments["p"]) == [(1, "p answer one", None), (2, "p answer two", None)]
    assert judgments["p"].metadata == {"preference": 0.8}
    assert set(Response.objects.values_list("generator", flat=True)) == {"model-x", "model-y", ""}


def test_rationale_cost_latency_and_metadata_are_kept(tmp_path: Path) -> None:
    row = verdict_row(
        "x", winner="a", rationale="A is right.", cost=0.002, latency_ms=812.4, metadata={"prompt_template": "v2"}
    )
    run_import(write_verdicts(tmp_path / "x.jsonl", [row]), "x")
    judgment = Judgment.objects.get()
    assert (judgment.rationale, judgment.duration_ms) == ("A is right.", 812)
    assert judgment.metadata == {"prompt_template": "v2", "cost": 0.002}


def test_an_unparsed_verdict_is_recorded_as_no_verdict(tmp_path: Path) -> None:
    rows = [
        verdict_row("u1", winner="error", raw_output="I think both are... [cut]"),
        verdict_row("u2", raw_output="As an AI I cannot judge"),
        verdict_row("u3", winner="a"),
    ]
    report = run_import(write_verdicts(tmp_path / "u.jsonl", rows), "u")
    assert report["judgments_created"] == 3
    assert report["counters"]["no_verdict"] == 2
    missing = Judgment.objects.filter(status=Judgment.Status.NO_VERDICT)
    assert missing.count() == 2
    assert not Placement.objects.filter(judgment__in=missing).exists()
    assert set(missing.values_list("metadata__raw_output", flat=True)) == {
        "I think both are... [cut]",
        "As an AI I cannot judge",
    }
    # Whatever reads active judgments (exports, training, agreement) sees only the verdict.
    assert Judgment.objects.filter(status=Judgment.Status.ACTIVE).count() == 1
    # Re-importing finds them: nothing new.
    again = run_import(write_verdicts(tmp_path / "u.jsonl", rows), "u")
    assert (again["judgments_created"], again["judgments_unchanged"]) == (0, 3)


def test_a_missing_verdict_without_raw_output_is_an_error(tmp_path: Path) -> None:
    report = failed_import(write_verdicts(tmp_path / "m.jsonl", [verdict_row("m")]), "m")
    assert report["errors"] == [
        {
            "row": 1,
            "field": "winner",
            "message": "missing: give winner, ranks, scores or preference (or raw_output: no verdict)",
        }
    ]


# --- both shown orders ----------------------------------------------------------------------------------------------


def test_both_shown_orders_are_two_judgments(tmp_path: Path) -> None:
    responses = [{"id": "x", "text": "answer x", "generator": "m1"}, {"id": "y", "text": "answer y", "generator": "m2"}]
    rows = [
        verdict_row("o", responses=responses, winner="a", shown_order=["x", "y"], prompt_id="q1"),
        verdict_row("o", responses=responses, winner="b", shown_order=["b", "a"], prompt_id="q1"),
    ]
    report = run_import(write_verdicts(tmp_path / "o.jsonl", rows), "o")
    assert report["judgments_created"] == 2
    x, y = (Response.objects.get(external_id=rid).pk for rid in ("x", "y"))
    stored = {tuple(j.shown_order): (j.order_key, placed(j)) for j in Judgment.objects.all()}
    assert stored == {
        (x, y): (f"{x},{y}", [(1, "answer x", None), (2, "answer y", None)]),
        (y, x): (f"{y},{x}", [(1, "answer y", None), (2, "answer x", None)]),
    }
    assert Judgment.objects.values("comparison").distinct().count() == 1
    again = run_import(write_verdicts(tmp_path / "o.jsonl", rows), "o")
    assert (again["judgments_created"], again["judgments_unchanged"]) == (0, 2)

    # The database holds the invariant: one outcome per judge, comparison and shown order ...
    first = Judgment.objects.get(order_key=f"{x},{y}")
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(
            project=first.project, comparison=first.comparison, judge=first.judge, order_key=first.order_key,
            source=Judgment.Source.API,
        )  # fmt: skip
    # ... and a judgment with no order key stays one per judge and comparison (every human judgment).
    Judgment.objects.create(project=first.project, comparison=first.comparison, judge=first.judge, source="api")
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(project=first.project, comparison=first.comparison, judge=first.judge, source="api")


def test_a_human_judge_keeps_one_judgment_per_comparison_whatever_the_order(tmp_path: Path) -> None:
    rows = [
        verdict_row("h", kind="human", judge="rater1", winner="a", shown_order=["a", "b"]),
        verdict_row("h", kind="human", judge="rater1", winner="a", shown_order=["b", "a"]),
    ]
    report = failed_import(write_verdicts(tmp_path / "h.jsonl", rows), "h")
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "judge")]
    assert "already judged these responses of this prompt at row 1" in report["errors"][0]["message"]


def test_mtbench_g1_g2_verdicts_are_kept_in_both_orders(tmp_path: Path) -> None:
    from tests.annotation.bad_input import mtbench_conversations

    write_jsonl(tmp_path / "conversations.jsonl", mtbench_conversations())
    pair = {"question_id": 7, "model_a": "alpha", "model_b": "beta"}
    rows = [
        pair | {"turn": 1, "g1_winner": "model_1", "g2_winner": "model_1"},
        pair | {"turn": 2, "g1_winner": "model_2", "g2_winner": "error"},
    ]
    report = run_import(write_jsonl(tmp_path / "gpt4.jsonl", rows), "mt")
    assert (report["format"], report["judgments_created"]) == ("mtbench-gpt4", 4)
    alpha, beta = {r.external_id: r.pk for r in Response.objects.filter(prompt__external_id="7-turn1")}.values()
    turn1 = Judgment.objects.filter(comparison__prompt__external_id="7-turn1")
    assert {tuple(j.shown_order): placed(j)[0][1] for j in turn1} == {
        (alpha, beta): "alpha haiku",
        (beta, alpha): "alpha haiku",
    }
    turn2 = Judgment.objects.filter(comparison__prompt__external_id="7-turn2")
    assert sorted(turn2.values_list("status", flat=True)) == ["active", "no_verdict"]


# --- real benchmark rows are legal data ---------------------------------------------------------------------------


def test_identical_empty_shared_text_and_repeated_rows_are_legal(tmp_path: Path) -> None:
    same = verdict_row("same", responses=["Paris.", "Paris."], winner="tie")
    empty = verdict_row("empty", responses=[{"text": "An answer.", "generator": "m1"}, {"text": "", "generator": "m2"}])
    empty["winner"] = "a"
    shared = verdict_row(
        "shared", responses=[{"text": "42", "generator": "m1"}, {"text": "42", "generator": "m2"}], winner="tie"
    )
    rows = [same, empty, shared, verdict_row("other", winner="a"), dict(empty)]
    report = run_import(write_verdicts(tmp_path / "legal.jsonl", rows), "legal")
    assert report["ok"] and report["judgments_created"] == 4
    assert report["counters"]["repeated_rows"] == 1
    assert {"row": 5, "field": None, "message": "repeats an earlier row of the file: imported once"} in report[
        "warnings"
    ]
    assert any("1 rows repeat an earlier row of the file (rows 5)" in w["message"] for w in report["warnings"])

    def responses_of(tag: str) -> list[tuple[str, str]]:
        return sorted(
            Response.objects.filter(prompt__messages__0__content__startswith=f"{tag}:").values_list("text", "generator")
        )

    assert responses_of("same") == [("Paris.", ""), ("Paris.", "")]
    assert responses_of("empty") == [("", "m2"), ("An answer.", "m1")]
    assert responses_of("shared") == [("42", "m1"), ("42", "m2")]
    again = run_import(write_verdicts(tmp_path / "legal.jsonl", rows), "legal")
    assert (again["judgments_created"], again["responses_created"]) == (0, 0)


def test_listwise_rows_with_identical_and_empty_responses_are_legal(tmp_path: Path) -> None:
    row = {"prompt": "rank", "responses": ["same", "same", {"text": "", "model": "quiet"}], "ranks": [1, 1, 2]}
    report = run_import(write_jsonl(tmp_path / "lw.jsonl", [row]), "lw")
    assert (report["format"], report["responses_created"]) == ("listwise", 3)


# --- every bad row is listed, named as the user wrote it ----------------------------------------------------------


def test_every_bad_row_is_reported(tmp_path: Path) -> None:
    rows = [verdict_row(f"bad{i}", winner="c") for i in range(150)] + [verdict_row("good", winner="a")]
    report = failed_import(write_verdicts(tmp_path / "bad.jsonl", rows), "bad")
    assert report["error_count"] == 150
    assert [e["row"] for e in report["errors"]] == list(range(1, 151))
    assert report["errors"][0] == {
        "row": 1,
        "field": "winner",
        "message": "must be a, b, tie or a response id, got 'c'",
    }


def test_listwise_errors_name_the_field_as_written(tmp_path: Path) -> None:
    responses = [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}, {"id": "c", "text": "three"}]
    changed = [*responses[:2], {"id": "c", "text": "three, edited"}]
    rows = [
        {"prompt": "rank", "prompt_id": "p1", "responses": responses, "ranks": [1, 2, 3]},
        {"prompt": "rank", "prompt_id": "p1", "responses": changed, "ranks": [3, 2, 1]},
        {"prompt": "rank", "prompt_id": "p2", "responses": [*responses[:2], {"text": ["x"]}], "ranks": [1, 2, 3]},
    ]
    report = failed_import(write_jsonl(tmp_path / "lw.jsonl", rows), "lw")
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "responses[2].text"), (3, "responses[2].text")]
    assert report["errors"][1]["message"] == "must be a string, got list"


# --- judges are scoped by project ----------------------------------------------------------------------------------


def test_two_projects_each_have_their_own_annotator1(tmp_path: Path) -> None:
    rows = [verdict_row("a", judge="annotator1", kind="human", winner="a")]
    run_import(write_verdicts(tmp_path / "one.jsonl", rows), "one")
    run_import(write_verdicts(tmp_path / "two.jsonl", rows), "two")
    judges = Judge.objects.filter(name="annotator1")
    assert sorted(judges.values_list("project__slug", flat=True)) == ["one", "two"]
    for judge in judges:
        assert set(judge.judgments.values_list("project_id", flat=True)) == {judge.project_id}


def test_a_kind_clash_names_nothing_of_another_project(tmp_path: Path) -> None:
    run_import(
        write_verdicts(tmp_path / "a.jsonl", [verdict_row("a", judge="secret-judge", kind="llm", winner="a")]), "alpha"
    )
    # Another project may use the same name with another kind: it is another judge.
    row = verdict_row("b", judge="secret-judge", kind="reference", winner="a")
    assert run_import(write_verdicts(tmp_path / "b.jsonl", [row]), "beta")["judges_created"] == 1
    # In its own project the kind must agree, and the message speaks of this project only.
    row = verdict_row("c", judge="secret-judge", kind="human", winner="b")
    report = failed_import(write_verdicts(tmp_path / "c.jsonl", [row]), "beta")
    message = report["errors"][0]["message"]
    assert message.startswith("judge 'secret-judge' is of kind 'reference' in this project, not 'human'")
    assert "llm" not in message and "alpha" not in message


def test_names_starting_human_are_reserved(tmp_path: Path) -> None:
    row = verdict_row("r", judge="human:alice", kind="human", winner="a")
    report = failed_import(write_verdicts(tmp_path / "r.jsonl", [row]), "r")
    assert report["errors"][0]["field"] == "judge"
    assert "reserved" in report["errors"][0]["message"]


def test_judge_kind_option_sets_the_kind_of_named_trl_judges(tmp_path: Path) -> None:
    rows = [row | {"annotator": "gpt-4o"} for row in trl_rows("k", 2)]
    run_import(write_jsonl(tmp_path / "trl.jsonl", rows), "k", "--judge-kind", "llm")
    assert list(Judge.objects.values_list("name", "kind")) == [("k:gpt-4o", "llm")]
    # Without it, a named TRL judge is a human annotator, as before.
    run_import(write_jsonl(tmp_path / "trl.jsonl", rows), "k2")
    assert Judge.objects.get(project__slug="k2").kind == "human"


def test_judge_kind_is_required_for_verdicts_unless_given(tmp_path: Path) -> None:
    path = write_verdicts(tmp_path / "nk.jsonl", [verdict_row("n", kind=None, winner="a", shown_order=["a", "b"])])
    report = failed_import(path, "nk")
    assert report["errors"][0]["field"] == "judge_kind"
    assert run_import(path, "nk", "--judge-kind", "reward_model")["judgments_created"] == 1
    assert Judge.objects.get().kind == "reward_model"


def test_import_file_raises_with_every_error(tmp_path: Path) -> None:
    project = project_create(slug="svc")
    rows = [verdict_row(f"e{i}", winner="z") for i in range(120)]
    with pytest.raises(ImportFailed) as failure:
        import_file(project=project, path=write_verdicts(tmp_path / "e.jsonl", rows))
    assert len(failure.value.report.errors) == 120
    assert not Project.objects.get(slug="svc").judges.exists()
