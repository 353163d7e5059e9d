"""`train()`: the reward-model training loop. See the package docstring for the API and docs/training.md."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .artifact import save_artifact
from .collate import collate, length_grouped_batches
from .config import EPSILON_LOSSES, TrainingConfig
from .data import EncodedDataset, PreferenceExample, encode_examples, estimate_flip_rate, input_format_for
from .evaluation import EvaluationResult, evaluate_scores
from .fingerprint import data_fingerprint, git_revision, library_versions
from .losses import pairwise_accuracy_counts, preference_loss
from .modeling import (
    RewardModel,
    choose_packed,
    disable_dropout,
    load_sequence_classifier,
    load_tokenizer,
    score_dataset,
    set_attention,
)


@dataclass(frozen=True)
class Progress:
    """Reported after every optimiser step, on the main process."""

    step: int
    total_steps: int
    epoch: float  # fractional: 1.5 = half-way through the second epoch
    loss: float  # mean over this step's micro-batches (and processes)
    accuracy: float  # pairwise accuracy of this step's batches, before the update; nan if they held only ties
    learning_rate: float
    samples_per_s: float  # comparisons per second since training started, all processes
    tokens_per_s: float  # non-pad tokens per second since training started, all processes
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class TrainingResult:
    status: Literal["completed", "cancelled"]
    steps: int
    total_steps: int
    epochs: float
    train_loss: float | None  # mean loss over the last epoch's steps (or all steps of a shorter run)
    metrics: EvaluationResult | None  # held-out evaluation; None if cancelled or no eval examples
    artifact_dir: str | None  # None if cancelled or no output_dir was given
    history: list[Progress]
    timings: dict[str, float]  # seconds: load, tokenize, train, evaluate, save, total
    throughput: dict[str, float]  # tokens_per_s, samples_per_s, padding_efficiency (real / computed tokens)
    truncation: dict[str, dict[str, int]]  # {"train": ..., "eval": ...} from EncodedDataset.truncation_report()
    epsilon: float | None
    epsilon_source: str | None  # "given", "agreement" (from repeated judgments) or "fallback"
    data_fingerprint: str
    eval_fingerprint: str
    library_versions: dict[str, str]
    git_revision: str | None
    config: dict[str, Any]
    runtime: dict[str, Any]  # device, world_size, precision, padding_free, group_by_length, attention, threads

    def to_dict(self, *, include_pairs: bool = False) -> dict[str, Any]:
        """JSON-ready; per-pair scores (thousands of rows) only if asked for."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("metrics", "history")}
        data["history"] = [asdict(p) for p in self.history]
        data["metrics"] = None if self.metrics is None else self.metrics.to_dict(include_pairs=include_pairs)
        return data


ProgressCallback = Callable[[Progress], None]
StopCheck = Callable[[], bool]


class _StepPlan:
    """Micro-batches of one process for one epoch, grouped into optimiser steps."""

    def __init__(
        self, lengths: Sequence[int], config: TrainingConfig, rank: int, world: int, *, group_by_length: bool
    ) -> None:
        self.lengths, self.config, self.rank, self.world = lengths, config, rank, world
        self.group_by_length = group_by_length
        n_batches = math.ceil(len(lengths) / config.batch_size)
        # Every process must take the same number of steps (DDP all-reduces each backward): the last
        # n_batches % world batches of an epoch are left out when several processes train.
        self.batches_per_rank = n_batches // world
        if self.batches_per_rank == 0:
            raise ValueError(f"{len(lengths)} training examples make fewer batches than the {world} processes")
        self.steps_per_epoch = math.ceil(self.batches_per_rank / config.grad_accum)

    def epoch(self, epoch: int) -> list[list[list[int]]]:
        c = self.config
        batches = length_grouped_batches(
            self.lengths, c.batch_size, seed=c.seed, epoch=epoch, group_by_length=self.group_by_length
        )
        mine = batches[self.rank :: self.world][: self.batches_per_rank]
        return [mine[i : i + c.grad_accum] for i in range(0, len(mine), c.grad_accum)]


