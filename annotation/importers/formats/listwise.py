"""Listwise rows (a prompt with N responses and ranks or scores, optionally per criterion) and OpenAssistant trees."""

from __future__ import annotations

import math
from typing import Any

from annotation.importers.formats.base import (
    Format,
    ParseContext,
    get_list,
    get_optional_str,
    get_str,
    parse_json_cell,
    read_responses,
    require,
    row_prompt,
    text_or_messages,
)
from annotation.importers.formats.pairwise import prompt_messages
from annotation.importers.records import (
    ImportItem,
    JudgeRef,
    JudgmentIn,
    PromptIn,
    ResponseIn,
    RowError,
    content_id,
    ranking_from_ranks,
    ranking_from_scores,
    response_content_id,
)


def check_ranks(ranks: list[Any], n: int, field_name: str) -> list[int]:
    """Ranks for n responses: 1 (or 0) is best, equal ranks are ties. Dense (1,1,2) and competition (1,1,3) forms
    are accepted; anything else is not a ranking and is refused rather than guessed at."""
    if len(ranks) != n:
        raise RowError(field_name, f"has {len(ranks)} ranks for {n} responses")
    clean: list[int] = []
    for rank in ranks:
        if isinstance(rank, bool) or not isinstance(rank, (int, float)):
            raise RowError(field_name, f"rank {rank!r} is not an integer")
        if isinstance(rank, float) and not (math.isfinite(rank) and rank.is_integer()):
            raise RowError(field_name, f"rank {rank!r} is not an integer")
        clean.append(int(rank))
    base = min(clean)
    if base not in (0, 1):
        raise RowError(field_name, f"{clean} is not a ranking: the best rank must be 0 or 1")
    shifted = [r - base + 1 for r in clean]
    distinct = sorted(set(shifted))
    dense = distinct == list(range(1, len(distinct) + 1))
    competition = all(r == 1 + sum(1 for other in shifted if other < r) for r in shifted)
    if not (dense or competition):
        raise RowError(field_name, f"{clean} is not a permutation of {base}..{base + n - 1} (equal ranks mark ties)")
    return shifted


def _scores(values: list[Any], n: int, field_name: str) -> list[float]:
    if len(values) != n:
        raise RowError(field_name, f"has {len(values)} scores for {n} responses")
    out: list[float] = []
    for value in values:
        if isinstance(value, bool):
            raise RowError(field_name, "scores must be numbers, not booleans")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise RowError(field_name, f"score {value!r} is not a number"[:200]) from None
        if not math.isfinite(number):
            raise RowError(field_name, f"scores must be finite numbers, got {number}")
        out.append(number)
    return out


