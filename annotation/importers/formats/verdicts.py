"""The generic verdicts format: one judge's verdict on one comparison per row, from any kind of judge.

A row: a prompt (text or messages; optional prompt_id, category), two or more responses (each a string or
{id, text, generator, metadata}), the judge and its kind, the verdict (winner, ranks, scores or preference; or none:
the judge gave no usable verdict), the order the judge was shown the responses in, and optional rationale, cost,
latency_ms, raw_output and metadata. See docs/formats.md, "verdicts".
"""

from __future__ import annotations

import math
from typing import Any

from annotation.importers.formats.base import (
    JUDGE_KINDS,
    Format,
    ParseContext,
    get_list,
    get_optional_float,
    get_optional_str,
    get_str,
    parse_json_cell,
    read_responses,
    row_prompt,
    text_or_messages,
)
from annotation.importers.formats.listwise import check_ranks
from annotation.importers.formats.pairwise import prompt_messages
from annotation.importers.records import (
    ImportItem,
    JudgeRef,
    JudgmentIn,
    RowError,
    ranking_from_ranks,
    ranking_from_scores,
)

VERDICT_COLUMNS = ("winner", "ranks", "scores", "preference")
# Winner values that say the judge answered but its answer could not be read.
NO_VERDICT_WINNERS = frozenset({"error", "unparsed", "unparsable", "invalid", "none"})
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _position(token: Any, ids: list[str], field_name: str) -> int:
    """A response named by its id, or by its letter (a = the first listed)."""
    if isinstance(token, str):
        if token in ids:
            return ids.index(token)
        letter = token.strip().lower()
        if len(letter) == 1 and letter in LETTERS[: len(ids)]:
            return LETTERS.index(letter)
    raise RowError(field_name, f"{token!r} is neither a response id nor a letter a-{LETTERS[len(ids) - 1]}"[:200])


def read_shown_order(row: dict[str, Any], ids: list[str]) -> list[str] | None:
    value = row.get("shown_order")
    if _empty(value):
        return None
    value = parse_json_cell(value, "shown_order")
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")] if "," in value else list(value.strip())
    if not isinstance(value, list):
        raise RowError("shown_order", 'must be a list of response ids or letters, e.g. ["b", "a"]')
    positions = [_position(token, ids, "shown_order") for token in value]
    if sorted(positions) != list(range(len(ids))):
        raise RowError("shown_order", "must list each response exactly once")
    return [ids[p] for p in positions]


def _preference(value: Any, n: int) -> float:
    if n != 2:
        raise RowError("preference", f"is for pairs; this row has {n} responses (give ranks or scores)")
    number = get_optional_float({"preference": value}, "preference")
    if number is None or not 0.0 <= number <= 1.0:
        raise RowError("preference", f"must be the probability that a is better, between 0 and 1, got {value!r}"[:200])
    return number


def _scores(value: Any, n: int) -> list[float]:
    values = parse_json_cell(value, "scores")
    if not isinstance(values, list):
        raise RowError("scores", "must be a list with one score per response")
    if len(values) != n:
        raise RowError("scores", f"has {len(values)} scores for {n} responses")
    out = []
    for index, score in enumerate(values):
        if isinstance(score, bool) or score is None:
            raise RowError(f"scores[{index}]", "must be a number")
        try:
            number = float(score)
        except (TypeError, ValueError, OverflowError):
            raise RowError(f"scores[{index}]", f"must be a number, got {score!r}"[:200]) from None
        if not math.isfinite(number):
            raise RowError(f"scores[{index}]", "must be a finite number")
        out.append(number)
    return out


