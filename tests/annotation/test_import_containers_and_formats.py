"""Every container reads the same data the same way; every format is detected, maps its labels to exact rankings,
and re-imports idempotently; a re-import that changes a label is refused whole."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Comparison, ComparisonResponse, Judge, Judgment, Placement, Prompt, Response
from tests.annotation.bad_input import (
    csv_text,
    gzip_file,
    mtbench_conversations,
    mtbench_votes,
    pandalm_rows,
    trl_rows,
    write_json,
    write_jsonl,
    write_parquet,
)

pytestmark = pytest.mark.django_db

TABLES = (Prompt, Response, Comparison, ComparisonResponse, Judgment, Placement, Judge)


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def run_import(path: Path, project: str, *extra: str) -> dict[str, Any]:
    stdout = io.StringIO()
    call_command("import_data", str(path), "--project", project, "--create-project", "--json", *extra, stdout=stdout)
    return json.loads(stdout.getvalue())


def ranking(judgment: Judgment) -> list[tuple[int, str]]:
    """(rank, response text) best first; equal ranks are ties."""
    return sorted((p.rank, p.response.text) for p in judgment.placements.select_related("response"))


def judgments_of(project: str) -> list[Judgment]:
    return list(
        Judgment.objects.filter(project__slug=project).select_related("judge", "comparison__prompt").order_by("id")
    )


# --- one data set, six containers ---------------------------------------------------------------------------------


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


COLOUR_PROMPT = [
    {"role": "system", "content": "Be brief."},
    user("Name a colour."),
    assistant("Red."),
    user("Another?"),
]

# TRL conversational rows with margin and annotator: alice and bob judge the same pair in opposite directions.
TRL_ROWS: list[dict[str, Any]] = [
    {
        "prompt": [user("What is 2+2?")],
        "chosen": [assistant("4")],
        "rejected": [assistant("5")],
        "margin": 1.5,
        "annotator": "alice",
    },
    {
        "prompt": [user("What is 2+2?")],
        "chosen": [assistant("5")],
        "rejected": [assistant("4")],
        "margin": 0.5,
        "annotator": "bob",
    },
    {
        "prompt": COLOUR_PROMPT,
        "chosen": [assistant("Blue.")],
        "rejected": [assistant("Red again.")],
        "margin": 2.0,
        "annotator": "alice",
    },
    {
        "prompt": [user("Say hi")],
        "chosen": [assistant("Hi!")],
        "rejected": [assistant("Go away.")],
        "margin": 0.0,
        "annotator": "carol",
    },
]

EXPECTED_TRL = sorted(
    [
        ("alice", [user("What is 2+2?")], [(1, "4"), (2, "5")], 1.5),
        ("bob", [user("What is 2+2?")], [(1, "5"), (2, "4")], 0.5),
        ("alice", COLOUR_PROMPT, [(1, "Blue."), (2, "Red again.")], 2.0),
        ("carol", [user("Say hi")], [(1, "Hi!"), (2, "Go away.")], 0.0),
    ],
    key=repr,
)


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    header = list(rows[0])
    cells = [[json.dumps(v) if isinstance(v, list) else v for v in row.values()] for row in rows]
    path.write_text(csv_text(header, cells))
    return path


CONTAINERS: dict[str, Callable[[Path], Path]] = {
    "jsonl": lambda d: write_jsonl(d / "trl.jsonl", TRL_ROWS),
    "jsonl.gz": lambda d: gzip_file(write_jsonl(d / "trl.jsonl", TRL_ROWS)),
    "json": lambda d: write_json(d / "trl.json", TRL_ROWS),
    "csv": lambda d: _csv(d / "trl.csv", TRL_ROWS),
    "parquet": lambda d: write_parquet(d / "trl.parquet", TRL_ROWS),
    "parquet.gz": lambda d: gzip_file(write_parquet(d / "trl.parquet", TRL_ROWS)),
}


@pytest.mark.parametrize("container", CONTAINERS)
def test_every_container_gives_the_same_judgments(container: str, tmp_path: Path) -> None:
    path = CONTAINERS[container](tmp_path)
    assert path.name == f"trl.{container}"
    report = run_import(path, "c")
    assert report["format"] == "trl-pairwise"
    assert (report["rows"], report["prompts_created"], report["responses_created"], report["comparisons_created"]) == (
        4,
        3,
        6,
        3,
    )
    assert (report["judgments_created"], report["judges_created"], report["error_count"]) == (4, 3, 0)
    got = sorted(
        (
            (j.judge.name.removeprefix("c:"), j.comparison.prompt.messages, ranking(j), j.margin)
            for j in judgments_of("c")
        ),
        key=repr,
    )
    assert got == EXPECTED_TRL
    # One human judge per annotator, named <project>:<annotator>; alice's and bob's judgments share a comparison.
    assert dict(Judge.objects.values_list("name", "kind")) == {"c:alice": "human", "c:bob": "human", "c:carol": "human"}
    assert Comparison.objects.get(prompt__messages=[user("What is 2+2?")]).judgments.count() == 2
    assert Response.objects.filter(conversation__isnull=False).count() == 0

    again = run_import(path, "c")
    assert (again["judgments_created"], again["judgments_unchanged"], again["prompts_created"]) == (0, 4, 0)
    assert table_counts() == {
        "Prompt": 3,
        "Response": 6,
        "Comparison": 3,
        "ComparisonResponse": 6,
        "Judgment": 4,
        "Placement": 8,
        "Judge": 3,
    }


def test_trl_string_columns_default_judge_and_judge_option(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "plain.jsonl", trl_rows("plain", 2))
    run_import(path, "p")
    judgment = judgments_of("p")[0]
    assert (judgment.judge.name, judgment.judge.kind) == ("p:imported", "imported")
    assert judgment.comparison.prompt.messages == [user("plain question 1")]
    assert ranking(judgment) == [(1, "plain good answer 1"), (2, "plain bad answer 1")]
    assert (judgment.margin, judgment.source, judgment.criteria) == (None, "import", {})

    run_import(path, "q", "--judge", "nightly-labels")
    assert {j.judge.name for j in judgments_of("q")} == {"nightly-labels"}


def test_trl_completion_with_several_turns_keeps_its_conversation(tmp_path: Path) -> None:
    row = {
        "prompt": [user("Plan a trip.")],
        "chosen": [assistant("Where to?"), user("Rome."), assistant("Day 1: the Forum.")],
        "rejected": [assistant("No.")],
    }
    run_import(write_jsonl(tmp_path / "turns.jsonl", [row]), "t")
    chosen = Response.objects.get(text="Day 1: the Forum.")
    assert chosen.conversation == [user("Plan a trip."), *row["chosen"]]
    assert Response.objects.get(text="No.").conversation is None
    assert ranking(judgments_of("t")[0]) == [(1, "Day 1: the Forum."), (2, "No.")]


# --- detection of every format, and idempotent re-import ----------------------------------------------------------


HH_ROWS = [
    {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How are you?\n\nAssistant: Good, thanks.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How are you?\n\nAssistant: Go away.",
    },
    # Diverges before the last assistant turn: the shared turns are the prompt, each response keeps its transcript.
    {
        "chosen": "\n\nHuman: Tell me a fact.\n\nAssistant: Water is wet.\n\nHuman: More?\n\nAssistant: Ice floats.",
        "rejected": "\n\nHuman: Tell me a fact.\n\nAssistant: I will not.\n\nHuman: More?\n\nAssistant: No.",
    },
]

OASST_TREE = {
    "message_tree_id": "tree-1",
    "tree_state": "ready_for_export",
    "prompt": {
        "message_id": "root",
        "role": "prompter",
        "text": "Hi there",
        "lang": "en",
        "replies": [
            {"message_id": "a1", "role": "assistant", "text": "Hello.", "rank": 1, "replies": []},
            {
                "message_id": "a2",
                "role": "assistant",
                "text": "Hi! How can I help?",
                "rank": 0,
                "replies": [
                    {
                        "message_id": "p2",
                        "role": "prompter",
                        "text": "Tell a joke",
                        "replies": [
                            {"message_id": "b1", "role": "assistant", "text": "Knock knock.", "rank": 0},
                            {"message_id": "b2", "role": "assistant", "text": "No.", "rank": 1},
                        ],
                    },
                ],
            },
            {"message_id": "a3", "role": "assistant", "text": "Go away.", "rank": 2},
        ],
    },
}

LISTWISE_ROWS = [
    {"prompt": "Rank by ranks", "responses": ["r1", "r2", "r3", "r4"], "ranks": [1, 2, 2, 4]},
    {"prompt": "Rank by scores", "responses": ["s1", "s2", "s3"], "scores": [0.5, 2.0, 2.0]},
]

ULTRAFEEDBACK_ROWS = [
    {
        "source": "evol_instruct",
        "instruction": "Name a prime.",
        "completions": [
            {
                "model": "m-small",
                "response": "4",
                "overall_score": 2.0,
                "annotations": {"helpfulness": {"Rating": "1"}, "honesty": {"Rating": "3"}},
            },
            {
                "model": "m-large",
                "response": "7",
                "overall_score": 9.5,
                "annotations": {"helpfulness": {"Rating": "5"}, "honesty": {"Rating": "N/A"}},
            },
            {
                "model": "m-mid",
                "response": "9",
                "overall_score": 2.0,
                "annotations": {"helpfulness": {"Rating": "2"}, "honesty": {"Rating": "4"}},
            },
        ],
    }
]


def _pandalm(d: Path) -> list[Path]:
    return [write_json(d / "testset.json", pandalm_rows([1, 2, 3]))]


def _pandalm_verdicts(d: Path) -> list[Path]:
    verdicts = [{"idx": 1, "gpt_result": "2"}, {"idx": 2, "gpt_result": "Tie"}, {"idx": 3, "gpt_result": "garbage"}]
    return [*_pandalm(d), write_json(d / "gpt.json", verdicts)]


def _mtbench(d: Path) -> list[Path]:
    write_jsonl(d / "conversations.jsonl", mtbench_conversations())
    return [write_jsonl(d / "votes.jsonl", mtbench_votes(["model_a", "tie", "model_b"]))]


def _mtbench_gpt4(d: Path) -> list[Path]:
    write_jsonl(d / "conversations.jsonl", mtbench_conversations())
    rows = [
        {"question_id": 7, "model_a": "alpha", "model_b": "beta", "turn": 1, "gpt4_winner": "model_b"},
        {"question_id": 7, "model_a": "alpha", "model_b": "beta", "turn": 2, "gpt4_winner": "tie (inconsistent)"},
    ]
    return [write_jsonl(d / "gpt4.jsonl", rows)]


@dataclass(frozen=True)
class FormatCase:
    build: Callable[[Path], list[Path]]  # files to import in order; the last is the one whose format is checked
    counts: dict[str, int]  # tables after every file is imported
    rankings: list[tuple[str, list[tuple[int, str]]]]  # (judge, [(rank, text)]) of every judgment, in id order


FORMAT_CASES: dict[str, FormatCase] = {
    "trl-pairwise": FormatCase(
        lambda d: [write_jsonl(d / "trl.jsonl", trl_rows("f", 1))],
        {"Prompt": 1, "Response": 2, "Judgment": 1, "Judge": 1},
        [("fmt:imported", [(1, "f good answer 1"), (2, "f bad answer 1")])],
    ),
    "hh-rlhf": FormatCase(
        lambda d: [write_jsonl(d / "hh.jsonl", HH_ROWS)],
        {"Prompt": 2, "Response": 4, "Judgment": 2, "Judge": 1},
        [("fmt:imported", [(1, "Good, thanks."), (2, "Go away.")]), ("fmt:imported", [(1, "Ice floats."), (2, "No.")])],
    ),
    "listwise": FormatCase(
        lambda d: [write_jsonl(d / "lists.jsonl", LISTWISE_ROWS)],
        {"Prompt": 2, "Response": 7, "Judgment": 2, "Judge": 1},
        [
            ("fmt:imported", [(1, "r1"), (2, "r2"), (2, "r3"), (3, "r4")]),
            ("fmt:imported", [(1, "s2"), (1, "s3"), (2, "s1")]),
        ],
    ),
    "listwise (UltraFeedback)": FormatCase(
        lambda d: [write_jsonl(d / "uf.jsonl", ULTRAFEEDBACK_ROWS)],
        {"Prompt": 1, "Response": 3, "Judgment": 1, "Judge": 1},
        [("fmt:ultrafeedback", [(1, "7"), (2, "4"), (2, "9")])],
    ),
    "oasst-trees": FormatCase(
        lambda d: [write_jsonl(d / "trees.jsonl", [OASST_TREE])],
        {"Prompt": 2, "Response": 5, "Judgment": 2, "Judge": 1},
        [
            ("oasst:rankers", [(1, "Hi! How can I help?"), (2, "Hello."), (3, "Go away.")]),
            ("oasst:rankers", [(1, "Knock knock."), (2, "No.")]),
        ],
    ),
    "pandalm": FormatCase(
        _pandalm,
        {"Prompt": 3, "Response": 6, "Judgment": 9, "Judge": 3},
        [
            (f"pandalm:annotator{a}", r)
            for i in (1, 2, 3)
            for a, r in (
                (1, [(1, f"first answer to {i}"), (2, f"second answer to {i}")]),
                (2, [(1, f"second answer to {i}"), (2, f"first answer to {i}")]),
                (3, [(1, f"first answer to {i}"), (1, f"second answer to {i}")]),
            )
        ],
    ),
    "pandalm-verdicts": FormatCase(
        _pandalm_verdicts,
        {"Prompt": 3, "Response": 6, "Judgment": 12, "Judge": 4},  # 9 human, 2 verdicts, 1 "no verdict"
        [
            ("pandalm:gpt-3.5-turbo", [(1, "second answer to 1"), (2, "first answer to 1")]),
            ("pandalm:gpt-3.5-turbo", [(1, "first answer to 2"), (1, "second answer to 2")]),
            ("pandalm:gpt-3.5-turbo", []),  # "garbage": no verdict, no placements
        ],
    ),
    "mtbench-votes": FormatCase(
        _mtbench,
        {"Prompt": 2, "Response": 4, "Judgment": 3, "Judge": 3},
        [
            ("mtbench:expert_0", [(1, "alpha haiku"), (2, "beta haiku")]),
            ("mtbench:expert_1", [(1, "alpha limerick"), (1, "beta limerick")]),
            ("mtbench:expert_2", [(1, "beta haiku"), (2, "alpha haiku")]),
        ],
    ),
    "mtbench-gpt4": FormatCase(
        _mtbench_gpt4,
        {"Prompt": 2, "Response": 4, "Judgment": 2, "Judge": 1},
        [
            ("mtbench:gpt-4", [(1, "beta haiku"), (2, "alpha haiku")]),
            ("mtbench:gpt-4", [(1, "alpha limerick"), (1, "beta limerick")]),
        ],
    ),
}


@pytest.mark.parametrize("name", FORMAT_CASES)
def test_format_is_detected_and_reimport_is_idempotent(name: str, tmp_path: Path) -> None:
    case = FORMAT_CASES[name]
    paths = case.build(tmp_path)
    reports = [run_import(path, "fmt") for path in paths]
    assert reports[-1]["format"] == name.split(" ")[0]
    counts = table_counts()
    assert {k: counts[k] for k in case.counts} == case.counts
    # The judgments the last file brought (PandaLM verdicts come after the test set's own).
    judgments = [(j.judge.name, ranking(j)) for j in judgments_of("fmt")][-len(case.rankings) :]
    assert judgments == case.rankings

    for path, first in zip(paths, reports, strict=True):
        again = run_import(path, "fmt")
        assert (again["judgments_created"], again["judgments_unchanged"]) == (0, first["judgments_created"])
        assert (again["prompts_created"], again["responses_created"], again["comparisons_created"]) == (0, 0, 0)
    assert table_counts() == counts


def test_format_details_that_the_rankings_do_not_show(tmp_path: Path) -> None:
    # HH: a row whose transcripts diverge early keeps the shared turns as the prompt and each whole transcript.
    report = run_import(write_jsonl(tmp_path / "hh.jsonl", HH_ROWS), "hh")
    assert report["counters"] == {"diverging_transcripts": 1}
    assert report["warnings"][0]["row"] == 2
    diverging = Prompt.objects.get(project__slug="hh", messages=[user("Tell me a fact.")])
    assert {r.text: r.conversation for r in diverging.responses.all()} == {
        "Ice floats.": [user("Tell me a fact."), assistant("Water is wet."), user("More?"), assistant("Ice floats.")],
        "No.": [user("Tell me a fact."), assistant("I will not."), user("More?"), assistant("No.")],
    }
    shared = Prompt.objects.get(project__slug="hh", messages=[user("Hi"), assistant("Hello!"), user("How are you?")])
    assert set(shared.responses.values_list("conversation", flat=True)) == {None}

    # MT-Bench: turn 2 is its own prompt (the user turns); its responses carry their model's whole conversation.
    _mtbench(tmp_path)
    run_import(tmp_path / "votes.jsonl", "mt")
    turn2 = Prompt.objects.get(project__slug="mt", external_id="7-turn2")
    assert turn2.messages == [user("Write a haiku."), user("Now a limerick.")]
    assert turn2.metadata == {"question_id": 7, "turn": 2}
    alpha = turn2.responses.get(external_id="alpha")
    assert alpha.text == "alpha limerick"
    assert alpha.conversation == [
        user("Write a haiku."),
        assistant("alpha haiku"),
        user("Now a limerick."),
        assistant("alpha limerick"),
    ]
    assert (
        Prompt.objects.get(project__slug="mt", external_id="7-turn1").responses.get(external_id="beta").conversation
        is None
    )

    # UltraFeedback: per-criterion ratings keyed by response id; "N/A" is left out with a warning naming the row.
    report = run_import(write_jsonl(tmp_path / "uf.jsonl", ULTRAFEEDBACK_ROWS), "uf")
    assert report["warnings"][0] == {
        "row": 1,
        "field": "completions[1].annotations.honesty",
        "message": "rating 'N/A' is not a number; left out",
    }
    judgment = judgments_of("uf")[0]
    ids = {r.text: r.external_id for r in Response.objects.filter(prompt__project__slug="uf")}
    assert (judgment.judge.kind, judgment.comparison.prompt.category) == ("llm", "evol_instruct")
    assert judgment.criteria == {
        "helpfulness": {ids["4"]: 1.0, ids["7"]: 5.0, ids["9"]: 2.0},
        "honesty": {ids["4"]: 3.0, ids["9"]: 4.0},
    }
    assert sorted(judgment.placements.values_list("response__text", "rank", "score")) == [
        ("4", 2, 2.0),
        ("7", 1, 9.5),
        ("9", 2, 2.0),
    ]
    assert Response.objects.get(prompt__project__slug="uf", text="7").generator == "m-large"

    # PandaLM verdicts: the unparsable verdict is counted and reported, never guessed.
    (tmp_path / "pl").mkdir()
    paths = _pandalm_verdicts(tmp_path / "pl")
    run_import(paths[0], "pl")
    report = run_import(paths[1], "pl")
    assert report["counters"] == {"unparsable_verdicts": 1}
    assert report["judgments_created"] == 3  # the unparsable one is recorded as "no verdict"
    assert Judgment.objects.filter(project__slug="pl", status="no_verdict").count() == 1


def test_ultrafeedback_rows_read_from_csv(tmp_path: Path) -> None:
    """A CSV with UltraFeedback's columns lacks `responses`, and must not be refused for it."""
    row = ULTRAFEEDBACK_ROWS[0]
    path = tmp_path / "uf.csv"
    path.write_text(csv_text(["instruction", "completions"], [[row["instruction"], json.dumps(row["completions"])]]))
    report = run_import(path, "ufcsv")
    assert (report["format"], report["judgments_created"], report["warning_count"]) == ("listwise", 1, 1)
    judgment = judgments_of("ufcsv")[0]
    assert ranking(judgment) == [(1, "7"), (2, "4"), (2, "9")]
    assert judgment.judge.name == "ufcsv:ultrafeedback"


