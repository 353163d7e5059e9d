"""The pair reader's export: per-judgment TRL rows of pairwise judgments made from pair records (pair_source), one
query row per judgment, instead of from prompt groups. It writes and counts exactly what the general path does for
the exports it takes (PAIR_READER_OPTIONS), and nothing of the row is decided here: each row's columns come from
TrlPairwise.pair_sources and whether a pair is written from TrlPairwise.outcome. The Arrow lane (Parquet on
PostgreSQL, whose records never become Python values) applies the same two to whole columns: `outcome_table`
evaluates the rule once per kind of pair.

Data it cannot write as the general path would (a conversation, a judgment that is not one pair...) raises
NotPairwise while streaming; the runner then removes what was written and runs the general path from the start.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from annotation.analysis.agreement import Agreement, comparison_agreement
from annotation.analysis.split import TEST, TRAIN, split_of
from annotation.exports.options import ExportSpec
from annotation.exports.outputs import Outputs
from annotation.exports.pair_source import (
    BETTER,
    CHOSEN,
    COMPARISON,
    JUDGE,
    JUDGMENT,
    PROMPT,
    PROMPT_ID,
    REJECTED,
    TIE,
    WORSE,
    PairQuery,
    arrow_applies,
    open_batches,
    open_pairs,
)
from annotation.exports.rows import TrlPairwise
from annotation.exports.tally import Tally
from annotation.exports.writers import ParquetWriter
from annotation.models import Project

Progress = Callable[[int, int, int], None]
Row = tuple[Any, ...]
Members = list[tuple[int, int, int, bool]]  # (comparison id, better id, worse id, tie) of one prompt's judgments
SPLITS = (TRAIN, TEST)

# Every field of ExportOptions and ExportFilters, with the values the pair reader writes as the general path does
# (None: any value) and the reason it gives for another. The one place that fences the pair reader: a new field
# fails tests/annotation/exports/test_fast_path.py until it is classified here.
PAIR_READER_OPTIONS: dict[str, tuple[tuple[Any, ...] | None, str]] = {
    "options.conversational": ((False,), "conversational rows"),
    "options.pairs": (None, ""),  # a judgment of two responses induces one pair in every mode
    "options.ties": (None, ""),  # TrlPairwise.outcome and columns
    "options.consensus": (("none",), "consensus rows"),
    "options.margin": (("strength", "none"), "margin {value}"),  # the query's margin is pairs.pair_margin's
    "options.drop_empty": (None, ""),  # TrlPairwise.outcome
    "options.include_text": (None, ""),  # raw rows only
    "options.test_fraction": (None, ""),
    "options.seed": (None, ""),
    "options.license": (None, ""),  # the card's
    "filters.judge_kinds": (None, ""),  # judge_ids, as the general path
    "filters.judges": (None, ""),
    "filters.active_only": (None, ""),  # source.judgment_conditions, as the general path
    "filters.min_agreement": ((None,), "a minimum agreement"),
    "filters.date_from": (None, ""),
    "filters.date_to": (None, ""),
    "filters.categories": (None, ""),
    "filters.max_suspicion": (None, ""),  # source.judgment_conditions, as the general path
    "filters.suspicion_detector": (None, ""),
}


class NotPairwise(Exception):  # noqa: N818 - a signal to fall back, not an error anyone sees
    """The data has something the pair reader does not write as the general path would; use the general path."""


def refusal(*, spec: ExportSpec, project: Project, builder: Any) -> str | None:
    """Why this export needs the general path, or None when the pair reader may try it."""
    if not isinstance(builder, TrlPairwise):
        return f"format {spec.format}"
    for key, (allowed, reason) in PAIR_READER_OPTIONS.items():
        part, name = key.split(".")
        value = getattr(spec.options if part == "options" else spec.filters, name)
        if allowed is not None and value not in allowed:
            return reason.format(value=value)
    if builder.pair_sources() is None:
        return "columns a pair record does not hold"
    if project.kind != Project.Kind.PAIRWISE:
        return "a listwise project"  # its judgments are lists: the first record would send it back anyway
    return None


def prompt_agreement(members: Members, agreement: Agreement) -> None:
    """runner's agreement for one prompt's judgments (two or more): per comparison, in order of first judgment."""
    by_comparison: dict[int, Members] = {}
    for member in members:
        by_comparison.setdefault(member[0], []).append(member)
    for judged in by_comparison.values():
        # Ranks as the outcome sees them: equal for a tie, the better one lower.
        value = comparison_agreement([{better: 1, worse: 1 if tie else 2} for _, better, worse, tie in judged])
        if value is not None:
            agreement.add(value)


def _agreement(rows: list[Row], agreement: Agreement) -> None:
    prompt_agreement([(r[COMPARISON], r[BETTER], r[WORSE], r[TIE]) for r in rows], agreement)


class _Judges(dict[int, str]):
    """{judge id: name (part 0) or kind (part 1)}; an unknown id reads as the general builder's stand-in."""

    def __init__(self, judges: dict[int, tuple[str, str]], part: int) -> None:
        super().__init__({pk: value[part] for pk, value in judges.items()})
        self.part = part

    def __missing__(self, judge_id: int) -> str:
        return (f"judge-{judge_id}", "")[self.part]