class Verdicts(Format):
    name = "verdicts"
    description = (
        "Generic judge verdicts, one judge and one comparison a row: prompt (text or messages; prompt_id, category), "
        "responses (2+; strings or {id, text, generator, metadata}), judge, judge_kind (human, llm, reward_model, "
        "reference), and winner (a / b / tie), ranks, scores or preference (P(a better)); no verdict: winner "
        "'error' or an empty verdict with raw_output. Optional shown_order, rationale, cost, latency_ms, metadata."
    )
    required = frozenset({"prompt", "responses", "judge"})

    def matches(self, columns: set[str]) -> bool:
        distinct = {"judge_kind", "winner", "preference", "shown_order", "raw_output"}
        return self.required <= columns and bool(distinct & columns)

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        prompt = prompt_messages(text_or_messages(row, "prompt"))
        responses = read_responses(get_list(row, "responses"))
        ids = [r.external_id for r in responses]
        judge = JudgeRef(name=get_str(row, "judge").strip(), kind=self._kind(row, ctx))
        shown = read_shown_order(row, ids)
        judgment = self._verdict(row, ids, ctx, row_number)
        judgment.judge = judge
        judgment.shown_order = shown
        judgment.comparison_order = ids
        judgment.rationale = get_optional_str(row, "rationale")
        latency = get_optional_float(row, "latency_ms")
        if latency is not None:
            if latency < 0:
                raise RowError("latency_ms", "must not be negative")
            judgment.duration_ms = round(latency)
        metadata = parse_json_cell(row.get("metadata"), "metadata") or {}
        if not isinstance(metadata, dict):
            raise RowError("metadata", "must be an object")
        judgment.metadata = {**metadata, **judgment.metadata}
        cost = get_optional_float(row, "cost")
        if cost is not None:
            if cost < 0:
                raise RowError("cost", "must not be negative")
            judgment.metadata["cost"] = cost
        raw_output = get_optional_str(row, "raw_output")
        if raw_output:
            judgment.metadata["raw_output"] = raw_output
        return [
            ImportItem(
                prompt=row_prompt(row, prompt),
                responses=responses,
                judgments=[judgment],
            )
        ]

    @staticmethod
    def _kind(row: dict[str, Any], ctx: ParseContext) -> str:
        kind = get_optional_str(row, "judge_kind").strip().lower() or str(ctx.options.get("judge_kind") or "")
        if not kind:
            raise RowError("judge_kind", f"missing: one of {', '.join(JUDGE_KINDS[:4])} (or pass --judge-kind)")
        if kind not in JUDGE_KINDS:
            raise RowError("judge_kind", f"must be one of {', '.join(JUDGE_KINDS[:4])}, got {kind!r}"[:200])
        return kind

    def _verdict(self, row: dict[str, Any], ids: list[str], ctx: ParseContext, row_number: int) -> JudgmentIn:
        given = [column for column in VERDICT_COLUMNS if not _empty(row.get(column))]
        if len(given) > 1:
            raise RowError(given[1], f"give one verdict: {given[0]} or {given[1]}, not both")
        column = given[0] if given else None
        if column == "winner" and str(row["winner"]).strip().lower() in NO_VERDICT_WINNERS:
            column = None
        elif column is None and _empty(row.get("raw_output")):
            raise RowError("winner", "missing: give winner, ranks, scores or preference (or raw_output: no verdict)")
        if column is None:
            ctx.count("no_verdict")
            return JudgmentIn(judge=JudgeRef("", ""), ranking=[], no_verdict=True)
        value = row[column]
        ctx.count(f"verdict_{column}")
        if column == "winner":
            return JudgmentIn(judge=JudgeRef("", ""), ranking=self._winner(value, ids))
        if column == "ranks":
            values = parse_json_cell(value, "ranks")
            if not isinstance(values, list):
                raise RowError("ranks", "must be a list with one rank per response (1 = best)")
            ranks = check_ranks(values, len(ids), "ranks")
            return JudgmentIn(judge=JudgeRef("", ""), ranking=ranking_from_ranks(dict(zip(ids, ranks, strict=True))))
        if column == "scores":
            scores = dict(zip(ids, _scores(value, len(ids)), strict=True))
            return JudgmentIn(judge=JudgeRef("", ""), ranking=ranking_from_scores(scores), scores=scores)
        probability = _preference(value, len(ids))
        a, b = ids
        ranking = [[a], [b]] if probability > 0.5 else [[b], [a]] if probability < 0.5 else [[a, b]]
        return JudgmentIn(judge=JudgeRef("", ""), ranking=ranking, metadata={"preference": probability})

    @staticmethod
    def _winner(value: Any, ids: list[str]) -> list[list[str]]:
        if len(ids) != 2:
            raise RowError("winner", f"is for pairs; this row has {len(ids)} responses (give ranks or scores)")
        token = str(value).strip()
        if token.lower() == "tie":
            return [list(ids)]
        try:
            winner = _position(token, ids, "winner")
        except RowError:
            raise RowError("winner", f"must be a, b, tie or a response id, got {token!r}"[:200]) from None
        return [[ids[winner]], [ids[1 - winner]]]

    def summarise(self, ctx: ParseContext) -> None:
        if ctx.counters["no_verdict"]:
            ctx.warn(None, None, f"{ctx.counters['no_verdict']} judgments gave no usable verdict: recorded as such")