# --- listwise rows in detail --------------------------------------------------------------------------------------


def test_listwise_ranks_scores_ratings_and_criteria(tmp_path: Path) -> None:
    rows = [
        {"prompt_id": "ties", "prompt": "Q1", "responses": ["a", "b", "c", "d"], "ranks": [1, 1, 3, 4]},
        {"prompt_id": "zero-based", "prompt": "Q2", "responses": ["a", "b", "c"], "ranks": [2, 0, 1]},
        {"prompt_id": "scores", "prompt": "Q3", "responses": ["a", "b", "c"], "scores": [0.1, 0.9, 0.1]},
        {
            "prompt_id": "two-sources",
            "prompt": "Q4",
            "responses": ["a", "b", "c"],
            "ratings": {"gpt4": [3, 9, 6], "human": [8, 2, 8]},
        },
        {
            "prompt_id": "criteria",
            "prompt": "Q5",
            "judge": "panel",
            "responses": [{"id": "x", "text": "a", "generator": "m1"}, {"id": "y", "text": "b", "generator": "m2"}],
            "ranks": [2, 1],
            "criteria": {"helpfulness": [3, 5], "safety": [5, 5]},
        },
    ]
    run_import(write_jsonl(tmp_path / "lists.jsonl", rows), "lw")

    def judgment(prompt_id: str, judge: str) -> Judgment:
        return Judgment.objects.get(comparison__prompt__external_id=prompt_id, judge__name=judge)

    def ranks(j: Judgment) -> dict[str, int]:
        return dict(j.placements.values_list("response__text", "rank"))

    assert ranks(judgment("ties", "lw:imported")) == {"a": 1, "b": 1, "c": 2, "d": 3}  # dense ranks
    assert ranks(judgment("zero-based", "lw:imported")) == {"b": 1, "c": 2, "a": 3}
    scored = judgment("scores", "lw:imported")
    assert sorted(scored.placements.values_list("response__text", "rank", "score")) == [
        ("a", 2, 0.1),
        ("b", 1, 0.9),
        ("c", 2, 0.1),
    ]
    # Ratings from two sources: two judgments of one comparison, one imported judge per source.
    gpt4, human = judgment("two-sources", "lw:gpt4"), judgment("two-sources", "lw:human")
    assert gpt4.comparison_id == human.comparison_id
    assert (ranks(gpt4), ranks(human)) == ({"b": 1, "c": 2, "a": 3}, {"a": 1, "c": 1, "b": 2})
    assert Judge.objects.get(name="lw:gpt4").kind == "imported"
    # Criteria: per criterion, the value for each response id; the row's judge column names the judge.
    panel = judgment("criteria", "panel")
    assert ranks(panel) == {"b": 1, "a": 2}
    assert panel.criteria == {"helpfulness": {"x": 3.0, "y": 5.0}, "safety": {"x": 5.0, "y": 5.0}}
    assert dict(Response.objects.filter(prompt__external_id="criteria").values_list("external_id", "generator")) == {
        "x": "m1",
        "y": "m2",
    }
    assert (
        ComparisonResponse.objects.filter(comparison=panel.comparison).order_by("position").first().response.external_id
        == "x"
    )
    assert Judgment.objects.count() == 6


