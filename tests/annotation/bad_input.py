"""A corpus of bad import files, each written into a test's tmp_path, with the exact report lines it must produce.

Every case is an otherwise good file with one defect, usually in its LAST row, so a test can check that the
validating pass refuses the file before the writing pass has stored the good rows in front of it. `expected`
holds whole lines of the error report ("row N, field: reason"; "-" where no field applies, "file" where no row
does); `errors` is the exact error count the report's first line must give.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SLUG = "bad"
HUGE_LINE_MIB = 50

Row = dict[str, Any]


# --- good rows ----------------------------------------------------------------------------------------------------


def trl_rows(tag: str, n: int) -> list[Row]:
    return [
        {"prompt": f"{tag} question {i}", "chosen": f"{tag} good answer {i}", "rejected": f"{tag} bad answer {i}"}
        for i in range(1, n + 1)
    ]


def pandalm_rows(idxs: list[int]) -> list[Row]:
    return [
        {
            "idx": idx,
            "motivation_app": "testing",
            "cmp_key": "llama-7b_bloom-7b",
            "instruction": f"Task number {idx}",
            "input": "",
            "response1": f"first answer to {idx}",
            "response2": f"second answer to {idx}",
            "annotator1": 1,
            "annotator2": 2,
            "annotator3": 0,
        }
        for idx in idxs
    ]


def listwise_row(tag: str, ranks: list[Any]) -> Row:
    return {"prompt": f"{tag}: rank these", "responses": [f"{tag} one", f"{tag} two", f"{tag} three"], "ranks": ranks}


def mtbench_conversations() -> list[Row]:
    return [
        {
            "question_id": 7,
            "model": model,
            "conversation": [
                {"role": "user", "content": "Write a haiku."},
                {"role": "assistant", "content": f"{model} haiku"},
                {"role": "user", "content": "Now a limerick."},
                {"role": "assistant", "content": f"{model} limerick"},
            ],
        }
        for model in ("alpha", "beta")
    ]


def mtbench_votes(winners: list[str]) -> list[Row]:
    return [
        {
            "question_id": 7,
            "category": "writing",
            "model_a": "alpha",
            "model_b": "beta",
            "turn": 1 + i % 2,
            "judge": f"expert_{i}",
            "winner": winner,
        }
        for i, winner in enumerate(winners)
    ]


# --- writers ------------------------------------------------------------------------------------------------------


def jsonl_bytes(rows: list[Row]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def write_jsonl(path: Path, rows: list[Row], tail: bytes = b"") -> Path:
    path.write_bytes(jsonl_bytes(rows) + tail)
    return path


def write_json(path: Path, rows: list[Row]) -> Path:
    path.write_text(json.dumps(rows))
    return path


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_parquet(path: Path, rows: list[Row]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def gzip_file(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    target.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return target


# --- the cases ----------------------------------------------------------------------------------------------------


# The project is pairwise: list files go in as their pairs, so only the bad row is reported (test_import_shape.py
# has the refusal of lists without it).
LISTS_AS_PAIRS = ("--as-pairs",)


@dataclass(frozen=True)
class BadCase:
    name: str
    build: Callable[[Path], Path]
    expected: tuple[str, ...]
    errors: int = 1
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


def _truncated_json_list(d: Path) -> Path:
    text = json.dumps(trl_rows("tj", 4))
    cut = text.rindex('{"prompt": "tj question 4"') + 30  # inside the fourth record's "chosen" key
    (d / "truncated.json").write_text(text[:cut])
    return d / "truncated.json"


def _truncated_jsonl_line(d: Path) -> Path:
    rows = trl_rows("tl", 5)
    return write_jsonl(
        d / "cut.jsonl", rows[:4], tail=json.dumps(rows[4]).encode()[:30]
    )  # '{"prompt": "tl question 5", "c'


def _with_last(rows: list[Row], **changes: Any) -> list[Row]:
    last = {**rows[-1], **changes}
    for key in [k for k, v in changes.items() if v is _DROP]:
        del last[key]
    return [*rows[:-1], last]


_DROP = object()


def _latin1_jsonl(d: Path) -> Path:
    rows = trl_rows("l1", 5)
    bad = json.dumps({**rows[4], "chosen": "café au lait"}, ensure_ascii=False).encode("latin-1")
    return write_jsonl(d / "latin1.jsonl", rows[:4], tail=bad + b"\n")


def _latin1_csv(d: Path) -> Path:
    rows = [[r["prompt"], r["chosen"], r["rejected"]] for r in trl_rows("lc", 4)]
    good = csv_text(["prompt", "chosen", "rejected"], rows).encode()
    (d / "latin1.csv").write_bytes(good + "lc question 5,café au lait,lc bad answer 5\n".encode("latin-1"))
    return d / "latin1.csv"


def _latin1_json_list(d: Path) -> Path:
    rows = trl_rows("lj", 5)
    rows[4]["chosen"] = "café au lait"
    (d / "latin1.json").write_bytes(json.dumps(rows, ensure_ascii=False).encode("latin-1"))
    return d / "latin1.json"


def _huge_jsonl_line(d: Path) -> Path:
    """Row 3 is a 50 MiB line, written a MiB at a time; reading resumes at row 4, and row 5's error is found."""
    rows = _with_last(trl_rows("hl", 5), chosen=5)
    path = d / "huge.jsonl"
    with open(path, "wb") as out:
        out.write(jsonl_bytes(rows[:2]))
        out.write(b'{"prompt": "hl question 3", "rejected": "no", "chosen": "')
        chunk = b"a" * 2**20
        for _ in range(HUGE_LINE_MIB):
            out.write(chunk)
        out.write(b'"}\n')
        out.write(jsonl_bytes(rows[3:]))
    return path


