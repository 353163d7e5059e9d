"""Filters (judge kinds and names, excluded judgments, minimum agreement, dates, categories), the folder output with
its card and splits, and `manage.py export_data`'s exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Judge, Judgment, Project
from tests.annotation.exports.conftest import export_data, import_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def small(tmp_path: Path) -> Project:
    """Six prompts judged by annotators a, b, c (c disagrees on p1 and p4), and an LLM judge on p0 and p1."""
    rows = []
    for i in range(6):
        for annotator in ("a", "b", "c"):
            flipped = annotator == "c" and i in (1, 4)
            good, bad = f"good answer {i}", f"bad answer {i}"
            chosen, rejected = (bad, good) if flipped else (good, bad)
            rows.append(
                {
                    "prompt": f"question {i}",
                    "chosen": chosen,
                    "rejected": rejected,
                    "annotator": annotator,
                    "category": "math" if i < 3 else "chat",
                    "prompt_id": f"p{i}",
                }
            )
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    project = import_data(path, "small")
    judge_rows = [
        {"prompt": f"question {i}", "chosen": f"good answer {i}", "rejected": f"bad answer {i}", "prompt_id": f"p{i}"}
        for i in (0, 1)
    ]
    llm_path = tmp_path / "llm.jsonl"
    llm_path.write_text("".join(json.dumps(r) + "\n" for r in judge_rows))
    import_data(llm_path, "small", "--judge", "gpt-judge")
    Judge.objects.filter(name="gpt-judge").update(kind=Judge.Kind.LLM)
    project.source = "Made up for the tests; CC0"
    project.save()
    return project


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_filters(small: Project, tmp_path: Path) -> None:
    def export(*extra: str) -> list[dict]:
        name = f"out{len(list(tmp_path.iterdir()))}.jsonl"
        return rows_of(export_data("small", tmp_path / name, "trl-pairwise", *extra))

    assert len(export()) == 20
    assert {r["judge_kind"] for r in export("--judge-kinds", "llm")} == {"llm"}
    assert {r["judge"] for r in export("--judges", "small:a,gpt-judge")} == {"small:a", "gpt-judge"}
    assert len(export("--judge-kinds", "human", "--judges", "gpt-judge")) == 0  # both must hold
    assert {r["category"] for r in export("--categories", "chat")} == {"chat"}
    assert len(export("--categories", "chat")) == 9

    excluded = Judgment.objects.filter(project=small, judge__name="small:b").first()
    Judgment.objects.filter(pk=excluded.pk).update(status=Judgment.Status.EXCLUDED)
    assert len(export()) == 19
    assert len(export("--include-excluded")) == 20

    # Agreement: p1 is judged by a, b, c (2 of 3 agree) and the LLM (3 of 4 agree: 0.75); p4 by a, b, c (2/3).
    unanimous = export("--judge-kinds", "human", "--include-excluded", "--min-agreement", "1")
    assert {r["prompt_id"] for r in unanimous} == {"p0", "p2", "p3", "p5"}
    assert {r["prompt_id"] for r in export("--include-excluded", "--min-agreement", "0.7")} == {
        "p0",
        "p1",
        "p2",
        "p3",
        "p5",
    }

    Judgment.objects.filter(project=small, judge__name="small:a").update(
        created_at=datetime(2025, 3, 31, 23, tzinfo=UTC)
    )
    Judgment.objects.filter(project=small).exclude(judge__name="small:a").update(
        created_at=datetime(2025, 4, 2, tzinfo=UTC)
    )
    assert {r["judge"] for r in export("--date-to", "2025-03-31")} == {"small:a"}
    assert "small:a" not in {r["judge"] for r in export("--date-from", "2025-04-01")}
    assert len(export("--date-from", "2025-04-01", "--date-to", "2025-04-02T12:00:00Z")) == 13


def test_folder_gets_split_files_and_a_card_that_datasets_reads(small: Project, tmp_path: Path, load_dataset) -> None:  # noqa: ANN001
    folder = export_data("small", tmp_path / "ds", "trl-pairwise", "--test-fraction", "0.5", "--seed", "3")
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["README.md", "test.jsonl", "train.jsonl"]
    card = (folder / "README.md").read_text()
    assert card.startswith('---\nlicense: "cc0-1.0"\n')
    for fragment in (
        "split: train",
        'path: "train.jsonl"',
        "Made up for the tests; CC0",
        "| small:a | human |",
        "## Agreement",
        "--test-fraction 0.5 --seed 3",
    ):
        assert fragment in card
    dataset = load_dataset(folder)
    assert set(dataset) == {"train", "test"}
    train, test = set(dataset["train"]["prompt_id"]), set(dataset["test"]["prompt_id"])
    assert train and test and not train & test
    # The same seed gives the same split; the split of a prompt does not depend on the other prompts.
    again = export_data(
        "small", tmp_path / "again", "trl-pairwise", "--test-fraction", "0.5", "--seed", "3", "--judges", "small:a"
    )
    assert {r["prompt_id"] for r in rows_of(again / "test.jsonl")} <= test
    # One file with a test fraction carries a split column instead.
    single = rows_of(
        export_data("small", tmp_path / "one.jsonl", "trl-pairwise", "--test-fraction", "0.5", "--seed", "3")
    )
    assert {r["prompt_id"] for r in single if r["split"] == "test"} == test


@pytest.mark.parametrize("file_type", ["parquet", "csv"])
def test_other_file_types_load(small: Project, tmp_path: Path, load_dataset, file_type: str) -> None:  # noqa: ANN001
    dataset = load_dataset(export_data("small", tmp_path / f"out.{file_type}", "trl-pairwise", "--ties", "keep"))
    assert len(dataset) == 20 and dataset.column_names[:3] == ["prompt", "chosen", "rejected"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--format", "raw", "--out", "x.jsonl"], "no project 'nope'"),
        (["--format", "trl-pairwise", "--ties", "sometimes"], "options.ties: must be one of drop, keep"),
        (["--format", "listwise", "--ties", "keep"], "does not apply to the listwise format"),
        (["--format", "trl-pairwise", "--min-agreement", "2"], "filters.min_agreement: must be in [0, 1]"),
        (["--format", "trl-pairwise", "--date-from", "yesterday"], "filters.date_from: must be an ISO date"),
        (["--format", "trl-pairwise", "--judges", "ghost"], "no judge named 'ghost'"),
        (["--format", "trl-pairwise", "--judge-kinds", "robot"], "filters.judge_kinds[0]: must be one of"),
        (["--format", "raw", "--file-type", "csv", "--out", "{tmp}/x.jsonl"], "contradicts the extension"),
    ],
)
def test_bad_options_fail_with_a_clear_message(small: Project, tmp_path: Path, args: list[str], message: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--project" not in argv:
        argv = ["--project", "small", *argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out.jsonl")]
    with pytest.raises(CommandError) as caught:
        call_command("export_data", *argv)
    assert message in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob("*.partial"))


def test_existing_output_is_not_overwritten_unless_asked(small: Project, tmp_path: Path) -> None:
    out = tmp_path / "exists.jsonl"
    out.write_text("keep me")
    with pytest.raises(CommandError, match="exists; pass --overwrite"):
        call_command("export_data", "--project", "small", "--format", "raw", "--out", str(out))
    assert out.read_text() == "keep me"
    call_command("export_data", "--project", "small", "--format", "raw", "--out", str(out), "--overwrite")
    assert len(rows_of(out)) == 20


def test_command_exit_codes(tmp_path: Path) -> None:
    """A refusal exits 1 with the message on stderr; a usage error exits 2 (argparse)."""
    from django.db import connection

    repo = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WORKBENCH_TEST_USE_DB_NAME": str(connection.settings_dict["NAME"]),
    }
    base = [sys.executable, "manage.py", "export_data", "--out", str(tmp_path / "x.jsonl")]
    refused = subprocess.run(
        [*base, "--project", "ghost", "--format", "raw"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1, refused.stderr
    assert "no project 'ghost'" in refused.stderr
    usage = subprocess.run(
        [*base, "--project", "ghost", "--format", "csv"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert usage.returncode == 2 and "invalid choice: 'csv'" in usage.stderr