def _sources(builder: TrlPairwise, outputs: Outputs) -> list[tuple[str, int]]:
    """Each output column's source: TrlPairwise.pair_sources, and the split column (outputs adds it)."""
    sources = builder.pair_sources()
    assert sources is not None  # refusal() turned such an export away
    return sources + [("split", 0)] * (len(outputs.columns) - len(sources))


def _projection(sources: list[tuple[str, int]], judges: dict[int, tuple[str, str]]) -> Callable[[Row, str], Row]:
    """The generated `project(record, split) -> row` for these sources: one tuple built, no loop over columns."""
    env: dict[str, Any] = {"_j0": _Judges(judges, 0), "_j1": _Judges(judges, 1)}
    values = []
    for kind, index in sources:
        values.append({"record": f"r[{index}]", "judge": f"_j{index}[r[{JUDGE}]]", "split": "s"}[kind])
    exec("def project(r, s):\n    return (" + ", ".join(values) + ",)\n", env)  # noqa: S102 - built here
    return env["project"]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the stream: records are tuples without cycles, freed by reference
    counting, yet the collector would walk them every 700 allocations. Restored afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def export_pairs(
    *,
    project: Project,
    spec: ExportSpec,
    builder: TrlPairwise,
    judges: dict[int, tuple[str, str]],
    judge_ids: list[int] | None,
    outputs: Outputs,
    progress: Progress | None,
) -> Tally:
    """Write the export from pair records; raises NotPairwise (outputs left for the caller to abort) when the data
    needs the general path."""
    o = spec.options
    query = PairQuery(
        project_id=project.pk, filters=spec.filters, judge_ids=judge_ids, margin=o.margin, vendor=connection.vendor
    )
    sources = _sources(builder, outputs)
    if arrow_applies(spec.file_type):
        return _export_batches(
            spec=spec, builder=builder, sources=sources, query=query, judges=judges, outputs=outputs, progress=progress
        )
    project_row = _projection(sources, judges)
    outcome = builder.outcome
    test_fraction, seed = o.test_fraction, o.seed
    tally = Tally()
    stats: Counter[str] = Counter()
    agreement = tally.agreement
    rows_count = tally.rows
    judge_of = itemgetter(JUDGE)
    written = read = 0
    current: str | None = None  # the prompt's external id: unique in the project, and records come by prompt
    first: Row = ()  # the prompt's first record; with `several`, all its records (for agreement)
    several: list[Row] | None = None
    split = ""
    pending: dict[int, tuple[Any, list[Row]]] = {}  # the batch's rows by writer, written together
    out: list[Row] = []

    with _collector_paused(), open_pairs(query) as (total, batches):
        tally.judgments_total = total
        for batch in batches:
            for row in batch:
                if row[PROMPT] is None:  # pair_source flags what it cannot make a record of
                    raise NotPairwise(
                        f"judgment {row[JUDGMENT]} is not a pair of plain responses to a one-message prompt"
                    )
                if row[PROMPT_ID] != current:
                    if several is not None:
                        _agreement(several, agreement)
                        several = None
                    if progress is not None and current is not None:
                        progress(read, total, written)
                    current = row[PROMPT_ID]
                    first = row
                    tally.prompts += 1
                    split = split_of(current, seed=seed, test_fraction=test_fraction) if test_fraction > 0 else TRAIN
                    if split not in rows_count:
                        # Opened on the split's first prompt, and listed in the report from then on, as the
                        # general path does, whether or not the prompt gives rows.
                        rows_count[split] += 0
                    writer = outputs.writer(split)
                    entry = pending.get(id(writer))
                    if entry is None:
                        entry = pending[id(writer)] = (writer, [])
                    out = entry[1]
                elif several is None:
                    several = [first, row]
                else:
                    several.append(row)
                read += 1
                keep, stat = outcome(row[TIE], row[CHOSEN], row[REJECTED])
                if stat is not None:
                    stats[stat] += 1
                if keep:
                    out.append(project_row(row, split))
                    rows_count[split] += 1
                    written += 1
            tally.by_judge.update(map(judge_of, batch))
            for writer, rows in pending.values():
                writer.write_batch(rows)
                rows.clear()
        if several is not None:
            _agreement(several, agreement)
        if progress is not None and current is not None:
            progress(read, total, written)
        if read != total:
            raise NotPairwise(f"read {read} of {total} judgments (changed while reading?)")
    tally.close_pairs(read, stats)
    return tally


