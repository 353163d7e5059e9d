"""Multi-annotator pairwise data with ties: PandaLM (3 human annotators, 2 model judges) and MT-Bench
(expert votes, GPT-4 verdicts, conversations in a companion file)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from annotation.importers.formats.base import Format, ParseContext, get_int, get_optional_str, get_str, require
from annotation.importers.records import ImportItem, JudgeRef, JudgmentIn, PromptIn, ResponseIn, RowError
from annotation.messages import validate_messages

PANDALM_ANNOTATORS = ("annotator1", "annotator2", "annotator3")


def pair_ranking(first: str, second: str, winner: int) -> list[list[str]]:
    """PandaLM coding: 1 = first better, 2 = second better, 0 = tie."""
    return {1: [[first], [second]], 2: [[second], [first]], 0: [[first, second]]}[winner]


def pandalm_prompt_text(instruction: str, extra_input: str) -> str:
    return f"{instruction}\n\n{extra_input}" if extra_input.strip() else instruction


class PandaLM(Format):
    name = "pandalm"
    description = (
        "PandaLM test set: idx, instruction, input, response1, response2, cmp_key (modelA_modelB), annotator1..3 "
        "(1 = response1 better, 2 = response2 better, 0 = tie); one human judge per annotator column."
    )
    required = frozenset({"idx", "instruction", "response1", "response2", "annotator1"})
    id_field = "idx"

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        idx = get_int(row, "idx")
        instruction = get_str(row, "instruction", allow_empty=True)
        extra_input = get_optional_str(row, "input")
        if not (instruction.strip() or extra_input.strip()):
            raise RowError("instruction", "is empty and so is input: there is no prompt")
        models = get_optional_str(row, "cmp_key").split("_")
        if len(models) != 2:
            ctx.warn(row_number, "cmp_key", "is not 'modelA_modelB'; generators left blank")
            models = ["", ""]
        first = ResponseIn(
            external_id="response1", text=self._response(row, "response1", row_number, ctx), generator=models[0]
        )
        second = ResponseIn(
            external_id="response2", text=self._response(row, "response2", row_number, ctx), generator=models[1]
        )
        judgments = []
        for column in PANDALM_ANNOTATORS:
            if column not in row:
                continue
            label = get_int(row, column, allowed={0, 1, 2})
            judgments.append(
                JudgmentIn(
                    judge=JudgeRef(name=f"pandalm:{column}", kind="human"),
                    ranking=pair_ranking("response1", "response2", label),
                    comparison_order=["response1", "response2"],
                    metadata={"label": label},
                )
            )
        return [
            ImportItem(
                prompt=PromptIn(
                    external_id=str(idx),
                    messages=[{"role": "user", "content": pandalm_prompt_text(instruction, extra_input)}],
                    category=get_optional_str(row, "motivation_app"),
                    metadata={"instruction": instruction, "input": extra_input, "cmp_key": row.get("cmp_key", "")},
                ),
                responses=[first, second],
                judgments=judgments,
            )
        ]

    @staticmethod
    def _response(row: dict[str, Any], name: str, row_number: int, ctx: ParseContext) -> str:
        """PandaLM's released JSON holds some answers as booleans (a model answered "True" and a converter typed it)
        and some as empty strings (the model said nothing, and annotators judged that). Both are kept as text."""
        value = require(row, name)
        if isinstance(value, bool):
            ctx.count("boolean_responses")
            ctx.warn(row_number, name, f"is the JSON boolean {str(value).lower()}; imported as the text {str(value)!r}")
            return str(value)
        text = get_str(row, name, allow_empty=True)
        if not text.strip():
            ctx.count("empty_responses")
        return text

    def summarise(self, ctx: ParseContext) -> None:
        if ctx.counters["empty_responses"]:
            ctx.warn(
                None,
                None,
                f"{ctx.counters['empty_responses']} responses are empty strings (kept: annotators judged them)",
            )


class PandaLMVerdicts(Format):
    """Model-judge files joined on idx to a PandaLM test set imported earlier into the same project."""

    name = "pandalm-verdicts"
    description = (
        "PandaLM model-judge files joined on idx to an imported test set: gpt_result ('1', '2', 'Tie') or "
        'pandalm_result (0, 1, 2). An unparsable verdict is recorded as the judge\'s "no verdict" (counted and '
        "reported, never guessed)."
    )
    required = frozenset({"idx"})
    refers_to_existing = True
    id_field = "idx"
    _columns = {"gpt_result": ("gpt", "pandalm:gpt-3.5-turbo"), "pandalm_result": ("pandalm", "pandalm:pandalm-7b")}

    def matches(self, columns: set[str]) -> bool:
        return "idx" in columns and bool(set(self._columns) & columns) and "response1" not in columns

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        idx = get_int(row, "idx")
        column = next((c for c in self._columns if c in row), None)
        if column is None:
            raise RowError("gpt_result", "missing (or pandalm_result)")
        prefix, default_judge = self._columns[column]
        raw = row[column]
        label = self._label(raw)
        if label is None:
            ctx.count("unparsable_verdicts")
            ctx.warn(row_number, column, f"unparsable verdict {str(raw)[:60]!r}: recorded as no verdict")
        judgment = JudgmentIn(
            judge=JudgeRef(name=str(ctx.options.get("judge") or default_judge), kind="llm"),
            ranking=[] if label is None else pair_ranking("response1", "response2", label),
            no_verdict=label is None,
            comparison_order=["response1", "response2"],
            rationale=get_optional_str(row, f"{prefix}_reason"),
            metadata={"verdict": raw, "reference": get_optional_str(row, f"{prefix}_reference")},
        )
        return [ImportItem(prompt=str(idx), judgments=[judgment])]

    @staticmethod
    def _label(raw: Any) -> int | None:
        text = str(raw).strip().lower()
        return {"1": 1, "2": 2, "0": 0, "tie": 0}.get(text)

    def summarise(self, ctx: ParseContext) -> None:
        if ctx.counters["unparsable_verdicts"]:
            ctx.warn(None, None, f"{ctx.counters['unparsable_verdicts']} unparsable verdicts recorded as no verdict")


# --- MT-Bench ----------------------------------------------------------------------------------------------------

CONVERSATION_FILES = ("conversations.jsonl.gz", "conversations.jsonl")


def load_conversations(ctx: ParseContext) -> dict[tuple[int, str], list[dict[str, str]]]:
    """The companion file of 2-turn conversations, keyed by (question_id, model); read once per import."""
    if "conversations" in ctx.cache:
        return ctx.cache["conversations"]
    explicit = ctx.options.get("conversations")
    candidates = [Path(explicit)] if explicit else [ctx.path.parent / name for name in CONVERSATION_FILES]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        raise RowError(
            "question_id",
            f"MT-Bench votes need the conversations file: pass --conversations PATH or put {CONVERSATION_FILES[0]} "
            "beside the votes file",
        )
    conversations: dict[tuple[int, str], list[dict[str, str]]] = {}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as stream:  # type: ignore[operator]
        for line_number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                conversation = validate_messages(record["conversation"])
                conversations[(int(record["question_id"]), str(record["model"]))] = conversation
            except (ValueError, KeyError, TypeError) as error:
                raise RowError("conversation", f"{path.name} line {line_number}: {error}") from None
    ctx.cache["conversations"] = conversations
    ctx.cache["conversations_path"] = str(path)
    return conversations


def mtbench_item(row: dict[str, Any], ctx: ParseContext) -> tuple[ImportItem, str, str]:
    """The prompt of (question, turn) with the two models' responses; turn 2 is its own prompt whose responses
    carry their whole conversation, since each model's first answer differs."""
    question_id = get_int(row, "question_id")
    turn = get_int(row, "turn", allowed={1, 2})
    model_a = get_str(row, "model_a")
    model_b = get_str(row, "model_b")
    if model_a == model_b:
        raise RowError("model_b", "is the same model as model_a")
    conversations = load_conversations(ctx)
    responses: list[ResponseIn] = []
    user_turns: list[dict[str, str]] | None = None
    for field_name, model in (("model_a", model_a), ("model_b", model_b)):
        conversation = conversations.get((question_id, model))
        if conversation is None:
            raise RowError(field_name, f"no conversation for question {question_id} and model {model!r}")
        if len(conversation) < 2 * turn or conversation[2 * turn - 1]["role"] != "assistant":
            raise RowError(field_name, f"the conversation of {model!r} has no assistant answer for turn {turn}")
        these_user_turns = [m for m in conversation[: 2 * turn] if m["role"] == "user"]
        if user_turns is not None and these_user_turns != user_turns:
            raise RowError(field_name, f"question {question_id}'s user turns differ between the two models")
        user_turns = these_user_turns
        responses.append(
            ResponseIn(
                external_id=model,
                text=conversation[2 * turn - 1]["content"],
                generator=model,
                conversation=conversation[: 2 * turn] if turn == 2 else None,
            )
        )
    assert user_turns is not None
    prompt = PromptIn(
        external_id=f"{question_id}-turn{turn}",
        messages=user_turns,
        category=get_optional_str(row, "category"),
        metadata={"question_id": question_id, "turn": turn},
    )
    return ImportItem(prompt=prompt, responses=responses), model_a, model_b


