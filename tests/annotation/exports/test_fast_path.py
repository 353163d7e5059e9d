"""The pair reader (annotation/exports/fast.py) writes what the general path writes: the same bytes (JSONL,
CSV, Parquet), the same report and the same dataset card, for every option and filter it takes; it is not taken for
the options it does not implement; and data it cannot write (a conversation, a response with its own conversation,
a judgment that is not one pair) sends the export back to the general path, with the same files in the end.

Each comparison exports one project twice, `fast_path=True` and `fast_path=False`, on the test database (SQLite, or
PostgreSQL under scripts/test), inside the test's transaction and, in the last tests, outside one (the export's own
connections and snapshot)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from annotation.exports import fast as pair_reader
from annotation.exports import pair_source
from annotation.exports.options import ExportFilters, ExportOptions, export_spec_validate
from annotation.exports.rows import TrlPairwise
from annotation.exports.runner import ExportResult, export_project
from annotation.models import Comparison, ComparisonResponse, Judge, Judgment, Placement, Project, Prompt, Response

START = datetime(2025, 1, 1, tzinfo=UTC)
CATEGORIES = ("math", "chat", "code")
# Texts that take the slow lane of the JSONL fast encoder (non-ASCII, DEL) or need escaping (quotes, controls).
# Blank to Python's str.strip() only beyond ASCII, and not blank after a non-ASCII space.
ODD_TEXTS = (
    'say "hi" \\ there\n\ttab',
    "naïve café ☕ — 𝔘nicode",
    "del\x7fchar and \x01 control",
    "",
    "   ",
    "\u3000\xa0\x1f \u2029",
    "\xa0x",
)
# Margins whose JSON spelling differs between encoders (exponents), a strength, and none.
MARGINS = (None, None, 2.5, 1e-05, 1e16, -0.0, 0.1 + 0.2)


def make_project(slug: str = "fast", prompts: int = 40, seed: int = 3) -> Project:
    """Pairwise judgments on one-message prompts: 1-3 human judges a prompt, an LLM judge on some, ties, strengths,
    numeric margins, excluded judgments, dates through 2025 and odd texts; prompts are created out of external-id
    order, so prompt id order and external id order differ."""
    rng = random.Random(seed)
    project = Project.objects.create(name=slug.title(), slug=slug, source="Made up for the tests; CC0")
    humans = [
        Judge.objects.create(project=project, kind=Judge.Kind.HUMAN, name=f"{slug}:{name}") for name in ("a", "b", "c")
    ]
    llm = Judge.objects.create(project=project, kind=Judge.Kind.LLM, name=f"{slug}:gpt")
    order = list(range(prompts))
    rng.shuffle(order)
    for n, i in enumerate(order):
        text = f"question {i}: " + (ODD_TEXTS[i % len(ODD_TEXTS)] if i % 4 == 0 else "plain words")
        prompt = Prompt.objects.create(
            project=project,
            external_id=f"p{i}",
            messages=[{"role": "user", "content": text}],
            category=CATEGORIES[i % 3],
        )
        responses = []
        for k, name in enumerate(("a", "b")):
            body = ODD_TEXTS[(i // 5 + k) % len(ODD_TEXTS)] if i % 5 == k else f"answer {name} to {i}"
            responses.append(Response.objects.create(prompt=prompt, external_id=name, text=body, generator=f"m{k}"))
        comparison = Comparison.objects.create(
            project=project, prompt=prompt, key=Comparison.key_for([r.pk for r in responses]), slots_left=0
        )
        for position, response in enumerate(responses):
            ComparisonResponse.objects.create(comparison=comparison, response=response, position=position)
        judges = humans[: 1 + i % 3] + ([llm] if i % 4 == 1 else [])
        for j, judge in enumerate(judges):
            outcome = rng.choice(("a", "b", "a", "b", "tie"))
            add_judgment(
                comparison,
                judge,
                responses,
                outcome,
                strength=rng.choice((None, 0, 2)),
                margin=MARGINS[(i + j) % len(MARGINS)],
                status=Judgment.Status.EXCLUDED if (i + j) % 11 == 0 else Judgment.Status.ACTIVE,
                created_at=START + timedelta(days=(n * 7 + j) % 365),
            )
    return project


def add_judgment(
    comparison: Comparison,
    judge: Judge,
    responses: list[Response],
    outcome: str,
    *,
    strength: int | None = None,
    margin: float | None = None,
    status: str = Judgment.Status.ACTIVE,
    created_at: datetime = START,
) -> Judgment:
    judgment = Judgment.objects.create(
        project=comparison.project,
        comparison=comparison,
        judge=judge,
        strength=strength,
        margin=margin,
        source=Judgment.Source.IMPORT,
        status=status,
    )
    Judgment.objects.filter(pk=judgment.pk).update(created_at=created_at)
    ranks = {"a": (1, 2), "b": (2, 1), "tie": (1, 1)}[outcome]
    for response, rank in zip(responses, ranks, strict=False):
        Placement.objects.create(judgment=judgment, response=response, rank=rank)
    return judgment


def export_both(
    project: Project,
    tmp_path: Path,
    *,
    file_type: str = "jsonl",
    folder: bool = False,
    filters: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[ExportResult, ExportResult, Path, Path]:
    """The same export through both paths: (fast result, general result, fast out, general out)."""
    spec = export_spec_validate(format="trl-pairwise", file_type=file_type, filters=filters, options=options)
    run = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    outs = []
    results = []
    for fast in (True, False):
        # The same file names in two folders: the results list the same names.
        out = run / ("fast" if fast else "general") / ("export" if folder else f"export.{file_type}")
        project = Project.objects.get(pk=project.pk)
        results.append(export_project(project=project, spec=spec, out=out, folder=folder, fast_path=fast))
        outs.append(out)
    return results[0], results[1], outs[0], outs[1]


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("seconds", "rows_per_second", "path", "files")}


def assert_same_export(fast: ExportResult, general: ExportResult, fast_out: Path, general_out: Path) -> None:
    assert general.report["path"] == "general (asked for)"
    assert comparable(fast.report) == comparable(general.report)
    assert fast.files == general.files
    if fast_out.is_dir():
        for name in general.files:
            fast_bytes, general_bytes = (fast_out / name).read_bytes(), (general_out / name).read_bytes()
            if name == "README.md":  # the card names the time it was made and its folder
                fast_bytes, general_bytes = _card_body(fast_bytes, fast_out), _card_body(general_bytes, general_out)
            assert fast_bytes == general_bytes, name
    else:
        assert fast_out.read_bytes() == general_out.read_bytes()


def _card_body(card: bytes, out: Path) -> bytes:
    lines = card.decode().replace(str(out), "OUT").splitlines()
    return "\n".join(line for line in lines if not line.startswith("Exported from")).encode()


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("file_type", ["jsonl", "parquet", "csv"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ties": "keep", "margin": "none"},
        {"ties": "keep", "drop_empty": True, "pairs": "adjacent"},
        {"test_fraction": 0.3, "seed": 7},
    ],
    ids=["defaults", "ties-kept-no-margin", "drop-empty", "split-column"],
)
def test_the_fast_path_writes_what_the_general_path_writes(tmp_path: Path, file_type: str, options: dict) -> None:
    project = make_project()
    fast, general, fast_out, general_out = export_both(project, tmp_path, file_type=file_type, options=options)
    assert fast.report["path"] == "fast"
    assert fast.report["rows_total"] > 20
    assert_same_export(fast, general, fast_out, general_out)
    stats = fast.report["stats"]
    if options.get("ties") == "keep":
        assert stats["tie_pairs_kept"] > 0 and "tie_pairs_dropped" not in stats
    else:
        assert stats["tie_pairs_dropped"] > 0
    if options.get("drop_empty"):
        assert stats["pairs_dropped_empty"] > 0
    assert fast.report["agreement"]["comparisons"] > 0  # prompts with several judges


@pytest.mark.parametrize(
    "filters",
    [
        {"judge_kinds": ["human"]},
        {"judges": ["fast:a", "fast:gpt"]},
        {"active_only": False},
        {"date_from": "2025-03-01", "date_to": "2025-08-31"},
        {"categories": ["math", "code"]},
        {"judge_kinds": ["llm"], "categories": ["chat"], "date_to": "2025-12-31"},
    ],
    ids=["kinds", "names", "with-excluded", "dates", "categories", "combined"],
)
def test_filters_select_the_same_judgments(tmp_path: Path, filters: dict) -> None:
    project = make_project()
    fast, general, fast_out, general_out = export_both(project, tmp_path, filters=filters)
    assert fast.report["path"] == "fast"
    assert_same_export(fast, general, fast_out, general_out)


@pytest.mark.parametrize("file_type", ["jsonl", "parquet"])
def test_a_folder_with_splits_and_its_card(tmp_path: Path, file_type: str) -> None:
    project = make_project()
    options = {"test_fraction": 0.25, "seed": 1, "ties": "keep"}
    fast, general, fast_out, general_out = export_both(
        project, tmp_path, file_type=file_type, folder=True, options=options
    )
    assert fast.report["path"] == "fast"
    assert set(fast.report["rows"]) == {"train", "test"}
    assert_same_export(fast, general, fast_out, general_out)


def test_nothing_selected_gives_the_same_empty_file(tmp_path: Path) -> None:
    project = make_project()
    fast, general, fast_out, general_out = export_both(project, tmp_path, filters={"date_from": "2030-01-01"})
    assert fast.report["path"] == "fast" and fast.report["rows_total"] == 0
    assert_same_export(fast, general, fast_out, general_out)


@pytest.mark.parametrize(
    ("fmt", "options", "filters", "reason"),
    [
        ("trl-pairwise", {"conversational": True}, {}, "conversational"),
        ("trl-pairwise", {"consensus": "majority"}, {}, "consensus"),
        ("trl-pairwise", {"margin": "rank_gap"}, {}, "margin rank_gap"),
        ("trl-pairwise", {"margin": "score_gap"}, {}, "margin score_gap"),
        ("trl-pairwise", {}, {"min_agreement": 0.6}, "minimum agreement"),
        ("listwise", {}, {}, "format listwise"),
        ("raw", {}, {}, "format raw"),
    ],
)
def test_options_it_does_not_implement_take_the_general_path(
    tmp_path: Path, fmt: str, options: dict, filters: dict, reason: str
) -> None:
    project = make_project(prompts=12)
    spec = export_spec_validate(format=fmt, file_type="jsonl", filters=filters, options=options)
    result = export_project(project=project, spec=spec, out=tmp_path / "out.jsonl", folder=False)
    assert result.report["path"].startswith("general (") and reason in result.report["path"]


def test_a_listwise_project_takes_the_general_path(tmp_path: Path) -> None:
    project = make_project(prompts=12)
    Project.objects.filter(pk=project.pk).update(kind=Project.Kind.LISTWISE)
    fast, general, fast_out, general_out = export_both(project, tmp_path)
    assert fast.report["path"] == "general (a listwise project)"
    assert comparable(fast.report) == comparable(general.report)
    assert fast_out.read_bytes() == general_out.read_bytes()


def _multi_turn_prompt(project: Project) -> None:
    prompt = Prompt.objects.filter(project=project).order_by("-id").first()
    prompt.messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": prompt.messages[0]["content"]},
    ]
    prompt.save()


def _system_prompt(project: Project) -> None:
    prompt = Prompt.objects.filter(project=project).order_by("id").first()
    prompt.messages = [{"role": "system", "content": "be brief"}]
    prompt.save()


def _response_with_a_conversation(project: Project) -> None:
    response = Response.objects.filter(prompt__project=project).order_by("id")[7]
    text = response.prompt.messages[0]["content"]
    response.conversation = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "and?"},
        {"role": "assistant", "content": response.text},
    ]
    response.save()


def _three_placements(project: Project) -> None:
    judgment = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).order_by("id")[5]
    prompt = judgment.comparison.prompt
    third = Response.objects.create(prompt=prompt, external_id="c", text="a third answer", generator="m2")
    Placement.objects.create(judgment=judgment, response=third, rank=3)


def _one_placement(project: Project) -> None:
    judgment = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).order_by("-id")[3]
    Placement.objects.filter(judgment=judgment).order_by("-rank").first().delete()


def _no_placement(project: Project) -> None:
    judgment = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).order_by("id")[9]
    Placement.objects.filter(judgment=judgment).delete()


def _response_of_another_prompt(project: Project) -> None:
    judgment = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).order_by("id")[2]
    placement = Placement.objects.filter(judgment=judgment).first()
    other = Response.objects.filter(prompt__project=project).exclude(prompt=judgment.comparison.prompt).first()
    placement.response = other
    placement.save()


@pytest.mark.parametrize(
    "change",
    [
        _multi_turn_prompt,
        _system_prompt,
        _response_with_a_conversation,
        _three_placements,
        _one_placement,
        _no_placement,
        _response_of_another_prompt,
    ],
)
@pytest.mark.parametrize("file_type", ["jsonl", "parquet"])
def test_data_it_cannot_write_sends_the_export_back_to_the_general_path(
    tmp_path: Path, change: Any, file_type: str
) -> None:
    project = make_project(prompts=24)
    change(project)
    fast, general, fast_out, general_out = export_both(
        project, tmp_path, file_type=file_type, options={"ties": "keep", "test_fraction": 0.3}
    )
    assert fast.report["path"].startswith("general (") and "asked for" not in fast.report["path"]
    assert_same_export(fast, general, fast_out, general_out)
    assert not list(tmp_path.glob("**/*.partial"))  # the fast path's partial file is gone


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("file_type", ["jsonl", "parquet"])
def test_on_its_own_connections_with_the_merge_plan(tmp_path: Path, monkeypatch, file_type: str) -> None:  # noqa: ANN001
    """Outside a transaction the fast path reads on a connection of its own (PostgreSQL: one REPEATABLE READ
    snapshot for the count and the rows, and here the merge-join plan meant for large exports; SQLite: one read
    transaction), in small fetch batches."""
    monkeypatch.setattr(pair_source, "MERGE_MIN_JUDGMENTS", 0)
    monkeypatch.setattr(pair_source, "MERGE_MIN_SHARE", 0.0)
    monkeypatch.setattr(pair_source.source, "CHUNK", 14)
    project = make_project(slug="own", prompts=30)
    fast, general, fast_out, general_out = export_both(
        project, tmp_path, file_type=file_type, options={"ties": "keep", "test_fraction": 0.3}
    )
    assert fast.report["path"] == own_connection_path(file_type)
    assert_same_export(fast, general, fast_out, general_out)


def own_connection_path(file_type: str) -> str:
    """The fast path's lane outside a transaction: Parquet on PostgreSQL reads Arrow batches."""
    return "fast (arrow)" if file_type == "parquet" and connection.vendor == "postgresql" else "fast"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("file_type", ["jsonl", "parquet"])
