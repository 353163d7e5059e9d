"""Bad input is refused whole: the report names row, field and reason, the command exits non-zero, nothing is written.

The corpus lives in `bad_input.py`; every file is generated into tmp_path. The project already holds good data
(TRL pairs and a PandaLM test set), so "nothing written" is checked against non-empty tables and the checks that
look at the database run.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from annotation.models import Comparison, ComparisonResponse, Judge, Judgment, Placement, Prompt, Response
from tests.annotation import bad_input
from tests.annotation.bad_input import CASES, CASES_BY_NAME, SLUG, BadCase

REPO = Path(__file__).resolve().parents[2]
TABLES = (Prompt, Response, Comparison, ComparisonResponse, Judgment, Placement, Judge)


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def seed_project(directory: Path) -> dict[str, int]:
    """Good data the bad files must not disturb: 3 TRL pairs and PandaLM idx 1-3 (the verdict cases refer to them)."""
    directory.mkdir()
    trl = bad_input.write_jsonl(directory / "seed.jsonl", bad_input.trl_rows("seed", 3))
    pandalm = bad_input.write_json(directory / "seed-pandalm.json", bad_input.pandalm_rows([1, 2, 3]))
    call_command("import_data", str(trl), "--project", SLUG, "--create-project", stdout=io.StringIO())
    call_command("import_data", str(pandalm), "--project", SLUG, stdout=io.StringIO())
    counts = table_counts()
    assert counts == {
        "Prompt": 6,
        "Response": 12,
        "Comparison": 6,
        "ComparisonResponse": 12,
        "Judgment": 12,
        "Placement": 24,
        "Judge": 4,
    }
    return counts


def assert_report(message: str, case: BadCase, path: Path) -> None:
    lines = message.splitlines()
    assert lines[0] == f"{case.errors} error(s) in {path.name}; nothing was written."
    assert lines[1:] == [f"  {line}" for line in case.expected]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_file_is_refused_with_row_field_and_reason(case: BadCase, tmp_path: Path) -> None:
    before = seed_project(tmp_path / "seed")
    path = case.build(tmp_path)
    with pytest.raises(CommandError) as failure:
        call_command("import_data", str(path), "--project", SLUG, *case.args, stdout=io.StringIO())
    assert_report(str(failure.value), case, path)
    assert table_counts() == before


@pytest.mark.django_db
def test_report_lists_every_error(tmp_path: Path) -> None:
    path = bad_input.many_bad_rows(tmp_path, 250)
    stdout = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_data", str(path), "--project", SLUG, "--create-project", "--json", stdout=stdout)
    lines = str(failure.value).splitlines()
    assert lines[0] == "250 error(s) in many.jsonl; nothing was written."
    assert lines[1:] == [f"  row {n}, chosen: must be a string or a list of messages, got int" for n in range(1, 251)]
    report = json.loads(stdout.getvalue())
    assert (report["ok"], report["error_count"], len(report["errors"]), report["rows"]) == (False, 250, 250, 250)
    assert report["errors"][-1] == {
        "row": 250,
        "field": "chosen",
        "message": "must be a string or a list of messages, got int",
    }
    assert set(table_counts().values()) == {0}


@pytest.mark.django_db
def test_undetectable_csv_names_the_closest_format_and_what_it_lacks(tmp_path: Path) -> None:
    path = CASES_BY_NAME["csv_missing_column"].build(tmp_path)
    with pytest.raises(CommandError) as failure:
        call_command("import_data", str(path), "--project", SLUG, "--create-project")
    assert str(failure.value) == (
        "cannot tell the format of missing.csv from its columns (chosen, prompt); closest is trl-pairwise, which also "
        "needs rejected; pass a format, one of: pandalm, pandalm-verdicts, mtbench-votes, mtbench-gpt4, oasst-trees, "
        "verdicts, listwise, trl-pairwise, hh-rlhf"
    )
    assert set(table_counts().values()) == {0}


# --- the real command line: exit status and stderr ----------------------------------------------------------------


def run_import(path: Path, *args: str) -> tuple[int, str, str, int]:
    """`manage.py import_data` in a child process on the test database: (exit status, stdout, stderr, peak RSS KiB)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WORKBENCH_TEST_USE_DB_NAME": str(connection.settings_dict["NAME"]),
    }
    with open(path.parent / "stdout.txt", "w+") as out, open(path.parent / "stderr.txt", "w+") as err:
        child = subprocess.Popen(
            [sys.executable, "manage.py", "import_data", str(path), "--project", SLUG, *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return child.returncode, out.read(), err.read(), usage.ru_maxrss


SUBPROCESS_CASES = [
    "truncated_json_list",
    "latin1_csv_cell",
    "empty_file",
    "csv_missing_column",
    "verdict_for_unknown_idx",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_command_exits_non_zero_and_prints_the_report(name: str, tmp_path: Path) -> None:
    case = CASES_BY_NAME[name]
    before = seed_project(tmp_path / "seed")
    path = case.build(tmp_path)
    status, stdout, stderr, _ = run_import(path, *case.args)
    assert status == 1
    assert stdout == ""
    assert stderr.startswith(f"CommandError: {case.errors} error(s) in {path.name}; nothing was written.\n")
    assert [f"  {line}" for line in case.expected] == stderr.splitlines()[1:]
    assert table_counts() == before


@pytest.mark.django_db(transaction=True)
def test_a_50_mib_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    """The reader never holds more than the 16 MiB row cap of the 50 MiB line, and resumes at the next line."""
    before = seed_project(tmp_path / "seed")
    (tmp_path / "small").mkdir()
    status, _, _, baseline_kib = run_import(
        bad_input.write_jsonl(tmp_path / "small" / "ok.jsonl", bad_input.trl_rows("ok", 4))
    )
    assert status == 0
    after_good = table_counts()
    assert after_good["Judgment"] == before["Judgment"] + 4

    path = CASES_BY_NAME["line_of_50_mib"].build(tmp_path)
    assert path.stat().st_size > bad_input.HUGE_LINE_MIB * 2**20
    status, _, stderr, peak_kib = run_import(path)
    assert status == 1
    assert stderr.splitlines() == [
        "CommandError: 2 error(s) in huge.jsonl; nothing was written.",
        "  row 3, -: line is 50.0 MiB, over the 16 MiB row limit",
        "  row 5, chosen: must be a string or a list of messages, got int",
    ]
    # Reading the capped line costs ~33 MiB over a steady state below the baseline's peak; parsing the whole
    # 50 MiB line (bytes, text, the parsed string) would add ~150 MiB.
    assert peak_kib - baseline_kib < 40 * 1024, (peak_kib, baseline_kib)
    assert table_counts() == after_good