def train(
    config: TrainingConfig,
    train_examples: Sequence[PreferenceExample],
    eval_examples: Sequence[PreferenceExample] = (),
    progress_callback: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    *,
    output_dir: str | Path | None = None,
    base_model_path: str | None = None,
) -> TrainingResult:
    """Train a reward model; evaluate it on `eval_examples`; save it to `output_dir` (on the main process).

    Raises on bad input or failure (the caller records the error). `should_stop` is polled before every optimiser
    step: when it returns True the run ends within one step with status "cancelled" and nothing saved.
    Under `accelerate launch` every process calls `train` with the same arguments; only the main process
    reports progress and writes the artifact.
    `base_model_path`: where to load `config.base_model` from when the config names it by a reference the caller
    resolved (the app's `shipped:...`, `run:<id>`); the config, and so the artifact's metadata, keep the reference.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    started = time.perf_counter()
    timings: dict[str, float] = {}
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    if not train_examples:
        raise ValueError("no training examples")
    bf16 = _use_bf16(config)
    accelerator = Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=not torch.cuda.is_available())
    device = accelerator.device

    # The head is initialised from the global RNG: seed before loading, so equal seeds give equal models.
    set_seed(config.seed)
    source = base_model_path or config.base_model
    tokenizer = load_tokenizer(source)
    model = load_sequence_classifier(source, attn_implementation=config.attn_implementation)
    if base_model_path is not None:
        # from_pretrained records the folder it read; the saved artifact must name the reference, not a server path.
        model.config._name_or_path = config.base_model
        tokenizer.name_or_path = config.base_model
    model.config.pad_token_id = tokenizer.pad_token_id
    if config.disable_dropout:
        disable_dropout(model)
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # the transformers 5 name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.lora:
        model = _with_lora(model, config)
    packed, packed_attention = choose_packed(model, config.padding_free, device, half_precision=bf16)
    if packed and packed_attention is not None:
        set_attention(model, packed_attention)
    reward_model = RewardModel(model, packed=packed, packed_attention=packed_attention)
    timings["load"] = time.perf_counter() - started

    t = time.perf_counter()
    fmt = input_format_for(
        tokenizer,
        max_length=config.max_length,
        truncation_side=config.truncation_side,
        style=config.input_style,
        token_types=config.token_types and reward_model.uses_token_types,
    )
    # The fingerprint, epsilon and the run's counts stay those of the judgments; only what is batched changes.
    fit_examples = (
        [pair for example in train_examples for pair in example.untied_pairs()]
        if config.list_pairs == "shuffled"
        else train_examples
    )
    if not fit_examples:
        raise ValueError("no untied pairs to train on (every training judgment is a tie)")
    train_data = encode_examples(fit_examples, tokenizer, fmt)
    eval_data = encode_examples(eval_examples, tokenizer, fmt) if eval_examples else None
    timings["tokenize"] = time.perf_counter() - t
    epsilon, epsilon_source = _resolve_epsilon(config, train_examples)

    reward_model = accelerator.prepare_model(reward_model)
    optimizer = _adamw(_param_groups(accelerator.unwrap_model(reward_model), config.weight_decay), config.learning_rate)
    group_by_length = config.group_by_length if config.group_by_length is not None else not packed
    plan = _StepPlan(
        [max(e.lengths) for e in train_data.examples],
        config,
        accelerator.process_index,
        accelerator.num_processes,
        group_by_length=group_by_length,
    )
    total_steps = math.ceil(config.epochs * plan.steps_per_epoch)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    scheduler = _linear_schedule(optimizer, total_steps, config.warmup_ratio)

    loop = _Loop(
        config,
        accelerator,
        reward_model,
        optimizer,
        scheduler,
        train_data,
        tokenizer.pad_token_id,
        epsilon,
        total_steps,
        plan,
        progress_callback,
        should_stop,
    )
    t = time.perf_counter()
    status = loop.run()
    timings["train"] = time.perf_counter() - t

    metrics = None
    artifact = None
    unwrapped: RewardModel = accelerator.unwrap_model(reward_model)
    if status == "completed" and eval_data is not None and len(eval_data):
        t = time.perf_counter()
        metrics = _evaluate(accelerator, unwrapped, eval_data, eval_examples, config, tokenizer.pad_token_id, bf16)
        timings["evaluate"] = time.perf_counter() - t

    runtime = {
        "device": str(device),
        "world_size": accelerator.num_processes,
        "precision": "bf16" if bf16 else "fp32",
        "padding_free": packed,
        "group_by_length": group_by_length,
        "attention": packed_attention or config.attn_implementation,
        "torch_threads": torch.get_num_threads(),
    }
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "data_fingerprint": data_fingerprint(train_examples),
        "eval_fingerprint": data_fingerprint(eval_examples),
        "n_train": len(train_examples),
        "n_eval": len(eval_examples),
        "epsilon": epsilon,
        "epsilon_source": epsilon_source,
        "truncation": {
            "train": train_data.truncation_report(),
            "eval": eval_data.truncation_report() if eval_data is not None else {},
        },
        "library_versions": library_versions(),
        "git_revision": git_revision(),
        "runtime": runtime,
        "steps": loop.step,
    }
    if metrics is not None:
        meta["metrics"] = _metrics_summary(metrics)
    if status == "completed" and output_dir is not None:
        t = time.perf_counter()
        if accelerator.is_main_process:
            set_attention(unwrapped.model, config.attn_implementation)  # the packed kernel is ours, not the model's
            model_to_save = unwrapped.model.merge_and_unload() if config.lora else unwrapped.model
            save_artifact(output_dir, model=model_to_save, tokenizer=tokenizer, input_format=fmt, metadata=meta)
        accelerator.wait_for_everyone()
        artifact = str(output_dir)
        timings["save"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    return TrainingResult(
        status=status,
        steps=loop.step,
        total_steps=total_steps,
        epochs=loop.step / plan.steps_per_epoch,
        train_loss=loop.train_loss(),
        metrics=metrics,
        artifact_dir=artifact,
        history=loop.history,
        timings=timings,
        throughput=loop.throughput(),
        truncation=meta["truncation"],
        epsilon=epsilon,
        epsilon_source=epsilon_source,
        data_fingerprint=meta["data_fingerprint"],
        eval_fingerprint=meta["eval_fingerprint"],
        library_versions=meta["library_versions"],
        git_revision=meta["git_revision"],
        config=meta["config"],
        runtime=runtime,
    )


@dataclass
class _Loop:
    config: TrainingConfig
    accelerator: Any
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    data: EncodedDataset
    pad_id: int
    epsilon: float | None
    total_steps: int
    plan: _StepPlan
    progress_callback: ProgressCallback | None
    should_stop: StopCheck | None
    step: int = 0
    history: list[Progress] = field(default_factory=list)
    tokens: float = 0.0
    samples: float = 0.0
    positions: float = 0.0
    elapsed: float = 0.0
    epoch_losses: dict[int, list[float]] = field(default_factory=dict)

    def run(self) -> Literal["completed", "cancelled"]:
        self.model.train()
        fmt = self.data.input_format
        started = time.perf_counter()
        epoch = 0
        while self.step < self.total_steps:
            for micro_batches in self.plan.epoch(epoch):
                if self._stop_requested():
                    return "cancelled"
                sums = torch.zeros(5, dtype=torch.float64)  # loss, correct, pairs, samples, tokens
                positions = 0
                for position, indices in enumerate(micro_batches):
                    batch = collate(
                        [self.data.examples[i] for i in indices],
                        pad_id=self.pad_id,
                        packed=self.model_packed,
                        type_a=fmt.type_a,
                        type_b=fmt.type_b,
                    ).to(self.accelerator.device)
                    last = position == len(micro_batches) - 1
                    # Gradients are all-reduced once per optimiser step, on its last micro-batch.
                    sync = contextlib.nullcontext() if last else self.accelerator.no_sync(self.model)
                    with sync:
                        rewards = self.model(**batch.model_inputs())  # (N,)
                        scores = batch.scatter(rewards)  # (B, K)
                        loss = preference_loss(
                            self.config.loss,
                            scores,
                            batch.ranks,
                            batch.mask,
                            batch.margin * self.config.margin_scale,
                            self.epsilon or 0.0,
                        )
                        self.accelerator.backward(loss / len(micro_batches))
                    correct, pairs = pairwise_accuracy_counts(scores.detach(), batch.ranks, batch.mask)
                    sums += torch.tensor(
                        [loss.item() / len(micro_batches), correct.item(), pairs.item(), batch.n_lists, batch.n_tokens],
                        dtype=torch.float64,
                    )
                    positions += batch.n_positions
                if self.config.max_grad_norm is not None:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                sums = self._all_processes(sums)
                self.elapsed = time.perf_counter() - started
                self._record(sums, positions, epoch)
                if self.step >= self.total_steps:
                    break
            epoch += 1
        return "completed"

    @property
    def model_packed(self) -> bool:
        return bool(self.accelerator.unwrap_model(self.model).packed)

    def _stop_requested(self) -> bool:
        wants = bool(self.should_stop()) if self.should_stop is not None and self.accelerator.is_main_process else False
        if self.accelerator.num_processes == 1:
            return wants
        # Only the main process asks; every process must leave the loop at the same step.
        flag = torch.tensor([1.0 if wants else 0.0], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)

    def _all_processes(self, sums: torch.Tensor) -> torch.Tensor:
        if self.accelerator.num_processes == 1:
            return sums
        total = self.accelerator.reduce(sums.to(self.accelerator.device, torch.float32), reduction="sum")
        total = total.to("cpu", torch.float64)
        total[0] /= self.accelerator.num_processes  # the loss is a mean, the rest are counts
        return total

    def _record(self, sums: torch.Tensor, positions: int, epoch: int) -> None:
        loss, correct, pairs, samples, tokens = sums.tolist()
        self.tokens += tokens
        self.samples += samples
        self.positions += positions * self.accelerator.num_processes
        self.epoch_losses.setdefault(epoch, []).append(loss)
        remaining = self.total_steps - self.step
        progress = Progress(
            step=self.step,
            total_steps=self.total_steps,
            epoch=self.step / self.plan.steps_per_epoch,
            loss=loss,
            accuracy=correct / pairs if pairs else float("nan"),
            learning_rate=float(self.scheduler.get_last_lr()[0]),
            samples_per_s=self.samples / self.elapsed if self.elapsed else 0.0,
            tokens_per_s=self.tokens / self.elapsed if self.elapsed else 0.0,
            elapsed_s=self.elapsed,
            eta_s=self.elapsed / self.step * remaining,
        )
        self.history.append(progress)
        if self.progress_callback is not None and self.accelerator.is_main_process:
            self.progress_callback(progress)

    def train_loss(self) -> float | None:
        if not self.epoch_losses:
            return None
        return float(np.mean(self.epoch_losses[max(self.epoch_losses)]))

    def throughput(self) -> dict[str, float]:
        if not self.elapsed:
            return {}
        return {
            "tokens_per_s": self.tokens / self.elapsed,
            "samples_per_s": self.samples / self.elapsed,
            "padding_efficiency": self.tokens / self.positions if self.positions else 0.0,
            "train_seconds": self.elapsed,
        }


def _use_bf16(config: TrainingConfig) -> bool:
    if config.precision == "bf16":
        return True
    if config.precision == "fp32":
        return False
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _resolve_epsilon(config: TrainingConfig, examples: Sequence[PreferenceExample]) -> tuple[float | None, str | None]:
    if config.loss not in EPSILON_LOSSES:
        return None, None
    if config.epsilon is not None:
        return config.epsilon, "given"
    estimate = estimate_flip_rate(examples)
    if estimate is not None:
        return estimate[0], "agreement"
    return config.epsilon_fallback, "fallback"


def _with_lora(model: nn.Module, config: TrainingConfig) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules) if config.lora_target_modules else "all-linear",
    )
    peft_model = get_peft_model(model, lora)
    if config.gradient_checkpointing:
        peft_model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    return peft_model


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # No weight decay on biases and normalisation weights (the usual AdamW recipe, as in HF Trainer).
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _adamw(groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    # The fused kernel (CPU and CUDA) updates all parameters in one pass: ~3% of a MiniLM step on CPU saved.
    params = [p for g in groups for p in g["params"]]
    fused = all(p.dtype.is_floating_point and p.device.type in ("cpu", "cuda") for p in params)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=fused)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr)


def _linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = math.ceil(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _evaluate(
    accelerator: Any,
    model: RewardModel,
    data: EncodedDataset,
    examples: Sequence[PreferenceExample],
    config: TrainingConfig,
    pad_id: int,
    bf16: bool,
) -> EvaluationResult:
    # Each process scores a strided share; every process gets all scores back and computes the same metrics.
    from accelerate.utils import gather_object

    rank, world = accelerator.process_index, accelerator.num_processes
    mine = list(range(rank, len(data.examples), world))
    scored = score_dataset(
        model,
        data,
        batch_size=config.eval_batch_size,
        pad_id=pad_id,
        device=accelerator.device,
        indices=mine,
        autocast_dtype=torch.bfloat16 if bf16 else None,
    )
    items = list(scored.items())
    if world > 1:
        items = gather_object(items)
    by_index = dict(items)
    scores = [by_index[i].tolist() for i in range(len(data.examples))]
    return evaluate_scores(
        examples,
        scores,
        bins=config.calibration_bins,
        bootstrap_samples=config.bootstrap_samples,
        seed=config.seed,
    )


def _metrics_summary(metrics: EvaluationResult) -> dict[str, Any]:
    data = metrics.to_dict()
    intervals = {
        name: data[name]
        for name in (
            "accuracy",
            "mean_margin",
            "brier",
            "ece",
            "ranking_accuracy",
            "kendall_tau",
            "ndcg",
            "top1_accuracy",
        )
        if data.get(name) is not None
    }
    return {
        "headline": metrics.headline(),
        "intervals": intervals,
        "n_pairs": metrics.n_pairs,
        "n_tied_pairs": metrics.n_tied_pairs,
        "n_groups": metrics.n_groups,
        "per_category": data["per_category"],
    }