class Listwise(Format):
    name = "listwise"
    description = (
        "A prompt with N responses and `ranks` (1 = best, equal = tie) or `scores` (higher = better), or `ratings` "
        "keyed by rating source (one judgment each); optional `criteria` {name: [rating per response]}, "
        "`prompt_id`, `category`, `judge`. Responses are strings or {text, id, generator, metadata}. Also reads "
        "UltraFeedback rows (instruction, completions with annotations and overall_score)."
    )
    required = frozenset({"responses"})

    def matches(self, columns: set[str]) -> bool:
        return ("responses" in columns and bool({"ranks", "scores", "ratings"} & columns)) or {
            "instruction",
            "completions",
        } <= columns

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        if "completions" in row and "responses" not in row:
            return self._parse_ultrafeedback(row, row_number, ctx)
        prompt = prompt_messages(text_or_messages(row, "prompt"))
        responses = read_responses(get_list(row, "responses"))
        ids = [r.external_id for r in responses]
        criteria = self._criteria(row, len(responses), ids)
        judge_name = get_optional_str(row, "judge") or ctx.default_judge_name()
        judgments: list[JudgmentIn] = []
        if "ratings" in row:
            ratings = parse_json_cell(require(row, "ratings"), "ratings")
            if not isinstance(ratings, dict) or not ratings:
                raise RowError("ratings", "must be an object {rating source: [score per response]}")
            if criteria:
                # Several rating sources and one set of criteria: whose criteria they are is unknowable.
                raise RowError("criteria", "cannot be combined with ratings from several sources; give ranks or scores")
            for source, values in ratings.items():
                if not isinstance(values, list):
                    raise RowError(f"ratings.{source}", "must be a list of scores")
                scores = dict(zip(ids, _scores(values, len(ids), f"ratings.{source}"), strict=True))
                judgments.append(
                    JudgmentIn(
                        judge=JudgeRef(name=f"{ctx.project_slug}:{source}", kind="imported"),
                        ranking=ranking_from_scores(scores),
                        scores=scores,
                        comparison_order=ids,
                    )
                )
        elif "ranks" in row:
            ranks = check_ranks(get_list(row, "ranks"), len(ids), "ranks")
            judgments.append(
                JudgmentIn(
                    judge=JudgeRef(name=judge_name, kind="imported"),
                    ranking=ranking_from_ranks(dict(zip(ids, ranks, strict=True))),
                    criteria=criteria,
                    comparison_order=ids,
                )
            )
        elif "scores" in row:
            scores = dict(zip(ids, _scores(get_list(row, "scores"), len(ids), "scores"), strict=True))
            judgments.append(
                JudgmentIn(
                    judge=JudgeRef(name=judge_name, kind="imported"),
                    ranking=ranking_from_scores(scores),
                    scores=scores,
                    criteria=criteria,
                    comparison_order=ids,
                )
            )
        else:
            raise RowError("ranks", "missing: give ranks, scores or ratings")
        return [
            ImportItem(
                prompt=row_prompt(row, prompt),
                responses=responses,
                judgments=judgments,
            )
        ]

    @staticmethod
    def _criteria(row: dict[str, Any], n: int, ids: list[str]) -> dict[str, Any]:
        if row.get("criteria") in (None, ""):
            return {}
        criteria = parse_json_cell(row["criteria"], "criteria")
        if not isinstance(criteria, dict):
            raise RowError("criteria", "must be an object {criterion: [rating per response]}")
        out: dict[str, Any] = {}
        for key, values in criteria.items():
            if not isinstance(values, list):
                raise RowError(f"criteria.{key}", "must be a list with one rating per response")
            out[key] = dict(zip(ids, _scores(values, n, f"criteria.{key}"), strict=True))
        return out

    def _parse_ultrafeedback(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        instruction = get_str(row, "instruction")
        completions = get_list(row, "completions")
        responses: list[ResponseIn] = []
        criteria: dict[str, dict[str, float]] = {}
        scores: dict[str, float] = {}
        for index, completion in enumerate(completions):
            where = f"completions[{index}]"
            if not isinstance(completion, dict):
                raise RowError(where, "must be an object")
            try:
                text = get_str(completion, "response")
                generator = get_optional_str(completion, "model")
            except RowError as error:
                raise RowError(f"{where}.{error.field}", error.message) from None
            response = ResponseIn(
                external_id=response_content_id(text, generator=generator),
                text=text,
                generator=generator,
                source_field=where,
            )
            responses.append(response)
            annotations = completion.get("annotations") or {}
            if not isinstance(annotations, dict):
                raise RowError(f"{where}.annotations", "must be an object {criterion: {Rating: ...}}")
            for criterion, annotation in annotations.items():
                rating = annotation.get("Rating") if isinstance(annotation, dict) else annotation
                try:
                    number = float(rating)
                except (TypeError, ValueError, OverflowError):
                    number = math.nan
                if math.isfinite(number):
                    criteria.setdefault(criterion, {})[response.external_id] = number
                else:
                    message = f"rating {rating!r} is not a number; left out"
                    ctx.warn(row_number, f"{where}.annotations.{criterion}", message)
            overall = completion.get("overall_score")
            if overall is not None:
                try:
                    scores[response.external_id] = _scores([overall], 1, f"{where}.overall_score")[0]
                except RowError:
                    raise RowError(f"{where}.overall_score", f"must be a number, got {overall!r}"[:200]) from None
        if len(responses) < 2:
            raise RowError("completions", "needs at least 2 completions")
        ids = [r.external_id for r in responses]
        if len(set(ids)) != len(ids):
            raise RowError("completions", "two completions have the same text")
        if len(scores) != len(ids):
            # No overall score: rank by the mean of the criteria ratings; a completion with none cannot be placed.
            unrated = [i for i, rid in enumerate(ids) if not any(rid in c for c in criteria.values())]
            if unrated:
                without_score = [i for i in unrated if ids[i] not in scores]
                if without_score:
                    raise RowError(
                        f"completions[{without_score[0]}]", "has no overall_score and no numeric rating to rank it by"
                    )
                raise RowError(
                    f"completions[{unrated[0]}]",
                    "has no numeric rating, and not every completion has an overall_score to rank by",
                )
            scores = {
                rid: sum(c[rid] for c in criteria.values() if rid in c)
                / max(1, sum(1 for c in criteria.values() if rid in c))
                for rid in ids
            }
        prompt = [{"role": "user", "content": instruction}]
        return [
            ImportItem(
                prompt=PromptIn(
                    external_id=get_optional_str(row, "prompt_id") or content_id(prompt, "p-"),
                    messages=prompt,
                    category=get_optional_str(row, "source"),
                ),
                responses=responses,
                judgments=[
                    JudgmentIn(
                        # Its own default name: the ratings are an LLM's, and `<slug>:imported` is an imported-kind
                        # judge that other formats create in the same project.
                        judge=JudgeRef(
                            name=get_optional_str(row, "judge")
                            or str(ctx.options.get("judge") or f"{ctx.project_slug}:ultrafeedback"),
                            kind="llm",
                        ),
                        ranking=ranking_from_scores(scores),
                        scores=scores,
                        criteria=criteria,
                        comparison_order=ids,
                    )
                ],
            )
        ]


class OpenAssistantTrees(Format):
    name = "oasst-trees"
    description = (
        "OpenAssistant message trees, one per row: every group of ranked sibling assistant replies becomes a prompt "
        "(the conversation path above it) with one listwise judgment (rank 0 = best)."
    )
    required = frozenset({"message_tree_id", "prompt"})
    id_field = "message_id"

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        tree_id = get_str(row, "message_tree_id")
        root = require(row, "prompt")
        if not isinstance(root, dict):
            raise RowError("prompt", "must be the root message object")
        judge = JudgeRef(name=str(ctx.options.get("judge") or "oasst:rankers"), kind="imported")
        items: list[ImportItem] = []
        # Iterative walk: trees can be deep, and recursion limits are not a data-format property.
        stack: list[tuple[dict[str, Any], list[dict[str, str]], str]] = [(root, [], "prompt")]
        while stack:
            message, path, where = stack.pop()
            role = {"prompter": "user", "assistant": "assistant"}.get(message.get("role"))  # type: ignore[arg-type]
            if role is None:
                raise RowError(f"{where}.role", f"must be 'prompter' or 'assistant', got {message.get('role')!r}")
            text = message.get("text")
            if not isinstance(text, str):
                raise RowError(f"{where}.text", "missing or not a string")
            conversation = [*path, {"role": role, "content": text}]
            replies = message.get("replies") or []
            if not isinstance(replies, list):
                raise RowError(f"{where}.replies", "must be a list")
            ranked = [
                r for r in replies if isinstance(r, dict) and r.get("role") == "assistant" and r.get("rank") is not None
            ]
            if len(ranked) >= 2 and role == "user":
                items.append(self._group(message, conversation, replies, ranked, tree_id, judge, where))
            for index, reply in enumerate(replies):
                if not isinstance(reply, dict):
                    raise RowError(f"{where}.replies[{index}]", "must be a message object")
                stack.append((reply, conversation, f"{where}.replies[{index}]"))
        ctx.count("ranked_groups", len(items))
        return items

    @staticmethod
    def _group(message, conversation, replies, ranked, tree_id, judge, where) -> ImportItem:  # type: ignore[no-untyped-def]
        responses = []
        for index, reply in enumerate(replies):
            if reply.get("role") != "assistant":
                continue
            message_id = reply.get("message_id")
            if not isinstance(message_id, str) or not message_id:
                raise RowError(f"{where}.replies[{index}].message_id", "missing")
            responses.append(
                ResponseIn(
                    external_id=message_id,
                    text=str(reply.get("text", "")),
                    generator=str(reply.get("model_name") or ("synthetic" if reply.get("synthetic") else "human")),
                    metadata={k: reply[k] for k in ("emojis", "labels", "lang", "review_count", "rank") if k in reply},
                )
            )
        ranks = [r["rank"] for r in ranked]
        dense = check_ranks(ranks, len(ranks), f"{where}.replies.rank")
        ranking = ranking_from_ranks({r["message_id"]: rank for r, rank in zip(ranked, dense, strict=True)})
        parent_id = message.get("message_id")
        if not isinstance(parent_id, str) or not parent_id:
            raise RowError(f"{where}.message_id", "missing")
        return ImportItem(
            prompt=PromptIn(
                external_id=parent_id,
                messages=conversation,
                category=str(message.get("lang") or ""),
                metadata={"message_tree_id": tree_id, "depth": len(conversation)},
            ),
            responses=responses,
            judgments=[JudgmentIn(judge=judge, ranking=ranking, comparison_order=[r["message_id"] for r in ranked])],
        )