# --- the Arrow lane -------------------------------------------------------------------------------------------------

# Kinds of pair by (tie, an empty response): kind = 2 * tie + empty.
KINDS = ((False, False), (False, True), (True, False), (True, True))
# ASCII characters Python's str.strip() removes (str.isspace): the rest it removes are all non-ASCII.
_ASCII_SPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def outcome_table(builder: TrlPairwise) -> list[tuple[bool, str | None]]:
    """TrlPairwise.outcome for each kind of pair (KINDS): the rule as the Arrow lane applies it to whole columns."""
    return [builder.outcome(tie, "" if empty else "x", "x") for tie, empty in KINDS]


def _blank(texts: pa.Array) -> np.ndarray:
    """Per text: is `text.strip()` empty? ASCII whitespace is trimmed in Arrow; a text left starting with a
    non-ASCII character (which may be Unicode whitespace) is decided by Python itself."""
    trimmed = pc.utf8_trim(texts, characters=_ASCII_SPACE)
    blank = pc.equal(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False)
    first = pc.utf8_slice_codeunits(trimmed, 0, 1)
    unsure = np.flatnonzero(~pc.string_is_ascii(first).to_numpy(zero_copy_only=False))
    for i in unsure:
        blank[i] = not texts[int(i)].as_py().strip()
    return blank


class _JudgeColumns:
    """Judge names or kinds by judge id, as an Arrow array to take from (_Judges' stand-in for an unknown id)."""

    def __init__(self, judges: dict[int, tuple[str, str]], part: int) -> None:
        self.judges = _Judges(judges, part)
        self.ids: list[int] = []
        self.values = pa.array([], pa.string())

    def take(self, judge_ids: pa.Array) -> pa.Array:
        known = set(self.ids)
        new = [j for j in pc.unique(judge_ids).to_pylist() if j not in known]
        if new:
            self.ids += new
            self.values = pa.array([self.judges[j] for j in self.ids], pa.string())
        return self.values.take(pc.index_in(judge_ids, value_set=pa.array(self.ids, pa.int64())))


class _Prompts:
    """The prompt runs of consecutive batches: counts, splits and the agreement of prompts judged more than once."""

    def __init__(self, tally: Tally, outputs: Outputs, *, test_fraction: float, seed: int) -> None:
        self.tally = tally
        self.outputs = outputs
        self.test_fraction = test_fraction
        self.seed = seed
        self.current: str | None = None  # the prompt of the last record read (records come by prompt)
        self.current_split = TRAIN
        self.members: Members = []  # the current prompt's judgments so far
        self.opened: set[str] = set()

    def read(self, batch: pa.RecordBatch) -> np.ndarray:
        """Count and follow the batch's prompts; returns each record's split (an index into SPLITS)."""
        n = batch.num_rows
        prompt_ids = batch.column(PROMPT_ID)
        new_prompt = np.empty(n, dtype=bool)
        new_prompt[0] = prompt_ids[0].as_py() != self.current
        if n > 1:
            new_prompt[1:] = pc.not_equal(prompt_ids.slice(1), prompt_ids.slice(0, n - 1)).to_numpy(
                zero_copy_only=False
            )
        starts = np.flatnonzero(new_prompt)
        self.tally.prompts += len(starts)
        edges = np.concatenate(([0], starts[starts > 0], [n]))  # runs: [edges[r], edges[r + 1])
        lengths = np.diff(edges)
        self._agreement(batch, edges, lengths, continues=not new_prompt[0])

        splits = [TRAIN] * len(starts)
        if self.test_fraction > 0:
            first_ids = prompt_ids.take(pa.array(starts, pa.int64())).to_pylist()
            splits = [split_of(p, seed=self.seed, test_fraction=self.test_fraction) for p in first_ids]
        for split in dict.fromkeys(splits):
            if split not in self.opened:  # a split's file opens on its first prompt, as the row lane opens it
                self.opened.add(split)
                self.outputs.writer(split)
                self.tally.rows[split] += 0
        if len(starts):
            self.current = prompt_ids[n - 1].as_py()
        if self.test_fraction <= 0:
            return np.zeros(n, dtype=np.int8)
        per_run = ([] if new_prompt[0] else [self.current_split]) + splits
        if len(starts):
            self.current_split = splits[-1]
        is_test = np.fromiter((s == TEST for s in per_run), dtype=bool, count=len(per_run))
        return np.repeat(is_test.astype(np.int8), lengths)  # SPLITS.index

    def _agreement(self, batch: pa.RecordBatch, edges: np.ndarray, lengths: np.ndarray, *, continues: bool) -> None:
        # Only runs that may hold two judgments become Python values: the first (it may go on from the last batch),
        # the last (it may go on into the next), and any of two records or more.
        def rows(run: int) -> Members:
            a, length = int(edges[run]), int(lengths[run])
            columns = [batch.column(i).slice(a, length).to_pylist() for i in (COMPARISON, BETTER, WORSE, TIE)]
            return list(zip(*columns, strict=True))

        first = rows(0)
        if continues:
            self.members += first
        else:
            self.finish()
            self.members = first
        last = len(lengths) - 1
        if last == 0:
            return
        self.finish()
        for run in np.flatnonzero(lengths[1:last] >= 2) + 1:
            self.members = rows(int(run))
            self.finish()
        self.members = rows(last)

    def finish(self) -> None:
        """The current prompt has no more records: its agreement, when judged more than once."""
        if len(self.members) >= 2:
            prompt_agreement(self.members, self.tally.agreement)
        self.members = []