def winner_ranking(winner: str, model_a: str, model_b: str) -> list[list[str]] | None:
    return {"model_a": [[model_a], [model_b]], "model_b": [[model_b], [model_a]], "tie": [[model_a, model_b]]}.get(
        winner
    )


class MTBenchVotes(Format):
    name = "mtbench-votes"
    description = (
        "MT-Bench human votes: question_id, turn, model_a, model_b, judge, winner (model_a / model_b / tie); "
        "conversations from conversations.jsonl(.gz) beside the file or --conversations. One human judge per judge id."
    )
    required = frozenset({"question_id", "model_a", "model_b", "turn", "judge", "winner"})
    id_field = "question_id"

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        item, model_a, model_b = mtbench_item(row, ctx)
        winner = get_str(row, "winner")
        ranking = winner_ranking(winner, model_a, model_b)
        if ranking is None:
            raise RowError("winner", f"must be model_a, model_b or tie, got {winner!r}")
        judge = JudgeRef(name=f"mtbench:{get_str(row, 'judge')}", kind="human")
        item.judgments.append(JudgmentIn(judge=judge, ranking=ranking, comparison_order=[model_a, model_b]))
        return [item]


class MTBenchVerdicts(Format):
    name = "mtbench-gpt4"
    description = (
        "MT-Bench GPT-4 pairwise verdicts: the vote columns with gpt4_winner ('tie (inconsistent)': the verdict "
        "flipped when the order was swapped, a tie flagged inconsistent), or with g1_winner and g2_winner (the verdict "
        "with model_a shown first, and with model_b shown first: two judgments, one per shown order). An unparsable "
        "verdict is recorded as no verdict, counted and reported."
    )
    required = frozenset({"question_id", "model_a", "model_b", "turn"})
    id_field = "question_id"

    def matches(self, columns: set[str]) -> bool:
        return self.required <= columns and ("gpt4_winner" in columns or {"g1_winner", "g2_winner"} <= columns)

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        item, model_a, model_b = mtbench_item(row, ctx)
        judge = JudgeRef(name=str(ctx.options.get("judge") or "mtbench:gpt-4"), kind="llm")
        if "gpt4_winner" not in row and ("g1_winner" in row or "g2_winner" in row):
            # FastChat's pair judgments: game 1 shows model_a first, game 2 model_b first; winners name the model.
            for column, shown in (("g1_winner", [model_a, model_b]), ("g2_winner", [model_b, model_a])):
                item.judgments.append(self._judgment(row, column, row_number, ctx, judge, model_a, model_b, shown))
            return [item]
        item.judgments.append(self._judgment(row, "gpt4_winner", row_number, ctx, judge, model_a, model_b, None))
        return [item]

    @staticmethod
    def _judgment(
        row: dict[str, Any],
        column: str,
        row_number: int,
        ctx: ParseContext,
        judge: JudgeRef,
        model_a: str,
        model_b: str,
        shown: list[str] | None,
    ) -> JudgmentIn:
        verdict = str(require(row, column)).strip()
        inconsistent = verdict == "tie (inconsistent)"
        spelled = {"model_1": "model_a", "model_2": "model_b"}.get(verdict, verdict)
        ranking = winner_ranking("tie" if inconsistent else spelled, model_a, model_b)
        if ranking is None:
            ctx.count("unparsable_verdicts")
            ctx.warn(row_number, column, f"unparsable verdict {verdict[:60]!r}: recorded as no verdict")
        elif inconsistent:
            ctx.count("inconsistent_ties")
        metadata: dict[str, Any] = {"verdict": verdict}
        if shown is None:
            metadata["position_inconsistent"] = inconsistent
        return JudgmentIn(
            judge=judge,
            ranking=ranking or [],
            no_verdict=ranking is None,
            comparison_order=[model_a, model_b],
            shown_order=shown,
            metadata=metadata,
        )

    def summarise(self, ctx: ParseContext) -> None:
        if ctx.counters["unparsable_verdicts"]:
            ctx.warn(None, None, f"{ctx.counters['unparsable_verdicts']} unparsable verdicts recorded as no verdict")