# --- explicit --format ----------------------------------------------------------------------------------------------


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    """Transcripts with a `prompt` column are detected as TRL (whole transcripts as responses); --format hh-rlhf reads
    the conversation out of them instead."""
    rows = [{**HH_ROWS[0], "prompt": "greeting"}]
    path = write_jsonl(tmp_path / "transcripts.jsonl", rows)
    assert run_import(path, "auto")["format"] == "trl-pairwise"
    assert Judgment.objects.get(project__slug="auto").placements.get(rank=1).response.text == HH_ROWS[0]["chosen"]

    assert run_import(path, "forced", "--format", "hh-rlhf")["format"] == "hh-rlhf"
    forced = Judgment.objects.get(project__slug="forced")
    assert forced.comparison.prompt.messages == [user("Hi"), assistant("Hello!"), user("How are you?")]
    assert ranking(forced) == [(1, "Good, thanks."), (2, "Go away.")]


# --- a changed label on re-import ---------------------------------------------------------------------------------


def _trl_changed(d: Path) -> tuple[Path, Path, str]:
    rows = trl_rows("cl", 3)
    changed = [
        rows[0],
        {**rows[1], "chosen": rows[1]["rejected"], "rejected": rows[1]["chosen"]},
        rows[2],
        *trl_rows("new", 1),
    ]
    return (
        write_jsonl(d / "v1.jsonl", rows),
        write_jsonl(d / "v2.jsonl", changed),
        "row 2, judgment: judge 'cl:imported'",
    )


