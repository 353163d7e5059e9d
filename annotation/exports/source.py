"""Streaming reads of a project's judgments, one prompt at a time, in bounded memory.

Three ordered streams are merged by prompt id: the prompts, their responses, and the judgments with their placements
(one row per placement). Each is sorted by prompt id, so a prompt's rows arrive together and nothing outlives its
prompt: memory is bounded by the largest prompt, not by the project.

Why three streams and not one join: a join carries the prompt text once per placement and makes PostgreSQL sort the
texts or look them up per judgment (docs/benchmarks.md).

On PostgreSQL, outside a transaction, each stream is a server-side cursor on its own connection, the three sharing
one exported snapshot (REPEATABLE READ, read only), and a thread per stream fetches one batch ahead, so the server
produces rows on the other core while Python formats them. Inside a transaction (a test, a
caller's atomic block) the streams are server-side cursors on the caller's connection, which sees its uncommitted
rows. SQLite reads with plain cursors, from a connection of its own in one read transaction when it can (a
consistent snapshot), else from the caller's.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import connection

from annotation.exports.options import ExportFilters

logger = logging.getLogger(__name__)

CHUNK = 5000  # rows fetched at a time


class Response:
    __slots__ = ("id", "external_id", "text", "generator", "_conversation")

    def __init__(self, pk: int, external_id: str, text: str, generator: str, conversation: str | None) -> None:
        self.id = pk
        self.external_id = external_id
        self.text = text
        self.generator = generator
        self._conversation: Any = conversation  # JSON text until first read

    @property
    def conversation(self) -> list[dict[str, str]] | None:
        value = self._conversation
        if isinstance(value, str):
            value = self._conversation = json.loads(value)
        return value


class Judgment:
    """One judgment of the prompt: placements are (response id, rank, score), best first; `extra` holds the raw
    format's columns (created_at, source, criteria, rationale, shown_order, duration_ms, import_job_id, metadata)."""

    __slots__ = ("id", "comparison_id", "judge_id", "margin", "strength", "status", "placements", "extra")

    def __init__(self, row: Sequence[Any], extra: tuple[Any, ...] | None) -> None:
        self.id, self.comparison_id, self.judge_id, self.margin, self.strength, self.status = row[1:7]
        self.placements: list[tuple[int, int, float | None]] = []
        self.extra = extra


class PromptGroup:
    """A prompt with its responses (by id) and the judgments of its comparisons that passed the filters."""

    __slots__ = ("id", "external_id", "category", "text", "_messages", "responses", "judgments")

    def __init__(self, row: Sequence[Any]) -> None:
        self.id, self.external_id, self.category, self.text, self._messages = row[:5]
        self.responses: dict[int, Response] = {}
        self.judgments: list[Judgment] = []

    @property
    def messages(self) -> list[dict[str, str]]:
        value = self._messages
        if value is None:
            value = self._messages = [{"role": "user", "content": self.text}]
        elif isinstance(value, str):
            value = self._messages = json.loads(value)
        return value

    @property
    def single_user_turn(self) -> bool:
        """The prompt is one user message (its text is `text`): the common case that needs no JSON."""
        return self.text is not None


# --- SQL -------------------------------------------------------------------------------------------------------------

FULL_COLUMNS = (
    "j.created_at",
    "j.source",
    "{criteria}",
    "j.rationale",
    "{shown_order}",
    "j.duration_ms",
    "j.import_job_id",
    "{metadata}",
)


def judgment_conditions(
    *, project_id: int, filters: ExportFilters, judge_ids: list[int] | None, postgres: bool
) -> tuple[list[str], list[Any]]:
    """The WHERE terms on `annotation_judgment j` that the filters ask for (all but categories and agreement), with
    their parameters: shared by every query that selects an export's judgments, so they select the same ones."""
    where = ["j.project_id = %s"]
    params: list[Any] = [project_id]
    if filters.active_only:
        where.append("j.status = 'active'")
    if judge_ids is not None:
        where.append(f"j.judge_id IN ({', '.join(['%s'] * len(judge_ids))})" if judge_ids else "1 = 0")
        params += judge_ids
    for bound, op in ((filters.date_from, ">="), (filters.date_to, "<")):
        if bound is not None:
            where.append(f"j.created_at {op} %s")
            params.append(bound if postgres else connection.ops.adapt_datetimefield_value(bound))
    if filters.max_suspicion is not None:
        where.append(f"NOT {SUSPICIOUS}")
        params += [filters.suspicion_detector, filters.max_suspicion]
    return where, params


