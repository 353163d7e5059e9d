"""The noise detectors' input from the database: one row per induced pair of every active judgment of a project
(`annotation.analysis.noise.records.NoiseInput`).

Pairs follow `annotation.analysis.pairs.induced_pairs` in its "all" mode (every two responses of a judgment; equal
ranks are a tie), oriented with `a` the lower response id. Two streaming queries of plain values (judgments in each
judge's time order, then placements) and array arithmetic: a million judgments become columns in seconds, with no
model instance and no Python object per pair. The caller checks permissions (`project_get`) first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, combinations
from typing import Any

import numpy as np
import orjson
from django.db import connection
from django.db.models import QuerySet

from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, UNKNOWN, NoiseInput
from annotation.models import Judge, Judgment, Placement, Project

BATCH = 50_000


def active_judgment_count(*, project: Project) -> int:
    """Active judgments of the project: what the detectors can score."""
    return Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).count()


def _shown_list(value: Any) -> list[int]:
    """One stored shown order as response ids; anything that is not a list of ids counts as not recorded."""
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return []
    return value


def _shown_batch(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """A batch of stored shown orders (JSON text on SQLite, and on PostgreSQL through Django's loader) as (lengths,
    the ids one after another). One parse of the batch joined into a JSON array; the row-by-row path only when some
    value is odd (not text, not a list of ids)."""
    lists: list[Any] | None = None
    if all(isinstance(v, str) for v in values):
        try:
            lists = orjson.loads("[" + ",".join(values) + "]")
        except orjson.JSONDecodeError:
            lists = None
    if lists is not None and all(type(v) is list for v in lists):
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        try:
            return lengths, np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(lengths.sum()))
        except (TypeError, ValueError, OverflowError):
            pass
    lists = [_shown_list(v) for v in values]
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    return lengths, np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(lengths.sum()))


def _shown_positions(
    lengths: np.ndarray, flat_response: np.ndarray, judgment_row: np.ndarray, response: np.ndarray
) -> np.ndarray:
    """For each placement (the judgment's row, the response), the response's position in that judgment's shown
    order, or -1 when it was not recorded."""
    out = np.full(len(response), -1, dtype=np.int64)
    total = len(flat_response)
    if total == 0 or not len(response):
        return out
    flat_row = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    flat_position = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    # One integer key per (judgment row, response): the shown orders sorted by it answer every placement at once.
    span = int(max(flat_response.max(initial=0), response.max(initial=0))) + 1
    keys = flat_row * span + flat_response
    order = np.argsort(keys, kind="stable")
    keys, flat_position = keys[order], flat_position[order]
    wanted = judgment_row * span + response
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found = keys[at] == wanted
    out[found] = flat_position[at[found]]
    return out


@dataclass
class _Judgments:
    """The project's active judgments in each judge's time order, as columns."""

    ids: np.ndarray
    comparisons: np.ndarray
    prompts: np.ndarray
    judges: np.ndarray
    durations: np.ndarray
    order_keys: list[str]
    shown_lengths: np.ndarray
    shown_flat: np.ndarray


def _read_judgments(project: Project) -> _Judgments:
    judgments = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE)
    # Each judge's work in time order (ties in time by id): the position in this order is `judge_sequence`.
    query = judgments.order_by("judge_id", "created_at", "id").values_list(
        "id", "comparison_id", "comparison__prompt_id", "judge_id", "duration_ms", "order_key", "shown_order"
    )
    numbers: list[list[np.ndarray]] = [[], [], [], [], []]
    order_keys: list[str] = []
    lengths: list[np.ndarray] = []
    flats: list[np.ndarray] = []
    for rows in _batches(query):
        columns = list(zip(*rows, strict=True))  # transposed in C, a batch at a time: bounded memory
        for into, values, dtype in zip(numbers, columns[:5], [np.int64] * 4 + [np.float64], strict=True):
            into.append(np.array(values, dtype=dtype))  # a None duration becomes NaN
        order_keys.extend(columns[5])
        batch_lengths, batch_flat = _shown_batch(columns[6])
        lengths.append(batch_lengths)
        flats.append(batch_flat)

    def joined(blocks: list[np.ndarray], dtype: Any = np.int64) -> np.ndarray:
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype)

    ids, comparisons, prompts, judges = (joined(block) for block in numbers[:4])
    return _Judgments(
        ids, comparisons, prompts, judges, joined(numbers[4], np.float64), order_keys, joined(lengths), joined(flats)
    )


def noise_input_for_project(*, project: Project) -> NoiseInput:
    """Every induced pair of the project's active judgments, as the detectors' columns."""
    read = _read_judgments(project)
    judgment_id, judge_id = read.ids, read.judges
    n = len(judgment_id)
    starts = np.flatnonzero(np.r_[True, judge_id[1:] != judge_id[:-1]]) if n else np.zeros(0, dtype=np.int64)
    sequence = np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(np.r_[starts, n]))
    distinct_keys = sorted(set(read.order_keys) - {""})
    key_code = {key: code for code, key in enumerate(distinct_keys, start=1)}
    order_key = np.fromiter((key_code.get(key, 0) for key in read.order_keys), dtype=np.int64, count=n)
    humans = set(Judge.objects.filter(project=project, kind=Judge.Kind.HUMAN).values_list("pk", flat=True))
    is_human = np.isin(judge_id, np.array(sorted(humans), dtype=np.int64))

    placed = Placement.objects.filter(judgment__project=project, judgment__status=Judgment.Status.ACTIVE)
    query = placed.order_by("judgment_id", "response_id").values_list("judgment_id", "response_id", "rank")
    blocks = [np.array(block, dtype=np.int64) for block in _batches(query)]
    place = np.concatenate(blocks) if blocks else np.zeros((0, 3), dtype=np.int64)
    # Placements of the judgments read above only (one written between the two queries is left for the next run).
    by_id = np.argsort(judgment_id, kind="stable")
    at = np.minimum(np.searchsorted(judgment_id[by_id], place[:, 0]), max(n - 1, 0))
    known = (judgment_id[by_id][at] == place[:, 0]) if n else np.zeros(len(place), dtype=bool)
    place, row = place[known], by_id[at[known]]
    position = _shown_positions(read.shown_lengths, read.shown_flat, row, place[:, 1])

    pair_rows, pair_a, pair_b = _pair_indices(place[:, 0])
    rank_a, rank_b = place[pair_a, 2], place[pair_b, 2]
    outcome = np.where(rank_a < rank_b, A_WINS, np.where(rank_a == rank_b, TIE, B_WINS)).astype(np.int8)
    pos_a, pos_b = position[pair_a], position[pair_b]
    shown_first = np.where((pos_a >= 0) & (pos_b >= 0), (pos_a < pos_b).astype(np.int8), UNKNOWN).astype(np.int8)
    j = row[pair_rows]
    result = NoiseInput(
        judgment_id=judgment_id[j],
        comparison_id=read.comparisons[j],
        prompt_id=read.prompts[j],
        judge_id=judge_id[j],
        judge_is_human=is_human[j],
        response_a=place[pair_a, 1],
        response_b=place[pair_b, 1],
        outcome=outcome,
        a_shown_first=shown_first,
        order_key=order_key[j],
        duration_ms=read.durations[j],
        judge_sequence=sequence[j],
    )
    order = np.lexsort((result.response_b, result.response_a, result.judgment_id))
    return NoiseInput(**{name: getattr(result, name)[order] for name in result.__dataclass_fields__})


def _batches(query: QuerySet) -> Iterator[list[tuple[Any, ...]]]:
    """A values_list queryset's rows straight from the cursor, a batch at a time: no per-row objects or conversions
    from Django."""
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            yield rows


def _pair_indices(judgment: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Placements sorted by (judgment, response): for every two placements of one judgment, (the first's index
    again, for the judgment, the lower response's index, the higher one's). Judgments are grouped by size, so a
    list of k responses costs k(k-1)/2 vector operations, not a Python loop per judgment."""
    if not len(judgment):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.r_[True, judgment[1:] != judgment[:-1]])
    sizes = np.diff(np.r_[starts, len(judgment)])
    firsts, lows, highs = [], [], []
    for size in np.unique(sizes):
        group = starts[sizes == size]
        for i, j in combinations(range(int(size)), 2):
            firsts.append(group)
            lows.append(group + i)
            highs.append(group + j)
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(firsts), np.concatenate(lows), np.concatenate(highs)
