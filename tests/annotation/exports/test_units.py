"""The Django-free parts of the export: induced pairs, agreement, consensus, the split, option validation, the card's
licence, conversation splitting, and the three writers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.optimize import minimize

from annotation.analysis.agreement import comparison_agreement
from annotation.analysis.consensus import bradley_terry, consensus_verdicts, count_votes, majority
from annotation.analysis.pairs import induced_pairs, judgment_margin, pair_margin
from annotation.analysis.split import split_of
from annotation.exports.card import detect_licence
from annotation.exports.options import export_spec_validate, file_type_for
from annotation.exports.rows import continuation_as_text, prompt_as_text, shared_prompt, transcript_prompt
from annotation.exports.schema import MESSAGES, Column
from annotation.exports.source import Response
from annotation.exports.writers import open_writer
from workbench.exceptions import ApplicationError

# A listwise ordering: 11 best, 12 and 13 tied second, 14 last.
LIST = [(11, 1, 0.9), (12, 2, 0.5), (13, 2, 0.5), (14, 3, 0.1)]


def test_induced_pairs_for_each_expansion() -> None:
    assert induced_pairs([(1, 1, None), (2, 2, None)]) == [(1, 2, False)]
    assert induced_pairs([(2, 1, None), (1, 2, None)]) == [(2, 1, False)]
    assert induced_pairs([(1, 1, None), (2, 1, None)]) == [(1, 2, True)]
    assert induced_pairs(LIST, "all") == [
        (11, 12, False),
        (11, 13, False),
        (11, 14, False),
        (12, 13, True),
        (12, 14, False),
        (13, 14, False),
    ]
    assert induced_pairs(LIST, "best_vs_rest") == [(11, 12, False), (11, 13, False), (11, 14, False)]
    assert induced_pairs(LIST, "adjacent") == [
        (11, 12, False),
        (11, 13, False),
        (12, 13, True),
        (12, 14, False),
        (13, 14, False),
    ]
    tied_best = [(1, 1, None), (2, 1, None), (3, 2, None)]
    assert induced_pairs(tied_best, "best_vs_rest") == [(1, 2, True), (1, 3, False), (2, 3, False)]


def test_margins() -> None:
    assert judgment_margin(2.5, None) == 2.5
    assert judgment_margin(None, 0) == 1.0  # the weakest step of a strength scale
    assert judgment_margin(None, None) == 0.0
    ranks = {p[0]: p[1] for p in LIST}
    scores = {p[0]: p[2] for p in LIST}
    assert pair_margin("rank_gap", (11, 14, False), ranks, scores, None, None) == 2.0
    assert pair_margin("score_gap", (11, 14, False), ranks, scores, None, None) == pytest.approx(0.8)
    assert pair_margin("strength", (11, 14, False), ranks, scores, 3.0, None) == 3.0
    assert pair_margin("strength", (12, 13, True), ranks, scores, 3.0, None) == 0.0


def test_agreement_is_the_majority_share_averaged_over_pairs() -> None:
    a_wins, b_wins, tie = {1: 1, 2: 2}, {1: 2, 2: 1}, {1: 1, 2: 1}
    assert comparison_agreement([a_wins]) is None
    assert comparison_agreement([a_wins, a_wins, a_wins]) == 1.0
    assert comparison_agreement([a_wins, a_wins, b_wins]) == pytest.approx(2 / 3)
    assert comparison_agreement([a_wins, b_wins, tie]) == pytest.approx(1 / 3)
    # Three responses, two judges who agree on two of the three pairs.
    x, y = {1: 1, 2: 2, 3: 3}, {1: 1, 2: 3, 3: 2}
    assert comparison_agreement([x, y]) == pytest.approx((1 + 1 + 0.5) / 3)


def test_majority_vote() -> None:
    assert majority(1, 2, [2, 1, 0]) == majority(1, 2, [2, 1, 0])
    verdict = majority(1, 2, [2, 1, 0])
    assert (verdict.better, verdict.worse, verdict.tie, verdict.margin) == (1, 2, False, pytest.approx(1 / 3))
    verdict = majority(1, 2, [0, 3, 1])
    assert (verdict.better, verdict.worse, verdict.votes_better, verdict.votes_worse) == (2, 1, 3, 0)
    assert majority(1, 2, [1, 1, 0]).tie  # a draw between the sides
    assert majority(1, 2, [1, 0, 2]).tie  # more judges said tie than preferred a
    assert majority(1, 2, [1, 0, 1]).tie  # ties as many as the leading side
    assert not majority(1, 2, [2, 0, 1]).tie


def _bt_mle(wins: np.ndarray, prior: float) -> np.ndarray:
    """The same model fitted by scipy: maximise sum w_ij log sigmoid(t_i - t_j) over augmented counts."""
    compared = (wins + wins.T) > 0
    w = wins + prior * compared

    def nll(theta: np.ndarray) -> float:
        gap = theta[:, None] - theta[None, :]
        return float(-(w * -np.logaddexp(0, -gap)).sum())

    theta = minimize(nll, np.zeros(len(wins)), method="BFGS", options={"gtol": 1e-10}).x
    return theta - theta.mean()


def test_bradley_terry_matches_a_direct_maximum_likelihood_fit() -> None:
    # Three responses: A beats B 3-1, B beats C 2-0, A and C tie twice (half a win each way).
    wins = np.array([[0, 3, 1], [1, 0, 2], [1, 0, 0]], dtype=float)
    theta = bradley_terry(3, wins)
    assert np.allclose(theta, _bt_mle(wins, 0.5), atol=1e-5)
    assert theta[0] > theta[1] > theta[2]
    # Two responses: the log-odds of the smoothed win counts.
    theta2 = bradley_terry(2, np.array([[0.0, 3.0], [0.0, 0.0]]))  # 0 beat 1 three times
    assert theta2[0] - theta2[1] == pytest.approx(np.log((3 + 0.5) / 0.5))


def test_consensus_verdicts_by_prompt() -> None:
    votes: dict[tuple[int, int], list[int]] = {}
    count_votes([(1, 2, False), (1, 2, False), (2, 1, False), (3, 1, False), (1, 3, True)], votes)
    assert votes == {(1, 2): [2, 1, 0], (1, 3): [0, 1, 1]}
    by_majority = {(v.better, v.worse): v for v in consensus_verdicts(votes, "majority")}
    assert by_majority[(1, 2)].tie is False
    assert by_majority[(1, 3)].tie is True  # 1 vote for 3, 1 tie: the tie holds
    by_bt = {(v.better, v.worse): v for v in consensus_verdicts(votes, "bradley_terry")}
    assert set(by_bt) == {(1, 2), (3, 1)}  # BT counts the tie as half a win each way: 3 leads 1 by 1.5 to 0.5
    assert by_bt[(3, 1)].margin > 0 and by_bt[(3, 1)].votes_better == 1 and by_bt[(3, 1)].votes_tie == 1
    even = consensus_verdicts({(1, 2): [1, 1, 0]}, "bradley_terry")
    assert even[0].tie and even[0].margin == 0.0


def test_split_is_deterministic_by_prompt_and_near_the_fraction() -> None:
    ids = [f"prompt-{i}" for i in range(4000)]
    first = [split_of(i, seed=7, test_fraction=0.2) for i in ids]
    assert first == [split_of(i, seed=7, test_fraction=0.2) for i in ids]
    assert 0.17 < first.count("test") / len(ids) < 0.23
    other_seed = [split_of(i, seed=8, test_fraction=0.2) for i in ids]
    assert other_seed != first
    assert all(split_of(i, seed=7, test_fraction=0.0) == "train" for i in ids)
    # A larger fraction only moves prompts from train to test (the buckets are fixed by the seed).
    wider = [split_of(i, seed=7, test_fraction=0.3) for i in ids]
    assert all(w == "test" for f, w in zip(first, wider, strict=True) if f == "test")


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"format": "pairs"}, "format", "must be one of trl-pairwise, listwise, raw"),
        ({"file_type": "xlsx"}, "file_type", "must be one of jsonl, parquet, csv"),
        ({"options": {"ties": "maybe"}}, "options.ties", "must be one of drop, keep"),
        ({"options": {"pairs": "random"}}, "options.pairs", "all, best_vs_rest, adjacent"),
        ({"options": {"consensus": "vote"}}, "options.consensus", "none, majority, bradley_terry"),
        ({"options": {"test_fraction": 1}}, "options.test_fraction", "must be in [0, 1)"),
        ({"options": {"test_fraction": "lots"}}, "options.test_fraction", "must be a number"),
        ({"options": {"seed": 1.5}}, "options.seed", "must be an integer"),
        ({"options": {"conversational": "perhaps"}}, "options.conversational", "must be true or false"),
        ({"options": {"colour": "red"}}, "options.colour", "unknown option"),
        ({"filters": {"min_agreement": 1.5}}, "filters.min_agreement", "must be in [0, 1]"),
        ({"filters": {"judge_kinds": ["robot"]}}, "filters.judge_kinds[0]", "must be one of human"),
        ({"filters": {"date_from": "last week"}}, "filters.date_from", "ISO date"),
        ({"filters": {"date_from": "2025-02-01", "date_to": "2025-01-01"}}, "filters.date_to", "after date_from"),
        ({"filters": {"judges": [""]}}, "filters.judges[0]", "non-empty string"),
        ({"filters": "all"}, "filters", "must be an object"),
        ({"format": "listwise", "options": {"ties": "keep"}}, "options.ties", "does not apply to the listwise"),
        ({"format": "raw", "options": {"conversational": True}}, "options.conversational", "does not apply"),
        ({"options": {"consensus": "majority", "margin": "rank_gap"}}, "options.margin", "consensus rows"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict, field: str, fragment: str) -> None:
    args = {"format": "trl-pairwise", "file_type": "jsonl", "filters": {}, "options": {}, **kwargs}
    with pytest.raises(ApplicationError) as caught:
        export_spec_validate(**args)
    assert caught.value.extra["field"] == field
    assert caught.value.message.startswith(field + ":")
    assert fragment in caught.value.message


def test_good_options_are_normalised_and_recorded_without_defaults() -> None:
    spec = export_spec_validate(
        format="TRL-Pairwise",
        file_type=".parquet",
        filters={"judge_kinds": "human, llm", "date_to": "2025-03-31", "active_only": "true", "categories": []},
        options={"ties": "KEEP", "pairs": "best-vs-rest", "test_fraction": "0.1", "seed": "3", "margin": "strength"},
    )
    assert (spec.format, spec.file_type) == ("trl-pairwise", "parquet")
    assert spec.filters.judge_kinds == ("human", "llm")
    assert spec.filters.date_to.isoformat() == "2025-04-01T00:00:00+00:00"  # the whole of March 31
    assert spec.filters_json() == {"judge_kinds": ["human", "llm"], "date_to": "2025-04-01T00:00:00+00:00"}
    assert spec.options_json() == {"pairs": "best_vs_rest", "ties": "keep", "test_fraction": 0.1, "seed": 3}
    again = export_spec_validate(
        format=spec.format, file_type=spec.file_type, filters=spec.filters_json(), options=spec.options_json()
    )
    assert again == spec
    assert [file_type_for(p) for p in ("a.jsonl", "B.PARQUET", "c.csv", "folder", "x.json")] == [
        "jsonl",
        "parquet",
        "csv",
        None,
        None,
    ]


def test_licence_is_read_from_the_source_only_when_unambiguous() -> None:
    assert detect_licence("Anthropic HH-RLHF, MIT licence, https://github.com/anthropics/hh-rlhf") == "mit"
    assert detect_licence("PandaLM test set (Apache-2.0)") == "apache-2.0"
    assert detect_licence("released under CC BY-SA 4.0") == "cc-by-sa-4.0"
    assert detect_licence("MIT code, CC-BY-4.0 data") is None
    assert detect_licence("ask the authors") is None


def _response(pk: int, text: str, conversation: list | None = None) -> Response:
    return Response(pk, f"r{pk}", text, "", json.dumps(conversation) if conversation else None)


def test_conversations_that_diverge_keep_every_turn_a_judge_saw() -> None:
    user = {"role": "user", "content": "Q1"}
    prompt = [user, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    # MT-Bench turn 2: each model's own first answer, then the shared second question.
    a = _response(
        1, "a2", [user, {"role": "assistant", "content": "a1"}, prompt[2], {"role": "assistant", "content": "a2"}]
    )
    b = _response(
        2, "b2", [user, {"role": "assistant", "content": "b1"}, prompt[2], {"role": "assistant", "content": "b2"}]
    )
    shared, turns_a, turns_b = shared_prompt(prompt, a, b)
    assert shared == [user]
    assert shared + turns_a == a.conversation and shared + turns_b == b.conversation
    # Plain responses continue the stored prompt.
    plain = shared_prompt(prompt, _response(3, "x"), _response(4, "y"))
    assert plain == (prompt, [{"role": "assistant", "content": "x"}], [{"role": "assistant", "content": "y"}])
    assert shared_prompt(prompt, _response(5, "x", [{"role": "assistant", "content": "x"}]), _response(6, "y")) is None
    # As text: an HH-style transcript whose continuations carry the diverging turns.
    assert prompt_as_text([user]) == "Q1"
    assert transcript_prompt([user]) == "\n\nHuman: Q1\n\nAssistant:"
    assert continuation_as_text(turns_a) == " a1\n\nHuman: Q2\n\nAssistant: a2"


COLUMNS = [
    Column("prompt", MESSAGES),
    Column("chosen", pa.string()),
    Column("margin", pa.float64()),
    Column("tie", pa.bool_()),
    Column("judgment_id", pa.int64()),
    Column("criteria", pa.string(), free_form=True),
]
ROWS = [
    ([{"role": "user", "content": 'Say "hi"\n'}], "héllo ✓", 1.5, False, 1, {"helpful": [4, 2]}),
    ([{"role": "user", "content": "x"}], "", None, True, 2, None),
]


@pytest.mark.parametrize("file_type", ["jsonl", "parquet", "csv"])
def test_writers_keep_values_and_types(tmp_path: Path, file_type: str) -> None:
    path = tmp_path / f"out.{file_type}"
    with open_writer(path, file_type, COLUMNS) as writer:
        writer.write_rows(iter(ROWS))
    assert writer.rows_written == 2
    if file_type == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows[0] == dict(zip([c.name for c in COLUMNS], ROWS[0], strict=True))
        assert rows[1]["margin"] is None and rows[1]["criteria"] is None and rows[1]["tie"] is True
        assert path.read_bytes().isascii()  # non-ASCII escaped, as json.dumps does by default
    elif file_type == "parquet":
        table = pq.read_table(path)
        assert table.schema.field("prompt").type == MESSAGES
        assert table.schema.field("criteria").type == pa.string()  # free-form objects are JSON text in Parquet
        rows = table.to_pylist()
        assert rows[0]["chosen"] == "héllo ✓" and json.loads(rows[0]["criteria"]) == {"helpful": [4, 2]}
        assert rows[1]["margin"] is None and rows[1]["tie"] is True
    else:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        assert json.loads(rows[0]["prompt"]) == ROWS[0][0]
        assert rows[0]["chosen"] == "héllo ✓" and rows[0]["tie"] == "false" and rows[1]["margin"] == ""


def test_parquet_writes_prose_plainly_and_everything_else_with_dictionaries(tmp_path: Path) -> None:
    # Prose leaves (here a message list's role and content, and a plain text) get neither a dictionary nor
    # statistics; every other leaf, nested ones included, keeps pyarrow's defaults.
    columns = [
        Column("prompt", MESSAGES, prose=True),
        Column("chosen", pa.string(), prose=True),
        Column("judge", pa.string()),
        Column("ranks", pa.list_(pa.int64())),
        Column("votes", pa.int64(), prose=True),  # not a string: prose changes nothing
    ]
    rows = [([{"role": "user", "content": f"q{i}"}], f"answer {i}", "judge-a", [1, 2], i) for i in range(50)]
    path = tmp_path / "out.parquet"
    with open_writer(path, "parquet", columns) as writer:
        writer.write_rows(iter(rows))
    group = pq.ParquetFile(path).metadata.row_group(0)
    chunks = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert set(chunks) == {
        "prompt.list.element.role",
        "prompt.list.element.content",
        "chosen",
        "judge",
        "ranks.list.element",
        "votes",
    }
    plain = {"prompt.list.element.role", "prompt.list.element.content", "chosen"}
    for name, chunk in chunks.items():
        assert ("RLE_DICTIONARY" in chunk.encodings) is (name not in plain), name
        assert chunk.is_stats_set is (name not in plain), name
    assert pq.read_table(path).to_pylist()[7] == dict(zip([c.name for c in columns], rows[7], strict=True))


def test_the_fast_jsonl_encoder_writes_the_standard_librarys_lines(tmp_path: Path) -> None:
    """JSONL lines come from orjson where its line is ASCII without DEL, else from the standard library's encoder:
    every character below 256, a lone surrogate, numbers and nulls give json.dumps' line either way."""
    columns = [
        Column("text", pa.string()),
        Column("margin", pa.float64()),
        Column("n", pa.int64()),
        Column("tie", pa.bool_()),
        Column("messages", MESSAGES),
    ]
    texts = [chr(i) for i in range(256)] + ["\ud800 lone", "a\u2028b", "plain", None]
    margins = [0.1 + 0.2, 1e-05, 1e16, -0.0, 2, None]
    rows = [
        (text, margins[i % len(margins)], i if i % 7 else None, [True, False, None][i % 3], None)
        for i, text in enumerate(texts)
    ]
    rows.append(("x", 1.5, 3, True, [{"role": "user", "content": "é"}]))
    path = tmp_path / "out.jsonl"
    with open_writer(path, "jsonl", columns) as writer:
        writer.write_rows(rows[:100])
        writer.write_batch(rows[100:])
    expected = "".join(
        json.dumps(dict(zip([c.name for c in columns], row, strict=True)), separators=(",", ":")) + "\n"
        for row in [(t, None if m is None else float(m), n, b, s) for t, m, n, b, s in rows]
    )
    assert path.read_bytes() == expected.encode("ascii")