@pytest.mark.parametrize("change", [_three_placements, _response_with_a_conversation])
def test_a_fallback_on_its_own_connections(tmp_path: Path, monkeypatch, file_type: str, change: Any) -> None:  # noqa: ANN001
    monkeypatch.setattr(pair_source, "BATCH_BYTES", 600)  # the flagged row comes in a later batch
    project = make_project(slug="own-fallback", prompts=20)
    change(project)
    fast, general, fast_out, general_out = export_both(
        project, tmp_path, file_type=file_type, options={"ties": "keep", "test_fraction": 0.3}
    )
    assert fast.report["path"].startswith("general (")
    assert_same_export(fast, general, fast_out, general_out)
    assert not list(tmp_path.glob("**/*.partial"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_bytes", [300, 5000, 16 * 1024 * 1024], ids=["rows", "several-prompts", "one-batch"])
@pytest.mark.parametrize(
    ("options", "filters", "folder"),
    [
        ({}, {}, False),
        ({"ties": "keep", "margin": "none"}, {}, False),
        ({"ties": "keep", "drop_empty": True}, {}, False),
        ({"drop_empty": True, "test_fraction": 0.3, "seed": 7}, {}, False),
        ({"test_fraction": 0.25, "seed": 1, "ties": "keep"}, {}, True),
        ({"ties": "keep"}, {"judges": ["arrow:a", "arrow:gpt"], "categories": ["math", "code"]}, False),
        ({}, {"date_from": "2030-01-01"}, False),
    ],
    ids=["defaults", "ties-kept", "drop-empty", "split-column", "folder", "filters", "nothing"],
)
def test_parquet_on_its_own_connection_writes_what_the_general_path_writes(
    tmp_path: Path,
    monkeypatch,  # noqa: ANN001
    options: dict,
    filters: dict,
    folder: bool,
    batch_bytes: int,
) -> None:
    """On PostgreSQL this is the Arrow lane: record batches of a row or two (prompts judged several times cut
    across batches), of several prompts, and of everything; on SQLite the row lane on its own connection."""
    monkeypatch.setattr(pair_source, "BATCH_BYTES", batch_bytes)
    project = make_project(slug="arrow", prompts=40)
    fast, general, fast_out, general_out = export_both(
        project, tmp_path, file_type="parquet", folder=folder, options=options, filters=filters
    )
    assert fast.report["path"] == own_connection_path("parquet")
    assert_same_export(fast, general, fast_out, general_out)
    if filters.get("date_from") != "2030-01-01":
        assert fast.report["agreement"]["comparisons"] > 0 and fast.report["rows_total"] > 10
    if options.get("drop_empty"):
        assert fast.report["stats"]["pairs_dropped_empty"] > 0


def test_every_option_and_filter_is_classified_for_the_pair_reader() -> None:
    """A new ExportOptions or ExportFilters field fails here until fast.PAIR_READER_OPTIONS says which of its values
    the pair reader writes as the general path does: the reader cannot silently miss an option."""
    fields = [f"options.{f.name}" for f in dataclasses.fields(ExportOptions)]
    fields += [f"filters.{f.name}" for f in dataclasses.fields(ExportFilters)]
    assert sorted(pair_reader.PAIR_READER_OPTIONS) == sorted(fields)


@pytest.mark.parametrize(
    "options",
    [{}, {"ties": "keep"}, {"drop_empty": True}, {"ties": "keep", "drop_empty": True, "margin": "none"}],
)
def test_the_arrow_lanes_rule_is_the_row_rule(options: dict) -> None:
    """fast.outcome_table (what the Arrow lane applies to columns) is TrlPairwise.outcome for every kind of pair,
    blank texts beyond ASCII included."""
    spec = export_spec_validate(format="trl-pairwise", file_type="parquet", options=options)
    builder = TrlPairwise(spec, {}, "p")
    table = pair_reader.outcome_table(builder)
    for (tie, empty), expected in zip(pair_reader.KINDS, table, strict=True):
        for blank in ("", " \t", "\u3000\xa0") if empty else ("x", " x "):
            assert builder.outcome(tie, blank, "y") == expected
            assert builder.outcome(tie, "y", blank) == expected