# A judgment whose flag from the chosen detector scores above the threshold; the flag's unique (judgment, detector)
# index answers it.
SUSPICIOUS = (
    "EXISTS (SELECT 1 FROM annotation_labelflag f WHERE f.judgment_id = j.id AND f.detector = %s AND f.score > %s)"
)


class Query:
    """The three stream queries for one export, with their parameters."""

    def __init__(
        self, *, project_id: int, filters: ExportFilters, judge_ids: list[int] | None, full: bool, vendor: str
    ) -> None:
        self.postgres = vendor == "postgresql"
        self.full = full
        pg = self.postgres

        def as_text(column: str) -> str:
            return f"{column}::text" if pg else column

        judgment_where, judgment_params = judgment_conditions(
            project_id=project_id, filters=filters, judge_ids=judge_ids, postgres=pg
        )

        prompt_where = ["p.project_id = %s"]
        prompt_params: list[Any] = [project_id]
        if filters.categories:
            prompt_where.append(f"p.category IN ({', '.join(['%s'] * len(filters.categories))})")
            prompt_params += list(filters.categories)
        if filters.selects_judgments:
            # Only prompts with a judgment that passes: a filter on one judge of many need not stream every text.
            inner = " AND ".join(judgment_where)
            prompt_where.append(
                "EXISTS (SELECT 1 FROM annotation_comparison c JOIN annotation_judgment j ON j.comparison_id = c.id "
                f"WHERE c.prompt_id = p.id AND {inner})"
            )
            prompt_params += judgment_params

        if pg:
            single = "jsonb_array_length(p.messages) = 1 AND p.messages->0->>'role' = 'user'"
            content = "p.messages->0->>'content'"
        else:
            single = "json_array_length(p.messages) = 1 AND json_extract(p.messages, '$[0].role') = 'user'"
            content = "json_extract(p.messages, '$[0].content')"
        where = " AND ".join(prompt_where)
        self.prompts = (
            f"SELECT p.id, p.external_id, p.category, CASE WHEN {single} THEN {content} END, "
            f"CASE WHEN {single} THEN NULL ELSE {as_text('p.messages')} END "
            f"FROM annotation_prompt p WHERE {where} ORDER BY p.id",
            list(prompt_params),
        )
        # (prompt_id, external_id) is the unique index: rows come in prompt order without a sort of the texts.
        self.responses = (
            f"SELECT r.prompt_id, r.id, r.external_id, r.text, r.generator, {as_text('r.conversation')} "
            f"FROM annotation_response r JOIN annotation_prompt p ON p.id = r.prompt_id WHERE {where} "
            "ORDER BY r.prompt_id, r.external_id",
            list(prompt_params),
        )
        extra = ""
        if full:
            extra = ", " + ", ".join(
                c.format(
                    criteria=as_text("j.criteria"),
                    shown_order=as_text("j.shown_order"),
                    metadata=as_text("j.metadata"),
                )
                for c in FULL_COLUMNS
            )
        join_prompt = ""
        where_judgments = list(judgment_where)
        params = list(judgment_params)
        if filters.categories:
            join_prompt = " JOIN annotation_prompt p ON p.id = c.prompt_id"
            where_judgments.append(f"p.category IN ({', '.join(['%s'] * len(filters.categories))})")
            params += list(filters.categories)
        self.judgments = (
            f"SELECT c.prompt_id, j.id, j.comparison_id, j.judge_id, j.margin, j.strength, j.status{extra}, "
            "pl.response_id, pl.rank, pl.score FROM annotation_judgment j "
            "JOIN annotation_comparison c ON c.id = j.comparison_id "
            f"JOIN annotation_placement pl ON pl.judgment_id = j.id{join_prompt} "
            f"WHERE {' AND '.join(where_judgments)} ORDER BY c.prompt_id, j.id, pl.rank, pl.response_id",
            params,
        )
        join_comparison = " JOIN annotation_comparison c ON c.id = j.comparison_id" if join_prompt else ""
        self.count = (
            f"SELECT COUNT(*) FROM annotation_judgment j{join_comparison}{join_prompt} "
            f"WHERE {' AND '.join(where_judgments)}",
            params,
        )


