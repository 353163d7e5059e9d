"""The pair reader: one pair record (rows.PAIR_RECORD) per pairwise judgment, its texts included, in (prompt id,
judgment id) order: as Python tuples in batches (`open_pairs`) or, for Parquet on PostgreSQL, as Arrow record batches
from ADBC's driver (`open_batches`), both from the same query.

The query finds each judgment's better and worse response in one grouped pass over the placements (see `lo`/`hi`
below), in a subquery sorted by (prompt id, judgment id) that carries no text, then joins the prompt and the two
responses on the prompt id. On PostgreSQL, when the export reads a large share of the tables, hash and nested-loop
joins are switched off, so the texts arrive by merge joins over the prompt id indexes in output order and only the
narrow subquery is sorted (docs/benchmarks.md). The response joins match the response id through `IS TRUE`, which
the planner cannot use as a merge key, so it merges on the prompt id alone and checks the id per row.

What a record cannot be made of is flagged, never dropped, so the caller can fall back to the general path: the
`prompt` field is NULL unless the prompt is in the project and is one user message, the judgment has exactly two
placements, and both responses are the prompt's own and have no conversation of their own. `count` (the general
path's count query, in the same snapshot) must equal the records read.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pyarrow as pa
from django.db import connection

from annotation.exports import source
from annotation.exports.options import ExportFilters
from annotation.exports.rows import PAIR_RECORD
from annotation.exports.source import Query, judgment_conditions

# Positions in a pair record; the query selects its fields in PAIR_RECORD's order.
PROMPT, CHOSEN, REJECTED, MARGIN, TIE, PROMPT_ID, CHOSEN_ID, REJECTED_ID = range(8)
JUDGE, JUDGMENT, CATEGORY, COMPARISON, BETTER, WORSE = range(8, len(PAIR_RECORD))
# The driver's record batches (its size hint, in bytes): with one read ahead and the writer's row group in flight,
# well inside the export's memory bound.
BATCH_BYTES = 4 * 1024 * 1024

# Merge joins read the tables whole, not only the project's rows: worth it when the export selects at least this
# share of the judgment table (PostgreSQL's estimate) and this many judgments; otherwise the planner chooses.
MERGE_MIN_SHARE = 0.25
MERGE_MIN_JUDGMENTS = 20_000


class PairQuery:
    """The fast path's row query and the general path's count query, for one export's filters."""

    def __init__(
        self, *, project_id: int, filters: ExportFilters, judge_ids: list[int] | None, margin: str, vendor: str
    ) -> None:
        pg = self.postgres = vendor == "postgresql"
        where, params = judgment_conditions(project_id=project_id, filters=filters, judge_ids=judge_ids, postgres=pg)
        join_category = ""
        if filters.categories:
            join_category = " JOIN annotation_prompt cp ON cp.id = c.prompt_id"
            where.append(f"cp.category IN ({', '.join(['%s'] * len(filters.categories))})")
            params += list(filters.categories)
        if pg:
            single = "jsonb_array_length(p.messages) = 1 AND p.messages->0->>'role' = 'user'"
            content = "p.messages->0->>'content'"
            real = "float8"
            same_a, same_b = "(ra.id = k.a) IS TRUE", "(rb.id = k.b) IS TRUE"
        else:
            single = "json_array_length(p.messages) = 1 AND json_extract(p.messages, '$[0].role') = 'user'"
            content = "json_extract(p.messages, '$[0].content')"
            real = "REAL"
            same_a, same_b = "ra.id = k.a", "rb.id = k.b"
        # TRL's margin (pairs.pair_margin): 0 for a tie, else the judgment's margin, else its strength + 1, else 0.
        if margin == "strength":
            margin_sql = (
                f"CAST(CASE WHEN k.rank_a = k.rank_b THEN 0.0 WHEN k.margin IS NOT NULL THEN k.margin "
                f"WHEN k.strength IS NOT NULL THEN k.strength + 1 ELSE 0.0 END AS {real})"
            )
        else:
            margin_sql = f"CAST(0.0 AS {real})"  # no margin column; the row keeps its shape
        # A placement (rank, response id) as one number ordered as the pair: rank * 2^40 + id. min() and max() over a
        # judgment's two placements are then its better and worse one (for a tie, the lower id first), read in one
        # grouped pass over the placement index instead of a self-join. Exact for ids below 2^40 (checked).
        shift = 1 << 40
        fit = (
            f"p.project_id = %s AND {single} AND k.n = 2 AND k.top < {shift} "
            "AND ra.id IS NOT NULL AND rb.id IS NOT NULL AND ra.conversation IS NULL AND rb.conversation IS NULL"
        )
        self.rows = (
            f"SELECT CASE WHEN {fit} THEN {content} END, ra.text, rb.text, {margin_sql}, k.rank_a = k.rank_b, "
            "p.external_id, ra.external_id, rb.external_id, k.judge_id, k.id, p.category, k.comparison_id, k.a, k.b "
            "FROM (SELECT c.prompt_id, j.id, j.judge_id, j.comparison_id, j.margin, j.strength, pl.n, pl.top, "
            f"pl.lo - pl.lo / {shift} * {shift} AS a, pl.hi - pl.hi / {shift} * {shift} AS b, "
            f"pl.lo / {shift} AS rank_a, pl.hi / {shift} AS rank_b "
            f"FROM annotation_judgment j JOIN annotation_comparison c ON c.id = j.comparison_id{join_category} "
            "LEFT JOIN (SELECT judgment_id, COUNT(*) AS n, MAX(response_id) AS top, "
            f"MIN(rank * {shift} + response_id) AS lo, MAX(rank * {shift} + response_id) AS hi "
            "FROM annotation_placement GROUP BY judgment_id) pl ON pl.judgment_id = j.id "
            f"WHERE {' AND '.join(where)} ORDER BY c.prompt_id, j.id) k "
            "LEFT JOIN annotation_prompt p ON p.id = k.prompt_id "
            f"LEFT JOIN annotation_response ra ON ra.prompt_id = k.prompt_id AND {same_a} "
            f"LEFT JOIN annotation_response rb ON rb.prompt_id = k.prompt_id AND {same_b} "
            "ORDER BY k.prompt_id, k.id",
            [project_id, *params],
        )
        # Exactly the general path's count (judgments_total), so the two paths report the same.
        self.count = Query(project_id=project_id, filters=filters, judge_ids=judge_ids, full=False, vendor=vendor).count