def _pandalm_changed(d: Path) -> tuple[Path, Path, str]:
    rows = pandalm_rows([1, 2, 3])
    changed = [*rows[:2], {**rows[2], "annotator2": 0}, *pandalm_rows([4])]
    return (
        write_json(d / "v1.json", rows),
        write_json(d / "v2.json", changed),
        "row 3, judgment: judge 'pandalm:annotator2'",
    )


def _listwise_changed(d: Path) -> tuple[Path, Path, str]:
    rows = [{"prompt": f"L{i}", "responses": ["a", "b", "c"], "ranks": [1, 2, 3]} for i in range(3)]
    changed = [
        rows[0],
        {**rows[1], "ranks": [1, 1, 3]},
        rows[2],
        {"prompt": "L9", "responses": ["a", "b"], "ranks": [2, 1]},
    ]
    return (
        write_jsonl(d / "v1.jsonl", rows),
        write_jsonl(d / "v2.jsonl", changed),
        "row 2, judgment: judge 'cl:imported'",
    )


@pytest.mark.parametrize(
    "build", [_trl_changed, _pandalm_changed, _listwise_changed], ids=["trl", "pandalm", "listwise"]
)
def test_reimport_with_a_changed_label_is_a_conflict_and_writes_nothing(build, tmp_path: Path) -> None:
    original, changed, where = build(tmp_path)
    run_import(original, "cl")
    before = table_counts()
    placements = sorted(Placement.objects.values_list("judgment_id", "response_id", "rank"))
    with pytest.raises(CommandError) as failure:
        run_import(changed, "cl")
    assert str(failure.value).splitlines() == [
        f"1 error(s) in {changed.name}; nothing was written.",
        f"  {where} already has a different active judgment of these responses in this project; exclude it first to "
        "replace it",
    ]
    # The new row after the conflicting one was not written either: the whole import rolled back.
    assert table_counts() == before
    assert sorted(Placement.objects.values_list("judgment_id", "response_id", "rank")) == placements


