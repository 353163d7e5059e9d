"""The pairwise fast path: per-judgment TRL rows of pairwise judgments on one-message prompts, as plain strings.

It writes exactly what the general path (source -> rows.TrlPairwise -> writers) writes for the same export, and
counts the same things (tally.Tally), from one query row per judgment (pair_source) instead of prompt groups. Two
gates keep it to what it reproduces:

- `refusal(spec)`: options it does not implement (conversational rows, consensus, a rank or score margin, a
  minimum agreement, other formats) send the export to the general path before anything is read;
- the data: a row the fast path cannot write as the general path would (a conversation, a response with one of
  its own, a judgment that is not one pair...) raises `NotPairwise` while streaming; the runner then removes what
  was written and runs the general path from the start. Nothing is dropped or guessed.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from django.db import connection

from annotation.analysis.agreement import Agreement
from annotation.analysis.split import TRAIN, split_of
from annotation.exports import arrow_pairs
from annotation.exports.options import ExportSpec
from annotation.exports.outputs import Outputs
from annotation.exports.pair_rules import NotPairwise, prompt_agreement
from annotation.exports.pair_sinks import sink_for
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
    open_pairs,
)
from annotation.exports.tally import Tally
from annotation.models import Project

Progress = Callable[[int, int, int], None]


def refusal(*, spec: ExportSpec, project: Project) -> str | None:
    """Why this export needs the general path, or None when the fast path may try it."""
    o = spec.options
    if spec.format != "trl-pairwise":
        return f"format {spec.format}"
    if o.conversational:
        return "conversational rows"
    if o.consensus != "none":
        return "consensus rows"
    if o.margin not in ("strength", "none"):
        return f"margin {o.margin}"
    if spec.filters.min_agreement is not None:
        return "a minimum agreement"
    if project.kind != Project.Kind.PAIRWISE:
        return "a listwise project"  # its judgments are lists: the first row would send it back anyway
    return None


def _agreement(rows: list[tuple[Any, ...]], agreement: Agreement) -> None:
    prompt_agreement([(r[COMPARISON], r[BETTER], r[WORSE], r[TIE]) for r in rows], agreement)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the stream. A row makes ~15 objects (a tuple and its values),
    freed a fetch batch later; none is in a reference cycle, so reference counting frees them all, yet every 700
    allocations the collector walks the young ones: about 2 s of the exporter's ~17 s of CPU for 1M judgments
    (bench/export.py). Restored afterwards; anything cyclic made meanwhile is collected then."""
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
    judges: dict[int, tuple[str, str]],
    judge_ids: list[int] | None,
    outputs: Outputs,
    progress: Progress | None,
) -> Tally:
    """Write the export through the fast path; raises NotPairwise (outputs left for the caller to abort) when the
    data needs the general path."""
    o = spec.options
    query = PairQuery(
        project_id=project.pk, filters=spec.filters, judge_ids=judge_ids, margin=o.margin, vendor=connection.vendor
    )
    if arrow_pairs.applies(spec.file_type):
        return arrow_pairs.export_pairs(spec=spec, query=query, judges=judges, outputs=outputs, progress=progress)
    sink = sink_for(spec.file_type, outputs.columns, judges)
    keep_ties = o.ties == "keep"
    drop_empty = o.drop_empty
    test_fraction, seed = o.test_fraction, o.seed
    tally = Tally()
    agreement = tally.agreement
    rows_count = tally.rows
    judge_of = itemgetter(JUDGE)
    ties_dropped = ties_kept = dropped_empty = written = read = 0
    current: str | None = None  # the prompt's external id: unique in the project, and rows come by prompt
    first: tuple[Any, ...] = ()  # the prompt's first row; with `several`, all its rows (for agreement)
    several: list[tuple[Any, ...]] | None = None
    split = ""
    writer: Any = None
    writers: dict[str, Any] = {}
    run: list[tuple[Any, ...]] = []  # consecutive rows of one split, written together
    append = run.append

    with _collector_paused(), open_pairs(query) as (total, batches):
        tally.judgments_total = total
        for batch in batches:
            for row in batch:
                if row[PROMPT] is None:  # pair_source flags what it cannot make a row of
                    raise NotPairwise(
                        f"judgment {row[JUDGMENT]} is not a pair of plain responses to a one-message prompt"
                    )
                if row[PROMPT_ID] != current:
                    if several is not None:
                        _agreement(several, agreement)
                        several = None
                    if progress is not None and current is not None:
                        progress(read, total, written + len(run))
                    current = row[PROMPT_ID]
                    first = row
                    tally.prompts += 1
                    new_split = TRAIN
                    if test_fraction > 0:
                        new_split = split_of(current, seed=seed, test_fraction=test_fraction)
                    if new_split != split:
                        if run:
                            sink.write(writer, run, split)
                            rows_count[split] += len(run)
                            written += len(run)
                            run = []
                            append = run.append
                        writer = writers.get(new_split)
                        if writer is None:
                            # Opened on the split's first prompt, and listed in the report from then on, as the
                            # general path does, whether or not the prompt gives rows.
                            writer = writers[new_split] = outputs.writer(new_split)
                            rows_count[new_split] += 0
                        split = new_split
                elif several is None:
                    several = [first, row]
                else:
                    several.append(row)
                read += 1
                # rows.TrlPairwise's order of decisions: a dropped tie, then an empty response, then a kept tie.
                if row[TIE]:
                    if not keep_ties:
                        ties_dropped += 1
                        continue
                if drop_empty and not (row[CHOSEN].strip() and row[REJECTED].strip()):
                    dropped_empty += 1
                    continue
                if row[TIE]:
                    ties_kept += 1
                append(row)
            tally.by_judge.update(map(judge_of, batch))
            if run:
                sink.write(writer, run, split)
                rows_count[split] += len(run)
                written += len(run)
                run = []
                append = run.append
            sink.flush()
        if several is not None:
            _agreement(several, agreement)
        if progress is not None and current is not None:
            progress(read, total, written)
        if read != total:
            raise NotPairwise(f"read {read} of {total} judgments (changed while reading?)")
    tally.close_pairs(read, ties_dropped=ties_dropped, ties_kept=ties_kept, dropped_empty=dropped_empty)
    return tally


__all__ = ["NotPairwise", "export_pairs", "refusal"]
