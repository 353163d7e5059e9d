"""The pairwise fast path's Parquet lane on PostgreSQL: the rows arrive as Arrow record batches and never become
Python objects.

`fast.export_pairs` reads pair_source's rows as Python tuples and makes Arrow arrays of them again for Parquet: on
1M judgments ~3 s of parsing in the fetch thread and ~4 s of per-row work and conversion in the main thread, all under
the GIL, beside the server on a 2-core machine. Here ADBC's PostgreSQL driver (Apache Arrow's own, in C++) runs the
same query as a binary `COPY` and decodes it straight into record batches; the per-row decisions (ties, empty
responses, splits, counts, agreement) are made on whole columns with pyarrow.compute and numpy, and only the rows of
prompts judged more than once become Python values (for the agreement). What it writes and reports is exactly what
`fast.export_pairs` (and so the general path) writes and reports: tests/annotation/exports/test_fast_path.py compares
the files byte for byte.

It runs only where it can see what the export must see: PostgreSQL, outside a transaction (its connection reads in
a snapshot exported by the count's connection, so count and rows agree), and with `adbc-driver-postgresql`
installed. ADBC binds no parameters to a `COPY`, so the query's values are inlined by psycopg's client-side quoting.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from annotation.analysis.split import TEST, TRAIN, split_of
from annotation.exports import source
from annotation.exports.options import ExportSpec
from annotation.exports.outputs import Outputs
from annotation.exports.pair_rules import Members, NotPairwise, prompt_agreement
from annotation.exports.pair_sinks import Judges
from annotation.exports.pair_source import (
    BETTER,
    CATEGORY,
    CHOSEN,
    CHOSEN_ID,
    COMPARISON,
    JUDGE,
    JUDGMENT,
    MARGIN,
    PROMPT,
    PROMPT_ID,
    REJECTED,
    REJECTED_ID,
    TIE,
    WORSE,
    PairQuery,
    merge_plan,
)
from annotation.exports.tally import Tally

Progress = Callable[[int, int, int], None]
SPLITS = (TRAIN, TEST)
# The driver's record batches (its size hint, in bytes): ~3,000 rows of the benchmark's pairs; with one read ahead
# and the writer's row group in flight, well inside the export's memory bound.
BATCH_BYTES = 4 * 1024 * 1024

# ASCII characters Python's str.strip() removes (str.isspace): the rest it removes are all non-ASCII.
_ASCII_SPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def available() -> bool:
    return importlib.util.find_spec("adbc_driver_postgresql") is not None


def applies(file_type: str) -> bool:
    """Is this lane the one for an export of `file_type` on the default connection, now?"""
    return (
        file_type == "parquet" and connection.vendor == "postgresql" and not connection.in_atomic_block and available()
    )


def _conninfo() -> str:
    """libpq's connection string for Django's database (psycopg's own connection options left out)."""
    import psycopg
    from psycopg.pq import Conninfo

    keywords = {option.keyword.decode() for option in Conninfo.get_defaults()}
    params = {k: v for k, v in connection.get_connection_params().items() if k in keywords and v not in (None, "")}
    return psycopg.conninfo.make_conninfo(**params)


@contextmanager
def open_batches(query: PairQuery) -> Iterator[tuple[int, Iterator[pa.RecordBatch]]]:
    """(judgments the filters select, pair_source's rows as record batches), both in one snapshot."""
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg
    from psycopg import sql as pgsql

    rows_sql, rows_params = query.rows
    count_sql, count_params = query.count
    with ExitStack() as stack:
        (conn,) = source.postgres_readers(stack, 1)
        total = int(conn.execute(count_sql, count_params).fetchone()[0])
        merge = merge_plan(conn, total)
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        rows = psycopg.ClientCursor(conn).mogrify(rows_sql, rows_params)
        reader_conn = stack.enter_context(adbc.connect(_conninfo(), autocommit=True))
        cursor = stack.enter_context(reader_conn.cursor())
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute(pgsql.SQL("SET TRANSACTION SNAPSHOT {}").format(pgsql.Literal(snapshot)).as_string(conn))
        # As source.postgres_readers sets for its connections, with pair_source's sort memory and merge plan.
        for setting in ("work_mem = '256MB'", "max_parallel_workers_per_gather = 0", "jit = off"):
            cursor.execute(f"SET LOCAL {setting}")
        if merge:
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
        cursor.execute(rows)
        reader = cursor.fetch_record_batch()
        # Read by a thread of its own (the driver decodes without the GIL), so that the server streams rows while
        # this thread filters and writes the last batch.
        yield total, source.read_ahead(stack, "export_arrow", lambda: iter(reader), depth=1)


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
    """Judge names and kinds by judge id, as Arrow arrays to take from (Judges' stand-in for an unknown id)."""

    def __init__(self, judges: Judges) -> None:
        self.judges = judges
        self.ids: list[int] = []
        self.names = self.kinds = pa.array([], pa.string())

    def take(self, judge_ids: pa.Array) -> tuple[pa.Array, pa.Array]:
        known = set(self.ids)
        new = [j for j in pc.unique(judge_ids).to_pylist() if j not in known]
        if new:
            self.ids += new
            self.names = pa.array([self.judges[j][0] for j in self.ids], pa.string())
            self.kinds = pa.array([self.judges[j][1] for j in self.ids], pa.string())
        index = pc.index_in(judge_ids, value_set=pa.array(self.ids, pa.int64()))
        return self.names.take(index), self.kinds.take(index)


class _Prompts:
    """The prompt runs of consecutive batches: counts, splits and the agreement of prompts judged more than once."""

    def __init__(self, tally: Tally, outputs: Outputs, *, test_fraction: float, seed: int) -> None:
        self.tally = tally
        self.outputs = outputs
        self.test_fraction = test_fraction
        self.seed = seed
        self.current: str | None = None  # the prompt of the last row read (rows come by prompt)
        self.current_split = TRAIN
        self.members: Members = []  # the current prompt's judgments so far
        self.opened: set[str] = set()

    def read(self, batch: pa.RecordBatch) -> np.ndarray:
        """Count and follow the batch's prompts; returns each row's split (an index into SPLITS)."""
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
            if split not in self.opened:  # a split's file opens on its first prompt, as fast.export_pairs opens it
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
        # the last (it may go on into the next), and any of two rows or more.
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
        """The current prompt has no more rows: its agreement, when judged more than once."""
        if len(self.members) >= 2:
            prompt_agreement(self.members, self.tally.agreement)
        self.members = []


def export_pairs(
    *,
    spec: ExportSpec,
    query: PairQuery,
    judges: dict[int, tuple[str, str]],
    outputs: Outputs,
    progress: Progress | None,
) -> Tally:
    """fast.export_pairs for Parquet on PostgreSQL; raises NotPairwise in the same cases."""
    o = spec.options
    keep_ties, drop_empty = o.ties == "keep", o.drop_empty
    tally = Tally(lane="arrow")
    prompts = _Prompts(tally, outputs, test_fraction=o.test_fraction, seed=o.seed)
    judge_columns = _JudgeColumns(Judges(judges))
    names = [c.name for c in outputs.columns]
    split_names = pa.array(SPLITS, pa.string())
    ties_dropped = ties_kept = dropped_empty = written = read = 0

    with open_batches(query) as (total, batches):
        tally.judgments_total = total
        for batch in batches:
            n = batch.num_rows
            if not n:
                continue
            column = batch.column
            if column(PROMPT).null_count:  # pair_source flags what it cannot make a row of
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

            # Which rows are written, in rows.TrlPairwise's order of decisions: a dropped tie, then an empty
            # response, then a kept tie.
            tie = column(TIE).to_numpy(zero_copy_only=False)
            keep = np.ones(n, dtype=bool)
            if not keep_ties:
                ties_dropped += int(tie.sum())
                keep &= ~tie
            if drop_empty:
                blank = _blank(column(CHOSEN)) | _blank(column(REJECTED))
                dropped_empty += int((keep & blank).sum())
                keep &= ~blank
            if keep_ties:
                ties_kept += int((keep & tie).sum())
            if not keep.any():
                if progress is not None:
                    progress(read, total, written)
                continue
            kept = batch if keep.all() else batch.filter(pa.array(keep))
            kept_split = split_index[keep]
            judge_names, judge_kinds = judge_columns.take(kept.column(JUDGE))
            columns = {
                "prompt": kept.column(PROMPT),
                "chosen": kept.column(CHOSEN),
                "rejected": kept.column(REJECTED),
                "margin": kept.column(MARGIN),
                "tie": kept.column(TIE),
                "prompt_id": kept.column(PROMPT_ID),
                "chosen_id": kept.column(CHOSEN_ID),
                "rejected_id": kept.column(REJECTED_ID),
                "judge": judge_names,
                "judge_kind": judge_kinds,
                "judgment_id": kept.column(JUDGMENT),
                "category": kept.column(CATEGORY),
                "split": split_names.take(pa.array(kept_split)),
            }
            if outputs.folder:
                parts = [(SPLITS[i], kept_split == i) for i in np.unique(kept_split)]
            else:
                parts = [(SPLITS[int(kept_split[0])], None)]  # one file: every split's rows, in order
            for split, mask in parts:
                selected = columns if mask is None else {k: v.filter(pa.array(mask)) for k, v in columns.items()}
                arrays = [selected[name].cast(c.type) for name, c in zip(names, outputs.columns, strict=True)]
                outputs.writer(split).write_arrays(arrays)
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
    tally.close_pairs(read, ties_dropped=ties_dropped, ties_kept=ties_kept, dropped_empty=dropped_empty)
    return tally


__all__ = ["applies", "available", "export_pairs", "open_batches"]