def test_import_never_reuses_ids_of_deleted_rows(tmp_path) -> None:
    """AUTOINCREMENT tables must not hand out an id a deleted row had (PostgreSQL sequences never do)."""
    from django.db import connection

    from annotation.models import Judgment, Project
    from annotation.services.imports import import_file

    project = Project.objects.create(slug="ids", name="ids")
    first = tmp_path / "first.jsonl"
    first.write_text(
        '{"prompt": "p1", "chosen": "a", "rejected": "b"}\n{"prompt": "p2", "chosen": "a", "rejected": "b"}\n'
    )
    import_file(project=project, path=first)
    deleted_max = Judgment.objects.order_by("-id").values_list("id", flat=True).first()
    Judgment.objects.filter(id=deleted_max).delete()
    second = tmp_path / "second.jsonl"
    second.write_text('{"prompt": "p3", "chosen": "a", "rejected": "b"}\n')
    import_file(project=project, path=second)
    newest = Judgment.objects.order_by("-id").values_list("id", flat=True).first()
    assert newest > deleted_max, (connection.vendor, newest, deleted_max)


def test_imported_timestamps_are_stored_as_the_orm_stores_them(tmp_path) -> None:
    from django.db import connection
    from django.utils import timezone

    from annotation.models import Judgment, Project
    from annotation.services.imports import import_file

    project = Project.objects.create(slug="stamps", name="stamps")
    path = tmp_path / "one.jsonl"
    path.write_text('{"prompt": "p1", "chosen": "a", "rejected": "b"}\n')
    before = timezone.now()
    import_file(project=project, path=path)
    orm = Judgment.objects.create(
        project=project,
        comparison=Judgment.objects.get().comparison,
        judge=Judgment.objects.get().judge,
        source="api",
        status="excluded",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(created_at AS TEXT) FROM annotation_judgment ORDER BY id")
        imported_raw, orm_raw = [row[0] for row in cursor.fetchall()]
    # Same spelling as the ORM's (SQLite keeps text, so a different one would break comparisons at the edges).
    assert ("+" in imported_raw) == ("+" in orm_raw), (imported_raw, orm_raw)
    assert Judgment.objects.filter(created_at__gte=before, created_at__lte=orm.created_at).count() == 2