def _export_batches(
    *,
    spec: ExportSpec,
    builder: TrlPairwise,
    sources: list[tuple[str, int]],
    query: PairQuery,
    judges: dict[int, tuple[str, str]],
    outputs: Outputs,
    progress: Progress | None,
) -> Tally:
    """export_pairs on Arrow record batches: the same rule and columns, applied to whole columns."""
    o = spec.options
    table = outcome_table(builder)
    keep_by_kind = np.array([keep for keep, _ in table])
    needs_empty = any(table[k] != table[k + 1] for k in (0, 2))
    tally = Tally(lane="arrow")
    stats: Counter[str] = Counter()
    prompts = _Prompts(tally, outputs, test_fraction=o.test_fraction, seed=o.seed)
    judge_columns = [_JudgeColumns(judges, 0), _JudgeColumns(judges, 1)]
    split_names = pa.array(SPLITS, pa.string())
    written = read = 0

    with open_batches(query) as (total, batches):
        tally.judgments_total = total
        for batch in batches:
            n = batch.num_rows
            if not n:
                continue
            column = batch.column
            if column(PROMPT).null_count:  # pair_source flags what it cannot make a record of
                first = int(np.flatnonzero(column(PROMPT).is_null().to_numpy(zero_copy_only=False))[0])
                raise NotPairwise(
                    f"judgment {column(JUDGMENT)[first].as_py()} is not a pair of plain responses to a one-message "
                    "prompt"
                )
            read += n
            split_index = prompts.read(batch)
            counts = pc.value_counts(column(JUDGE))
            for judge_id, count in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                tally.by_judge[judge_id] += count

            kind = column(TIE).to_numpy(zero_copy_only=False).astype(np.int8) * 2
            if needs_empty:
                kind += _blank(column(CHOSEN)) | _blank(column(REJECTED))
            for k, count in enumerate(np.bincount(kind, minlength=len(KINDS))):
                if count and table[k][1] is not None:
                    stats[table[k][1]] += int(count)  # type: ignore[index]
            keep = keep_by_kind[kind]
            if not keep.any():
                if progress is not None:
                    progress(read, total, written)
                continue
            kept = batch if keep.all() else batch.filter(pa.array(keep))
            kept_split = split_index[keep]
            columns = []
            for source, index in sources:
                if source == "record":
                    columns.append(kept.column(index))
                elif source == "judge":
                    columns.append(judge_columns[index].take(kept.column(JUDGE)))
                else:
                    columns.append(split_names.take(pa.array(kept_split)))
            if outputs.folder:
                parts = [(SPLITS[i], kept_split == i) for i in np.unique(kept_split)]
            else:
                parts = [(SPLITS[int(kept_split[0])], None)]  # one file: every split's rows, in order
            for split, mask in parts:
                selected = columns if mask is None else [c.filter(pa.array(mask)) for c in columns]
                arrays = [c.cast(out.type) for c, out in zip(selected, outputs.columns, strict=True)]
                writer = outputs.writer(split)
                assert isinstance(writer, ParquetWriter)  # arrow_applies: Parquet only
                writer.write_arrays(arrays)
                if mask is None:
                    for i, count in zip(*np.unique(kept_split, return_counts=True), strict=True):
                        tally.rows[SPLITS[i]] += int(count)
                else:
                    tally.rows[split] += int(mask.sum())
            written += kept.num_rows
            if progress is not None:
                progress(read, total, written)
        prompts.finish()
        if read != total:
            raise NotPairwise(f"read {read} of {total} judgments (changed while reading?)")
    tally.close_pairs(read, stats)
    return tally


__all__ = ["PAIR_READER_OPTIONS", "NotPairwise", "export_pairs", "outcome_table", "refusal"]