def merge_plan(conn: Any, total: int) -> bool:
    if total < MERGE_MIN_JUDGMENTS:
        return False
    estimate = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'annotation_judgment'::regclass").fetchone()
    return estimate is None or estimate[0] < 0 or total >= MERGE_MIN_SHARE * estimate[0]


def _sqlite_rows(batches: Iterator[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
    """SQLite gives the tie flag as 0 or 1: made a bool, as PostgreSQL gives it (Parquet's bool column needs one)."""
    for batch in batches:
        yield [(*row[:TIE], bool(row[TIE]), *row[TIE + 1 :]) for row in batch]


@contextmanager
def open_pairs(query: PairQuery) -> Iterator[tuple[int, Iterator[list[tuple[Any, ...]]]]]:
    """(judgments the filters select, the rows in batches), both read in one snapshot."""
    rows_sql, rows_params = query.rows
    count_sql, count_params = query.count
    # A record carries what ~5 rows of the general streams carry: a quarter as many a batch bounds memory.
    size = max(1, source.CHUNK // 4)
    with ExitStack() as stack:
        if query.postgres and not connection.in_atomic_block:
            # A connection of its own (the caller's may be in autocommit): one REPEATABLE READ transaction, so the
            # count and the rows agree; the sort of the narrow subquery (~130 bytes a judgment) stays in memory.
            (conn,) = source.postgres_readers(stack, 1, work_mem="256MB")
            total = int(conn.execute(count_sql, count_params).fetchone()[0])
            if merge_plan(conn, total):
                conn.execute("SET LOCAL enable_hashjoin = off")
                conn.execute("SET LOCAL enable_nestloop = off")
            # Binary rows: ids and floats cost less to load than their text.
            yield (
                total,
                source.prefetched_batches(stack, conn, "export_pairs", rows_sql, rows_params, binary=True, size=size),
            )
        elif query.postgres:
            connection.ensure_connection()
            raw = connection.connection
            with raw.cursor() as cursor:
                total = int(cursor.execute(count_sql, count_params).fetchone()[0])
            cursor = stack.enter_context(raw.cursor(name="export_pairs", binary=True))
            yield total, source.cursor_batches(cursor, rows_sql, rows_params, size)
        elif connection.in_atomic_block:
            cursor = stack.enter_context(connection.cursor())
            cursor.execute(count_sql, count_params)
            total = int(cursor.fetchone()[0])
            yield total, _sqlite_rows(source.cursor_batches(cursor, rows_sql, rows_params, size))
        else:
            conn = source.sqlite_reader(stack)
            total = int(conn.execute(count_sql.replace("%s", "?"), count_params).fetchone()[0])
            cursor = conn.cursor()
            yield total, _sqlite_rows(source.cursor_batches(cursor, rows_sql.replace("%s", "?"), rows_params, size))


def arrow_available() -> bool:
    return importlib.util.find_spec("adbc_driver_postgresql") is not None


def arrow_applies(file_type: str) -> bool:
    """Is `open_batches` the reader for an export of `file_type` on the default connection, now? It needs
    PostgreSQL outside a transaction (its own snapshot) and the ADBC driver; only Parquet gains from it."""
    return (
        file_type == "parquet"
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and arrow_available()
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
    """(judgments the filters select, the records as Arrow record batches), both in one snapshot. ADBC binds no
    parameters to the `COPY` it runs, so the values are inlined by psycopg's client-side quoting."""
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
        # As source.postgres_readers sets for its connections, with open_pairs' sort memory and merge plan.
        for setting in ("work_mem = '256MB'", "max_parallel_workers_per_gather = 0", "jit = off"):
            cursor.execute(f"SET LOCAL {setting}")
        if merge:
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
        cursor.execute(rows)
        reader = cursor.fetch_record_batch()
        # The driver decodes without the GIL: a thread of its own reads ahead while this one writes.
        yield total, source.read_ahead(stack, "export_arrow", lambda: iter(reader), depth=1)


__all__ = ["PairQuery", "arrow_applies", "merge_plan", "open_batches", "open_pairs"]