FORMULAS = ('=HYPERLINK("http://x","click")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd")


@pytest.mark.django_db
@pytest.mark.parametrize("fast_path", [True, False])
def test_csv_cells_that_a_spreadsheet_would_run_start_with_a_quote(tmp_path: Path, fast_path: bool) -> None:
    """OWASP's CSV injection advice: a text cell starting with = + - @ tab or CR gets a leading single quote in CSV;
    JSONL and Parquet keep the text exactly."""
    from annotation.exports.runner import export_project
    from annotation.models import Response as ResponseRow
    from tests.annotation.exports.test_fast_path import make_project

    project = make_project(prompts=12)
    for i, response in enumerate(ResponseRow.objects.filter(prompt__project=project).order_by("id")):
        response.text = f"{FORMULAS[i % len(FORMULAS)]} {i}"
        response.save()
    chosen = {}
    for file_type in ("csv", "jsonl", "parquet"):
        spec = export_spec_validate(format="trl-pairwise", file_type=file_type, options={"ties": "keep"})
        out = tmp_path / f"out.{file_type}"
        export_project(project=project, spec=spec, out=out, folder=False, fast_path=fast_path)
        if file_type == "csv":
            with out.open(newline="", encoding="utf-8") as stream:
                rows = list(csv.DictReader(stream))
        elif file_type == "jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        else:
            rows = pq.read_table(out).to_pylist()
        chosen[file_type] = [(r["chosen"], r["rejected"]) for r in rows]
    exact = chosen["parquet"]
    assert len(exact) > 10 and any(a.startswith("=HYPERLINK(") for a, _ in exact)
    assert {text[0] for pair in exact for text in pair} == {text[0] for text in FORMULAS}
    assert chosen["jsonl"] == exact
    assert chosen["csv"] == [("'" + a, "'" + b) for a, b in exact]
