"""Plain training examples, the deterministic split, and tokenisation (done once per run).

A `PreferenceExample` is one judge's ordering of a comparison: a prompt (chat messages), two or more response
texts, and their ranks (1 = best, equal ranks = tie). Pairs are the two-response case. Nothing here imports
torch; `encode_examples` takes any Hugging Face tokenizer and returns numpy token arrays.

Input layout (the same in training, evaluation, scoring and for anyone who loads the artifact):

- ``pair`` style (encoders with [CLS]/[SEP], e.g. MiniLM/BERT): the tokenizer's own text-pair layout,
  ``[CLS] rendered prompt [SEP] response [SEP]`` with token types 0/1, identical to
  ``tokenizer(render_prompt(messages), response)``. The reward is read from the [CLS] position.
- ``chat`` style (decoders): the tokenizer's chat template with the response as the final assistant turn
  (without a template: ``User: ...\\n\\nAssistant: response`` plus EOS). The reward is read from the last token.

Long inputs are truncated, never dropped: the response keeps up to ``max(budget - len(prompt), budget // 2)``
tokens and the prompt gets the rest, each cut on ``truncation_side`` ("left" drops the oldest turns of the
prompt and the start of an over-long response; "right" drops the ends). Every cut is counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from annotation.analysis.agreement import Preferences, flip_rate_from_agreement, untied_agreement
from annotation.analysis.pairs import rank_pairs
from annotation.analysis.split import in_test

Message = Mapping[str, str]  # {"role": "user" | "assistant" | "system", "content": str}


@dataclass(frozen=True)
class PreferenceExample:
    """One judgment of one comparison, as the training core sees it."""

    prompt: tuple[Message, ...]
    responses: tuple[str, ...]
    ranks: tuple[int, ...]  # ranks[i] is responses[i]'s rank; 1 = best, equal = tie
    margin: float | None = None  # strength of preference (pairs); used by bradley_terry_margin
    group_id: str = ""  # the prompt's id: the split and the bootstrap resample by it
    category: str = ""
    example_id: str = ""  # e.g. the judgment id, carried into per-pair scores
    # A response whose own earlier turns differ from the shared prompt carries its whole conversation here
    # (MT-Bench turn 2, the few HH rows that diverge early); None = use `prompt`.
    response_contexts: tuple[tuple[Message, ...] | None, ...] | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples, so an example cannot change under a running trainer.
        object.__setattr__(self, "prompt", tuple(self.prompt))
        object.__setattr__(self, "responses", tuple(self.responses))
        object.__setattr__(self, "ranks", tuple(int(r) for r in self.ranks))
        if self.response_contexts is not None:
            contexts = tuple(None if c is None else tuple(c) for c in self.response_contexts)
            object.__setattr__(self, "response_contexts", contexts)
            if len(contexts) != len(self.responses):
                raise ValueError("response_contexts must have one entry per response")
        if len(self.responses) < 2:
            raise ValueError("an example needs at least two responses")
        if len(self.ranks) != len(self.responses):
            raise ValueError("ranks must have one entry per response")
        if min(self.ranks) < 1:
            raise ValueError("ranks start at 1 (best)")

    @classmethod
    def pair(
        cls,
        prompt: Sequence[Message] | str,
        chosen: str,
        rejected: str,
        *,
        tie: bool = False,
        margin: float | None = None,
        group_id: str = "",
        category: str = "",
        example_id: str = "",
    ) -> PreferenceExample:
        return cls(
            prompt=as_messages(prompt),
            responses=(chosen, rejected),
            ranks=(1, 1) if tie else (1, 2),
            margin=margin,
            group_id=group_id,
            category=category,
            example_id=example_id,
        )

    @property
    def is_tie_only(self) -> bool:
        return len(set(self.ranks)) == 1

    def context_of(self, index: int) -> tuple[Message, ...]:
        if self.response_contexts is not None and self.response_contexts[index] is not None:
            return self.response_contexts[index]  # type: ignore[return-value]
        return self.prompt

    def induced_pairs(self) -> list[tuple[int, int, bool]]:
        """(better, worse, tie) as response positions for every pair; for a tie the order is the listed order."""
        return rank_pairs(self.ranks)

    def untied_pairs(self) -> list[PreferenceExample]:
        """This judgment as one example per untied induced pair (an untied pair stays as it is; ties are left out,
        since the pairwise losses ignore them). For `TrainingConfig.list_pairs = "shuffled"`."""
        if len(self.responses) == 2:
            return [] if self.is_tie_only else [self]
        out = []
        contexts = self.response_contexts
        for better, worse, tie in self.induced_pairs():
            if tie:
                continue
            out.append(
                PreferenceExample(
                    prompt=self.prompt,
                    responses=(self.responses[better], self.responses[worse]),
                    ranks=(1, 2),
                    margin=self.margin,
                    group_id=self.group_id,
                    category=self.category,
                    example_id=self.example_id,
                    response_contexts=None if contexts is None else (contexts[better], contexts[worse]),
                )
            )
        return out


def as_messages(prompt: Sequence[Message] | str) -> tuple[Message, ...]:
    if isinstance(prompt, str):
        return ({"role": "user", "content": prompt},)
    return tuple(prompt)


def render_prompt(messages: Sequence[Message]) -> str:
    """Plain-text conversation for encoders and template-less decoders: "User: ...\\n\\nAssistant: ..."."""
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


# ----------------------------------------------------------------------------------------------- split


def split_by_group(
    examples: Sequence[PreferenceExample], eval_fraction: float, seed: int
) -> tuple[list[PreferenceExample], list[PreferenceExample]]:
    """Held-out split by prompt, the analysis package's one split: a group is held out exactly when an export with
    the same seed and test fraction puts its prompt in `test`.

    Deterministic and independent of order and of the other examples, so adding judgments never moves an
    existing prompt across the split. All judgments of a prompt land on the same side (no leakage).
    """
    train: list[PreferenceExample] = []
    held_out: list[PreferenceExample] = []
    for example in examples:
        (held_out if in_test(example.group_id, seed=seed, test_fraction=eval_fraction) else train).append(example)
    return train, held_out


# ------------------------------------------------------------------------------------------ flip rate


def estimate_flip_rate(examples: Iterable[PreferenceExample]) -> tuple[float, int] | None:
    """Estimate e from comparisons judged more than once: (e, number of judgment pairs compared), or None.

    Two judgments of the same comparison (same group and response set) are compared on every response pair
    that neither calls a tie.
    """
    by_comparison: dict[tuple[str, tuple[str, ...]], list[Preferences]] = {}
    for example in examples:
        prefs: Preferences = {}
        for better, worse, tie in example.induced_pairs():
            if tie:
                continue
            a, b = example.responses[better], example.responses[worse]
            prefs[(a, b) if a < b else (b, a)] = 1 if a < b else -1
        key = (example.group_id, tuple(sorted(example.responses)))
        by_comparison.setdefault(key, []).append(prefs)
    agree, total = untied_agreement(by_comparison.values())
    if total == 0:
        return None
    return flip_rate_from_agreement(agree / total), total


# ------------------------------------------------------------------------------------------ encoding


@dataclass(frozen=True)
class InputFormat:
    """How a (prompt, response) becomes token ids; saved with the artifact so scoring encodes identically."""

    style: Literal["pair", "chat"]
    max_length: int
    truncation_side: Literal["left", "right"]
    prefix: tuple[int, ...] = ()  # special ids before the prompt
    middle: tuple[int, ...] = ()  # between prompt and response
    suffix: tuple[int, ...] = ()  # after the response
    type_a: int | None = None  # token type of prefix + prompt + middle (None: the model takes no token types)
    type_b: int | None = None  # token type of response + suffix
    chat_template: bool = False  # chat style: render with the tokenizer's template

    @property
    def budget(self) -> int:
        """Content tokens that fit beside the special tokens."""
        return self.max_length - len(self.prefix) - len(self.middle) - len(self.suffix)

    def to_dict(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "max_length": self.max_length,
            "truncation_side": self.truncation_side,
            "prefix": list(self.prefix),
            "middle": list(self.middle),
            "suffix": list(self.suffix),
            "type_a": self.type_a,
            "type_b": self.type_b,
            "chat_template": self.chat_template,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputFormat:
        return cls(
            style=data["style"],
            max_length=int(data["max_length"]),
            truncation_side=data["truncation_side"],
            prefix=tuple(data["prefix"]),
            middle=tuple(data["middle"]),
            suffix=tuple(data["suffix"]),
            type_a=data["type_a"],
            type_b=data["type_b"],
            chat_template=bool(data["chat_template"]),
        )


def input_format_for(
    tokenizer: Any,
    *,
    max_length: int,
    truncation_side: Literal["left", "right"],
    style: Literal["auto", "pair", "chat"] = "auto",
    token_types: bool = True,
) -> InputFormat:
    """Derive the layout from the tokenizer itself (probing its text-pair template) rather than hard-coding BERT."""
    if style == "auto":
        style = "pair" if tokenizer.cls_token is not None and tokenizer.sep_token is not None else "chat"
    if style == "pair":
        return _pair_format(tokenizer, max_length, truncation_side, token_types)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    if not has_template:
        if tokenizer.bos_token_id is not None:
            prefix = (tokenizer.bos_token_id,)
        # The reward is read at the last non-pad token, so an EOS equal to the pad id would be skipped: leave it off.
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id != tokenizer.pad_token_id:
            suffix = (tokenizer.eos_token_id,)
    return InputFormat("chat", max_length, truncation_side, prefix=prefix, suffix=suffix, chat_template=has_template)


def _pair_format(tokenizer: Any, max_length: int, side: Literal["left", "right"], token_types: bool) -> InputFormat:
    a = tokenizer("a", add_special_tokens=False)["input_ids"]
    b = tokenizer("b", add_special_tokens=False)["input_ids"]
    both = tokenizer("a", "b", add_special_tokens=True, return_token_type_ids=True)
    ids, types = list(both["input_ids"]), both.get("token_type_ids")
    ia = _find(ids, a, 0)
    ib = _find(ids, b, ia + len(a))
    type_a = type_b = None
    if token_types and types is not None:
        type_a, type_b = int(types[ia]), int(types[ib])
    return InputFormat(
        "pair",
        max_length,
        side,
        prefix=tuple(ids[:ia]),
        middle=tuple(ids[ia + len(a) : ib]),
        suffix=tuple(ids[ib + len(b) :]),
        type_a=type_a,
        type_b=type_b,
    )


def _find(haystack: list[int], needle: list[int], start: int) -> int:
    for i in range(start, len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    raise ValueError("could not locate the text-pair layout of this tokenizer; set input_style='chat'")


def fit_lengths(prompt_len: int, response_len: int, budget: int) -> tuple[int, int]:
    """Tokens kept of (prompt, response). The response is what is judged, so it keeps at least half the budget."""
    if prompt_len + response_len <= budget:
        return prompt_len, response_len
    keep_response = min(response_len, max(budget - prompt_len, budget // 2))
    return min(prompt_len, budget - keep_response), keep_response


@dataclass(frozen=True)
class EncodedExample:
    input_ids: tuple[np.ndarray, ...]  # one int32 array per response, special tokens included
    type_split: tuple[int, ...]  # tokens [0, split) have type_a, [split, len) type_b
    ranks: tuple[int, ...]
    margin: float
    truncated: tuple[bool, ...]

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(len(ids) for ids in self.input_ids)


@dataclass
class EncodedDataset:
    examples: list[EncodedExample]
    input_format: InputFormat
    n_responses: int = 0
    n_truncated_responses: int = 0
    n_truncated_examples: int = 0
    n_tokens: int = 0
    max_length_seen: int = 0  # longest prompt+response before truncation (special tokens included)
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def truncation_report(self) -> dict[str, int]:
        return {
            "examples": len(self.examples),
            "responses": self.n_responses,
            "truncated_examples": self.n_truncated_examples,
            "truncated_responses": self.n_truncated_responses,
            "tokens": self.n_tokens,
            "longest_before_truncation": self.max_length_seen,
        }


def encode_examples(
    examples: Sequence[PreferenceExample], tokenizer: Any, input_format: InputFormat, *, chunk: int = 2048
) -> EncodedDataset:
    """Tokenise every distinct prompt and response text once (batched, in the tokenizer's Rust core)."""
    pieces: list[tuple[str, str]] = []  # (prompt text, response text) per response, in order
    for example in examples:
        for index, response in enumerate(example.responses):
            pieces.append(_texts(tokenizer, input_format, example.context_of(index), response))
    token_ids = _tokenize_unique(tokenizer, [t for piece in pieces for t in piece], chunk)
    overhead = len(input_format.prefix) + len(input_format.middle) + len(input_format.suffix)
    budget = input_format.budget
    dataset = EncodedDataset([], input_format)
    cursor = 0
    for example in examples:
        ids_list: list[np.ndarray] = []
        splits: list[int] = []
        truncated: list[bool] = []
        for _ in example.responses:
            prompt_ids, response_ids = token_ids[pieces[cursor][0]], token_ids[pieces[cursor][1]]
            cursor += 1
            keep_p, keep_r = fit_lengths(len(prompt_ids), len(response_ids), budget)
            dataset.max_length_seen = max(dataset.max_length_seen, len(prompt_ids) + len(response_ids) + overhead)
            cut = keep_p < len(prompt_ids) or keep_r < len(response_ids)
            if input_format.truncation_side == "left":
                prompt_part = prompt_ids[len(prompt_ids) - keep_p :]
                response_part = response_ids[len(response_ids) - keep_r :]
            else:
                prompt_part, response_part = prompt_ids[:keep_p], response_ids[:keep_r]
            head = [*input_format.prefix, *prompt_part, *input_format.middle]
            ids = np.asarray(head + list(response_part) + list(input_format.suffix), dtype=np.int32)
            ids_list.append(ids)
            splits.append(len(head))
            truncated.append(cut)
            dataset.n_tokens += len(ids)
        dataset.examples.append(
            EncodedExample(
                input_ids=tuple(ids_list),
                type_split=tuple(splits),
                ranks=example.ranks,
                margin=float(example.margin) if example.margin is not None else 0.0,
                truncated=tuple(truncated),
            )
        )
        dataset.n_responses += len(ids_list)
        dataset.n_truncated_responses += sum(truncated)
        dataset.n_truncated_examples += any(truncated)
    return dataset


def _texts(tokenizer: Any, fmt: InputFormat, messages: Sequence[Message], response: str) -> tuple[str, str]:
    if fmt.style == "pair":
        return render_prompt(messages), response
    if fmt.chat_template:
        prompt_text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": response}], tokenize=False)
        # The template's end-of-turn tokens belong to the response; if the template rewrites earlier turns
        # (some drop reasoning), fall back to the bare response text.
        return prompt_text, full[len(prompt_text) :] if full.startswith(prompt_text) else response
    return render_prompt(messages) + "\n\nAssistant: ", response


def _tokenize_unique(tokenizer: Any, texts: list[str], chunk: int) -> dict[str, list[int]]:
    unique = list(dict.fromkeys(texts))
    out: dict[str, list[int]] = {}
    for start in range(0, len(unique), chunk):
        part = unique[start : start + chunk]
        # verbose=False: over-long texts are expected here (they are truncated after, not by the tokenizer).
        encoded = tokenizer(part, add_special_tokens=False, return_attention_mask=False, verbose=False)
        out.update(zip(part, encoded["input_ids"], strict=True))
    return out


def examples_to_jsonl(examples: Iterable[PreferenceExample]) -> str:
    """Canonical JSON lines (sorted keys), used by the fingerprint and handy for debugging."""
    lines = []
    for e in examples:
        record = {
            "prompt": [dict(m) for m in e.prompt],
            "responses": list(e.responses),
            "ranks": list(e.ranks),
            "margin": e.margin,
            "group_id": e.group_id,
            "category": e.category,
            "example_id": e.example_id,
            "response_contexts": None
            if e.response_contexts is None
            else [None if c is None else [dict(m) for m in c] for c in e.response_contexts],
        }
        lines.append(json.dumps(record, sort_keys=True, ensure_ascii=False))
    return "\n".join(lines)
