"""TRL pairwise rows and HH-RLHF transcripts."""

from __future__ import annotations

from typing import Any

from annotation.importers.formats.base import (
    Format,
    ParseContext,
    get_optional_float,
    get_optional_str,
    parse_json_cell,
    require,
    row_prompt,
    text_or_messages,
)
from annotation.importers.records import (
    ImportItem,
    JudgeRef,
    JudgmentIn,
    PromptIn,
    ResponseIn,
    RowError,
    content_id,
)
from annotation.messages import parse_hh_transcript, validate_messages

Messages = list[dict[str, str]]


def prompt_messages(value: str | Messages) -> Messages:
    return [{"role": "user", "content": value}] if isinstance(value, str) else value


def response_from(value: str | Messages, prompt: Messages, field_name: str) -> ResponseIn:
    """A TRL completion: a string, or a list of messages continuing the prompt (usually one assistant turn)."""
    if isinstance(value, str):
        return ResponseIn(external_id=content_id([value], "r-"), text=value)
    if value[-1]["role"] != "assistant":
        raise RowError(field_name, "the last message must be the assistant's")
    if len(value) == 1:
        text = value[0]["content"]
        return ResponseIn(external_id=content_id([text], "r-"), text=text)
    conversation = prompt + value
    return ResponseIn(
        external_id=content_id([value[-1]["content"], conversation], "r-"),
        text=value[-1]["content"],
        conversation=conversation,
    )


def pair_judgment(
    chosen: ResponseIn, rejected: ResponseIn, judge: JudgeRef, *, tie: bool = False, **extra: Any
) -> JudgmentIn:
    # The comparison's canonical A/B order must not leak the label: order by external id, not chosen-first.
    order = sorted([chosen.external_id, rejected.external_id])
    ranking = [order] if tie else [[chosen.external_id], [rejected.external_id]]
    return JudgmentIn(judge=judge, ranking=ranking, comparison_order=order, **extra)


def annotator_judge(row: dict[str, Any], ctx: ParseContext) -> JudgeRef:
    annotator = get_optional_str(row, "annotator") or get_optional_str(row, "judge")
    if annotator:
        return JudgeRef(name=f"{ctx.options.get('judge_prefix', ctx.project_slug + ':')}{annotator}", kind="human")
    return JudgeRef(name=ctx.default_judge_name(), kind=str(ctx.options.get("judge_kind", "imported")))


class TrlPairwise(Format):
    name = "trl-pairwise"
    description = (
        "TRL preference rows: prompt, chosen, rejected as strings or message lists; optional margin, annotator, "
        "prompt_id, id, category (or subset)."
    )
    required = frozenset({"prompt", "chosen", "rejected"})

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        prompt = prompt_messages(text_or_messages(row, "prompt"))
        chosen = response_from(text_or_messages(row, "chosen"), prompt, "chosen")
        rejected = response_from(text_or_messages(row, "rejected"), prompt, "rejected")
        if chosen.external_id == rejected.external_id:
            raise RowError("rejected", "is identical to chosen: a comparison needs two different responses")
        prompt_id = get_optional_str(row, "prompt_id") or content_id(prompt, "p-")
        category = get_optional_str(row, "category") or get_optional_str(row, "subset")
        metadata = {}
        if row.get("id") not in (None, ""):
            metadata["source_id"] = row["id"]
        judgment = pair_judgment(
            chosen, rejected, annotator_judge(row, ctx), margin=get_optional_float(row, "margin"), metadata=metadata
        )
        return [
            ImportItem(
                prompt=PromptIn(external_id=prompt_id, messages=prompt, category=category),
                responses=[chosen, rejected],
                judgments=[judgment],
            )
        ]


def _transcript(row: dict[str, Any], field_name: str) -> Messages:
    value = parse_json_cell(require(row, field_name), field_name)
    try:
        if isinstance(value, str):
            return parse_hh_transcript(value)
        return validate_messages(value)
    except ValueError as error:
        raise RowError(field_name, str(error)) from None


def _common_prefix(a: Messages, b: Messages) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


class HhRlhf(Format):
    name = "hh-rlhf"
    description = (
        "Full transcripts in chosen/rejected (HH-RLHF's \\n\\nHuman:/\\n\\nAssistant: strings, or TRL's "
        "implicit-prompt "
        "message lists); the shared conversation up to the last assistant turn becomes the prompt."
    )
    required = frozenset({"chosen", "rejected"})
    excluded = frozenset({"prompt"})

    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        chosen = _transcript(row, "chosen")
        rejected = _transcript(row, "rejected")
        for field_name, messages in (("chosen", chosen), ("rejected", rejected)):
            if messages[-1]["role"] != "assistant":
                raise RowError(field_name, "does not end with an assistant turn")
            if len(messages) < 2:
                raise RowError(field_name, "has no prompt before the assistant turn")
        if chosen[:-1] == rejected[:-1]:
            prompt = chosen[:-1]
            good = ResponseIn(external_id=content_id([chosen[-1]["content"]], "r-"), text=chosen[-1]["content"])
            bad = ResponseIn(external_id=content_id([rejected[-1]["content"]], "r-"), text=rejected[-1]["content"])
        else:
            # The transcripts diverge before the last assistant turn. Keep each whole: the prompt is the turns they
            # share (ending on a user turn), and each response carries its full conversation.
            shared = _common_prefix(chosen, rejected)
            while shared > 0 and chosen[shared - 1]["role"] != "user":
                shared -= 1
            if shared == 0:
                raise RowError("rejected", "shares no opening user turn with chosen")
            prompt = chosen[:shared]
            good = ResponseIn(
                external_id=content_id([chosen[-1]["content"], chosen], "r-"),
                text=chosen[-1]["content"],
                conversation=chosen,
            )
            bad = ResponseIn(
                external_id=content_id([rejected[-1]["content"], rejected], "r-"),
                text=rejected[-1]["content"],
                conversation=rejected,
            )
            ctx.count("diverging_transcripts")
            ctx.warn(
                row_number,
                "rejected",
                f"chosen and rejected differ before the last assistant turn (they share {shared} of "
                f"{len(chosen)}/{len(rejected)} turns): imported with the shared turns as the prompt and each "
                "whole transcript kept on its response",
            )
        if good.external_id == bad.external_id:
            raise RowError("rejected", "is identical to chosen: a comparison needs two different responses")
        judge = annotator_judge(row, ctx)
        return [
            ImportItem(
                prompt=row_prompt(row, prompt),
                responses=[good, bad],
                judgments=[pair_judgment(good, bad, judge, margin=get_optional_float(row, "margin"))],
            )
        ]

    def summarise(self, ctx: ParseContext) -> None:
        if ctx.counters["diverging_transcripts"]:
            ctx.warn(
                None,
                None,
                f"{ctx.counters['diverging_transcripts']} rows had transcripts that diverge before the last assistant "
                "turn; each was kept whole on its response (Response.conversation), none dropped",
            )