# --- streams ---------------------------------------------------------------------------------------------------------


def _cursor_rows(cursor: Any, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    for batch in cursor_batches(cursor, sql, params):
        yield from batch


def cursor_batches(
    cursor: Any, sql: str, params: list[Any], size: int | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `sql` in lists of `size` (default CHUNK)."""
    size = size or CHUNK
    cursor.execute(sql, params)
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            return
        yield rows


@contextmanager
def open_streams(query: Query) -> Iterator[list[Iterator[tuple[Any, ...]]]]:
    """The prompt, response and judgment streams of `query`, each an iterator of tuples."""
    specs = [query.prompts, query.responses, query.judgments]
    with ExitStack() as stack:
        if query.postgres and not connection.in_atomic_block:
            yield _postgres_parallel(stack, specs)
        elif query.postgres:
            connection.ensure_connection()
            raw = connection.connection
            streams = []
            for index, (sql, params) in enumerate(specs):
                cursor = stack.enter_context(raw.cursor(name=f"export_stream_{index}"))
                streams.append(_cursor_rows(cursor, sql, params))
            yield streams
        else:
            yield _sqlite_streams(stack, specs)


def postgres_readers(stack: ExitStack, count: int, *, work_mem: str = "64MB") -> list[Any]:
    """`count` psycopg connections of their own, each in a read-only REPEATABLE READ transaction on one exported
    snapshot (so every query on any of them sees the same data), closed when `stack` unwinds."""
    import psycopg
    from psycopg import sql as pgsql

    params = connection.get_connection_params()
    conns = []
    for _ in range(count):
        conn = psycopg.connect(**params)
        stack.callback(conn.close)  # closing without commit ends the read-only transaction
        conns.append(conn)
    for conn in conns:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
    if count > 1:
        snapshot = conns[0].execute("SELECT pg_export_snapshot()").fetchone()[0]
        for conn in conns[1:]:
            conn.execute(pgsql.SQL("SET TRANSACTION SNAPSHOT {}").format(pgsql.Literal(snapshot)))
    for conn in conns:
        # The judgment stream sorts ~40 bytes a placement: enough work_mem keeps that off disk. Parallel workers
        # would take the core the exporter itself needs.
        conn.execute(pgsql.SQL("SET LOCAL work_mem = {}").format(pgsql.Literal(work_mem)))
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        conn.execute("SET LOCAL jit = off")
    return conns


def _postgres_parallel(stack: ExitStack, specs: list[tuple[str, list[Any]]]) -> list[Iterator[Any]]:
    conns = postgres_readers(stack, len(specs))
    return [
        _prefetched(stack, conn, index, sql, p) for index, (conn, (sql, p)) in enumerate(zip(conns, specs, strict=True))
    ]


_DONE = object()
T = TypeVar("T")


def _prefetched(stack: ExitStack, conn: Any, index: int, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    for batch in prefetched_batches(stack, conn, f"export_stream_{index}", sql, params):
        yield from batch


def prefetched_batches(
    stack: ExitStack,
    conn: Any,
    name: str,
    sql: str,
    params: list[Any],
    *,
    binary: bool = False,
    size: int | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """A server-side cursor read by a thread one batch (of `size` rows, default CHUNK) ahead: while Python formats
    rows, the thread waits for the next FETCH without the GIL, so the server produces on the other core."""
    size = size or CHUNK
    cursor = conn.cursor(name=name, binary=binary)

    def fetch() -> Iterator[list[tuple[Any, ...]]]:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows

    return read_ahead(stack, name, fetch)


def read_ahead(stack: ExitStack, name: str, produce: Callable[[], Iterator[T]], depth: int = 2) -> Iterator[T]:
    """The items of `produce()`, made by a thread of their own up to `depth` ahead of the consumer. The thread
    stops when `stack` unwinds (before the connections it reads close: callbacks unwind in reverse order); an error
    it meets is raised to the consumer."""
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            put(error)

    thread = threading.Thread(target=pump, name=name.replace("_", "-"), daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(timeout=60)

    stack.callback(finish)

    def consume() -> Iterator[T]:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    return consume()


def _sqlite_streams(stack: ExitStack, specs: list[tuple[str, list[Any]]]) -> list[Iterator[Any]]:
    if connection.in_atomic_block:
        cursors = [stack.enter_context(connection.cursor()) for _ in specs]
        return [_cursor_rows(c, sql, p) for c, (sql, p) in zip(cursors, specs, strict=True)]
    conn = sqlite_reader(stack)
    cursors = [conn.cursor() for _ in specs]
    return [_cursor_rows(c, sql.replace("%s", "?"), p) for c, (sql, p) in zip(cursors, specs, strict=True)]


def sqlite_reader(stack: ExitStack) -> Any:
    """A sqlite3 connection of its own in one read transaction (one snapshot for every query on it), closed when
    `stack` unwinds. Its queries take `?` placeholders, not Django's `%s`."""
    conn = connection.get_new_connection(connection.get_connection_params())
    stack.callback(conn.close)
    conn.isolation_level = None  # we issue BEGIN ourselves: one read transaction, one snapshot for all three
    conn.execute("BEGIN")
    stack.callback(lambda: conn.execute("ROLLBACK") if conn.in_transaction else None)
    return conn


# --- grouping --------------------------------------------------------------------------------------------------


def _judgments_by_prompt(rows: Iterator[tuple[Any, ...]], full: bool) -> Iterator[tuple[int, list[Judgment]]]:
    prompt_id = None
    judgments: list[Judgment] = []
    current: Judgment | None = None
    for row in rows:
        if row[0] != prompt_id:
            if judgments:
                yield prompt_id, judgments  # type: ignore[misc]
            prompt_id = row[0]
            judgments = []
            current = None
        if current is None or current.id != row[1]:
            current = Judgment(row, tuple(row[7:15]) if full else None)
            judgments.append(current)
        current.placements.append((row[-3], row[-2], row[-1]))
    if judgments:
        yield prompt_id, judgments  # type: ignore[misc]


def iter_prompt_groups(query: Query) -> Iterator[PromptGroup]:
    """Every prompt with at least one matching judgment, in prompt id order, with its responses and judgments."""
    with open_streams(query) as (prompts, responses, judgments):
        pending: tuple[Any, ...] | None = next(responses, None)
        prompt_row: tuple[Any, ...] | None = None
        for prompt_id, prompt_judgments in _judgments_by_prompt(judgments, query.full):
            while prompt_row is None or prompt_row[0] < prompt_id:
                prompt_row = next(prompts, None)
                if prompt_row is None:
                    return
            if prompt_row[0] != prompt_id:
                continue  # filtered out by category (the judgment stream is filtered too; kept for safety)
            group = PromptGroup(prompt_row)
            while pending is not None and pending[0] < prompt_id:
                pending = next(responses, None)
            while pending is not None and pending[0] == prompt_id:
                group.responses[pending[1]] = Response(*pending[1:])
                pending = next(responses, None)
            group.judgments = prompt_judgments
            yield group


def count_judgments(query: Query) -> int:
    sql, params = query.count
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def iso_timestamp(value: Any) -> str | None:
    """created_at as ISO 8601 UTC: PostgreSQL gives datetimes, SQLite (raw SQL) the stored text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


__all__ = [
    "Judgment",
    "PromptGroup",
    "Query",
    "Response",
    "SUSPICIOUS",
    "count_judgments",
    "cursor_batches",
    "iter_prompt_groups",
    "iso_timestamp",
    "judgment_conditions",
    "postgres_readers",
    "prefetched_batches",
    "sqlite_reader",
]
