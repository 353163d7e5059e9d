"""Score (prompt, responses) with a trained artifact: what the reward-model judge and evaluations call.

    scorer = RewardScorer.load(artifact_dir)
    scores = scorer.score([(messages, ["response a", "response b"]), ...])   # [[r_a, r_b], ...]

Inputs are laid out and truncated exactly as in training (read from the artifact's `workbench.json`; a plain
Hugging Face model directory without it gets the defaults for its tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .artifact import read_metadata
from .data import InputFormat, Message, PreferenceExample, as_messages, encode_examples, input_format_for
from .evaluation import EvaluationResult, evaluate_scores
from .modeling import RewardModel, load_sequence_classifier, load_tokenizer, score_dataset

PromptAndResponses = tuple[Sequence[Message] | str, Sequence[str]]


@dataclass
class RewardScorer:
    model: RewardModel
    tokenizer: Any
    input_format: InputFormat
    device: torch.device
    batch_size: int = 32
    autocast_dtype: torch.dtype | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
    ) -> RewardScorer:
        """Load an artifact; bf16 autocast on a bf16-capable GPU, fp32 elsewhere."""
        target = torch.device(device) if device is not None else _default_device()
        meta = read_metadata(path)
        tokenizer = load_tokenizer(str(path))
        model = load_sequence_classifier(str(path), attn_implementation="sdpa")
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        model.to(target).eval()
        reward_model = RewardModel(model, packed=False)
        if meta is not None:
            fmt = InputFormat.from_dict(meta["input_format"])
            if max_length is not None:
                fmt = InputFormat.from_dict({**fmt.to_dict(), "max_length": max_length})
        else:
            fmt = input_format_for(
                tokenizer,
                max_length=max_length or min(int(getattr(tokenizer, "model_max_length", 512)), 4096),
                truncation_side="left",
                token_types=reward_model.uses_token_types,
            )
        bf16 = target.type == "cuda" and torch.cuda.is_bf16_supported()
        return cls(reward_model, tokenizer, fmt, target, batch_size, torch.bfloat16 if bf16 else None, meta)

    def score(self, items: Sequence[PromptAndResponses]) -> list[list[float]]:
        """One reward per response, in the given order. A single response is scored too (no ordering needed)."""
        examples = [
            PreferenceExample(
                prompt=as_messages(prompt),
                # a one-response item is padded with a copy so it fits the comparison shape, then dropped
                responses=tuple(responses) if len(responses) > 1 else (responses[0], responses[0]),
                ranks=(1,) * max(2, len(responses)),
            )
            for prompt, responses in items
        ]
        scores = self.score_examples(examples)
        return [row[: len(responses)] for row, (_, responses) in zip(scores, items, strict=True)]

    def score_examples(self, examples: Sequence[PreferenceExample]) -> list[list[float]]:
        data = encode_examples(examples, self.tokenizer, self.input_format)
        scored = score_dataset(
            self.model,
            data,
            batch_size=self.batch_size,
            pad_id=self.tokenizer.pad_token_id,
            device=self.device,
            autocast_dtype=self.autocast_dtype,
        )
        return [scored[i].tolist() for i in range(len(examples))]

    def evaluate(self, examples: Sequence[PreferenceExample], *, bootstrap_samples: int = 1000) -> EvaluationResult:
        """Evaluate on any other project or import: score, then the same metrics as the held-out split."""
        return evaluate_scores(examples, self.score_examples(examples), bootstrap_samples=bootstrap_samples)


def score_responses(path: str | Path, items: Sequence[PromptAndResponses], **kwargs: Any) -> list[list[float]]:
    """One-shot convenience: load `path` and score `items`."""
    return RewardScorer.load(path, **kwargs).score(items)


def _default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