def _listwise(name: str, bad_ranks: list[Any]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        return write_jsonl(
            d / f"{name}.jsonl", [listwise_row(f"{name} a", [1, 2, 3]), listwise_row(f"{name} b", bad_ranks)]
        )

    return build


def _ratings_with_criteria(d: Path) -> Path:
    good = listwise_row("rc a", [1, 2, 3])
    bad = {k: v for k, v in listwise_row("rc b", [1, 2, 3]).items() if k != "ranks"}
    bad.update(ratings={"gpt4": [3, 2, 1], "human": [1, 2, 3]}, criteria={"helpfulness": [5, 4, 3]})
    return write_jsonl(d / "ratings_criteria.jsonl", [good, bad])


def _listwise_parquet_nan(d: Path) -> Path:
    return write_parquet(
        d / "nan.parquet",
        [listwise_row("pq a", [1.0, 2.0, 3.0]), listwise_row("pq b", [1.0, float("nan"), 2.0])],
    )


def _mtbench(winners: list[str], with_conversations: bool = True) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        if with_conversations:
            write_jsonl(d / "conversations.jsonl", mtbench_conversations())
        return write_jsonl(d / "votes.jsonl", mtbench_votes(winners))

    return build


def _ultrafeedback(last_completion: Row) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        good = {"model": "m1", "response": "Paris.", "overall_score": 8.5}
        rows = [
            {
                "instruction": "Capital of France?",
                "completions": [good, {"model": "m2", "response": "Lyon.", "overall_score": 3}],
            },
            {"instruction": "Capital of Spain?", "completions": [{**good, "response": "Madrid."}, last_completion]},
        ]
        return write_jsonl(d / "uf.jsonl", rows)

    return build


def _csv(name: str, header: list[str], rows: list[list[Any]], extra: str = "") -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).write_text(csv_text(header, rows) + extra)
        return d / name

    return build


_TRL_CSV_ROWS = [[r["prompt"], r["chosen"], r["rejected"], "0.5"] for r in trl_rows("mc", 4)]

CASES: list[BadCase] = [
    # truncated JSON
    BadCase(
        "truncated_json_list",
        _truncated_json_list,
        ("row 4, -: the file ends before the JSON list does (truncated after 3 complete records)",),
    ),
    BadCase(
        "truncated_jsonl_line",
        _truncated_jsonl_line,
        ("row 5, -: invalid JSON: Unterminated string starting at column 29",),
    ),
    # wrong types
    BadCase(
        "chosen_is_a_number",
        lambda d: write_jsonl(d / "num.jsonl", _with_last(trl_rows("cn", 5), chosen=42)),
        ("row 5, chosen: must be a string or a list of messages, got int",),
    ),
    BadCase(
        "chosen_is_an_object",
        lambda d: write_json(d / "obj.json", _with_last(trl_rows("co", 5), chosen={"text": "x"})),
        ("row 5, chosen: must be a string or a list of messages, got dict",),
    ),
    BadCase(
        "chosen_has_an_unknown_role",
        lambda d: write_jsonl(
            d / "role.jsonl", _with_last(trl_rows("cr", 3), chosen=[{"role": "robot", "content": "x"}])
        ),
        ("row 3, chosen: message 0: unknown role 'robot'; expected one of system, user, assistant",),
    ),
    BadCase(
        "annotator_label_7",
        lambda d: write_json(d / "label.json", _with_last(pandalm_rows([21, 22, 23]), annotator2=7)),
        ("row 3, annotator2: must be one of [0, 1, 2], got 7",),
    ),
    BadCase(
        "margin_abc",
        _csv("margin.csv", ["prompt", "chosen", "rejected", "margin"], [*_TRL_CSV_ROWS, ["mc q5", "yes", "no", "abc"]]),
        ("row 6, margin: must be a number, got 'abc'",),
    ),
    BadCase(
        "nan_in_jsonl",
        lambda d: write_jsonl(
            d / "nan.jsonl", trl_rows("nj", 2), tail=b'{"prompt": "p", "chosen": "a", "rejected": "b", "margin": NaN}\n'
        ),
        ("row 3, -: invalid JSON: NaN is not a JSON value (write null for a missing value)",),
    ),
    BadCase(
        "ultrafeedback_overall_score_abc",
        _ultrafeedback({"model": "m2", "response": "Barcelona.", "overall_score": "abc"}),
        ("row 2, completions[1].overall_score: must be a number, got 'abc'",),
    ),
    # missing fields
    BadCase(
        "missing_rejected",
        lambda d: write_jsonl(d / "missing.jsonl", _with_last(trl_rows("mr", 5), rejected=_DROP)),
        ("row 5, rejected: missing",),
    ),
    BadCase(
        "chosen_is_null",
        lambda d: write_jsonl(d / "null.jsonl", _with_last(trl_rows("nu", 5), chosen=None)),
        ("row 5, chosen: is null",),
    ),
    BadCase(
        "ultrafeedback_unrankable_completion",
        _ultrafeedback({"model": "m2", "response": "Barcelona."}),
        ("row 2, completions[1]: has no overall_score and no numeric rating to rank it by",),
    ),
    BadCase(
        "mtbench_without_conversations",
        _mtbench(["model_a", "tie"], with_conversations=False),
        tuple(
            f"row {n}, question_id: MT-Bench votes need the conversations file: pass --conversations PATH or put "
            "conversations.jsonl.gz beside the votes file"
            for n in (1, 2)
        ),
        errors=2,
    ),
    # wrong values
    BadCase(
        "mtbench_winner_model_c",
        _mtbench(["model_a", "tie", "model_c"]),
        ("row 3, winner: must be model_a, model_b or tie, got 'model_c'",),
    ),
    BadCase(
        "rejected_identical_to_chosen",
        lambda d: write_jsonl(d / "same.jsonl", _with_last(trl_rows("id", 4), rejected="id good answer 4")),
        ("row 4, rejected: is identical to chosen: a comparison needs two different responses",),
    ),
    # unknown ids
    BadCase(
        "verdict_for_unknown_idx",
        lambda d: write_json(
            d / "verdicts.json",
            [{"idx": 1, "gpt_result": "1"}, {"idx": 2, "gpt_result": "Tie"}, {"idx": 77, "gpt_result": "2"}],
        ),
        ("row 3, idx: unknown id '77': import the data it refers to first",),
    ),
    # duplicate ids
    BadCase(
        "pandalm_idx_repeated_with_other_content",
        lambda d: write_json(
            d / "dup.json", [*pandalm_rows([11, 12, 13]), {**pandalm_rows([12])[0], "instruction": "Other"}]
        ),
        ("row 4, idx: duplicate id '12' with different content than row 2",),
    ),
    BadCase(
        "pandalm_idx_clashes_with_the_project",
        lambda d: write_json(
            d / "clash.json", [*pandalm_rows([31, 32]), {**pandalm_rows([2])[0], "instruction": "Other"}]
        ),
        ("row 3, idx: prompt '2' exists in the project with other messages",),
    ),
    # A row repeated exactly is legal data (imported once, counted): tests/annotation/test_import_verdicts.py.
    # empty files
    BadCase("empty_file", lambda d: write_jsonl(d / "empty.jsonl", []), ("file, -: the file is empty",)),
    BadCase(
        "empty_file_with_format",
        lambda d: write_jsonl(d / "empty.jsonl", []),
        ("file, -: the file is empty",),
        args=("--format", "trl-pairwise"),
    ),
    BadCase("empty_json_list", lambda d: write_json(d / "empty.json", []), ("file, -: the file holds no rows",)),
    BadCase(
        "empty_json_list_with_format",
        lambda d: write_json(d / "empty.json", []),
        ("file, -: the file holds no rows",),
        args=("--format", "trl-pairwise"),
    ),
    BadCase(
        "csv_header_only",
        _csv("header.csv", ["prompt", "chosen", "rejected"], []),
        ("file, -: the file holds no rows",),
    ),
    # not UTF-8
    BadCase("latin1_jsonl_line", _latin1_jsonl, ("row 5, -: not valid UTF-8 (byte 0xe9 at column 43)",)),
    BadCase("latin1_csv_cell", _latin1_csv, ("row 6, chosen: not valid UTF-8 (byte 0xe9 at character 4 of the cell)",)),
    BadCase("latin1_json_list", _latin1_json_list, ("row 5, -: not valid UTF-8 (in record 5)",)),
    BadCase(
        "lone_surrogate_escape",
        lambda d: write_jsonl(
            d / "surrogate.jsonl", trl_rows("ls", 2), tail=b'{"prompt": "p", "chosen": "a\\ud800", "rejected": "b"}\n'
        ),
        ("row 3, -: holds a \\uXXXX escape of half a surrogate pair, which is not text",),
    ),
    # over-long row
    BadCase(
        "line_of_50_mib",
        _huge_jsonl_line,
        (
            "row 3, -: line is 50.0 MiB, over the 16 MiB row limit",
            "row 5, chosen: must be a string or a list of messages, got int",
        ),
        errors=2,
    ),
    # listwise ranks that are not a ranking
    BadCase(
        "ranks_with_a_gap",
        _listwise("gap", [1, 3, 4]),
        ("row 2, ranks: [1, 3, 4] is not a permutation of 1..3 (equal ranks mark ties)",),
        args=LISTS_AS_PAIRS,
    ),
    BadCase(
        "ranks_from_2",
        _listwise("from2", [2, 3, 4]),
        ("row 2, ranks: [2, 3, 4] is not a ranking: the best rank must be 0 or 1",),
        args=LISTS_AS_PAIRS,
    ),
    BadCase(
        "ranks_too_few", _listwise("few", [1, 2]), ("row 2, ranks: has 2 ranks for 3 responses",), args=LISTS_AS_PAIRS
    ),
    BadCase(
        "ranks_not_integers",
        _listwise("str", [1, "2", 3]),
        ("row 2, ranks: rank '2' is not an integer",),
        args=LISTS_AS_PAIRS,
    ),
    BadCase(
        "ranks_nan_in_parquet",
        _listwise_parquet_nan,
        ("row 2, ranks: rank nan is not an integer",),
        args=LISTS_AS_PAIRS,
    ),
    BadCase(
        "criteria_with_several_rating_sources",
        _ratings_with_criteria,
        ("row 2, criteria: cannot be combined with ratings from several sources; give ranks or scores",),
        args=LISTS_AS_PAIRS,
    ),
    # CSV structure
    BadCase(
        "csv_missing_column",
        _csv("missing.csv", ["prompt", "chosen"], [["q", "a"], ["q2", "b"]]),
        ("row 1, rejected: missing column in the CSV header",),
        args=("--format", "trl-pairwise"),
    ),
    # A quoted cell spanning lines: the row number is the line the record starts on (line 4, not 5).
    BadCase(
        "csv_multiline_cells",
        _csv(
            "multiline.csv",
            ["prompt", "chosen", "rejected", "margin"],
            [["first\nquestion", "yes", "no", "1"], ["second\nquestion", "yes", "no", "abc"]],
        ),
        ("row 4, margin: must be a number, got 'abc'",),
    ),
    BadCase(
        "csv_row_with_an_extra_value",
        _csv("extra.csv", ["prompt", "chosen", "rejected"], [["q", "a", "b"], ["q2", "c", "d", "e"]]),
        ("row 3, -: has 4 values but the header has 3 columns",),
    ),
    # a format that does not fit the file: every row says which column it lacks
    BadCase(
        "wrong_explicit_format",
        lambda d: write_jsonl(d / "trl.jsonl", trl_rows("wf", 3)),
        tuple(f"row {n}, idx: missing" for n in (1, 2, 3)),
        errors=3,
        args=("--format", "pandalm"),
    ),
]

CASES_BY_NAME = {case.name: case for case in CASES}


def many_bad_rows(d: Path, n: int) -> Path:
    """n rows, every one with a numeric `chosen`."""
    return write_jsonl(d / "many.jsonl", [{**row, "chosen": 1} for row in trl_rows("many", n)])
