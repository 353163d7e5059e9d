"""Reward-model training core: Django-free, importable in a notebook, a test, or on a GPU box.

Importing this package is cheap: `TrainingConfig`, `PreferenceExample`, `split_by_group` and
`default_base_model_path` need neither torch nor transformers (the web process may build and validate configs).
Everything else is loaded on first use.

API for the Django side (the Celery task and the scoring job)
-------------------------------------------------------------

Build examples from active judgments (one per judgment; ranks from its placements, 1 = best, ties equal)::

    from rewards.training import PreferenceExample, TrainingConfig, split_by_group, train

    example = PreferenceExample(
        prompt=[{"role": "user", "content": "..."}],       # Prompt.messages
        responses=("text a", "text b", ...),               # Response.text, any order
        ranks=(1, 2, ...),                                 # Placement.rank of each response
        margin=judgment.margin,                            # strength, for bradley_terry_margin (None = 0)
        group_id=str(prompt.pk),                           # split and bootstrap by prompt
        category=prompt.category,
        example_id=str(judgment.pk),                       # carried into per-pair scores
        response_contexts=None,                            # or per response: its own conversation (MT-Bench turn 2)
    )
    # PreferenceExample.pair(prompt, chosen, rejected, tie=False, margin=None, group_id=..., ...) for pairs.

    config = TrainingConfig(loss="bradley_terry", epochs=1, batch_size=16, max_length=256, ...)
    config.to_dict() / TrainingConfig.from_dict(d)          # JSON for the run row; bad values raise ValueError
    train_set, held_out = split_by_group(examples, config.eval_fraction, config.seed)   # deterministic by prompt

    result = train(
        config, train_set, held_out,
        progress_callback=lambda p: ...,   # Progress(step, total_steps, epoch, loss, accuracy, learning_rate,
                                           #          samples_per_s, tokens_per_s, elapsed_s, eta_s), every step
        should_stop=lambda: ...,           # polled before each optimiser step; True -> status "cancelled"
        output_dir=artifact_dir,           # HF-format artifact: from_pretrained(artifact_dir) loads it
    )
    result.status                 # "completed" | "cancelled"
    result.metrics                # EvaluationResult: accuracy/margin/brier/ece/kendall_tau/ndcg/... as Interval(value,
                                  # low, high), per_category, reliability bins, n_tied_pairs, pair_scores (per pair)
    result.to_dict()              # JSON for the run row (without per-pair scores unless include_pairs=True)
    result.history, .timings, .throughput, .truncation, .data_fingerprint, .library_versions, .git_revision, .runtime

`train` raises on errors (the task records them). Run it in a process of its own (`--max-tasks-per-child=1`):
it sets torch threads (`config.num_threads`) and may hold GBs of GPU memory until the process exits.

The trained model as a judge, or evaluation on any other project::

    from rewards.training.scoring import RewardScorer
    scorer = RewardScorer.load(artifact_dir)                     # cuda if available
    scorer.score([(messages, [text_a, text_b, ...]), ...])       # -> [[r_a, r_b, ...], ...]; order by -reward
    scorer.evaluate(examples)                                    # -> EvaluationResult

    from rewards.training.evaluation import evaluate_scores      # numpy only: metrics of any judge's scores
    evaluate_scores(examples, scores, bootstrap_samples=1000)

Multi-GPU: every process runs the same `train(...)` call under `accelerate launch --num_processes N script.py`;
see docs/training.md and `rewards.training.distributed_check`.

Modules: config (TrainingConfig), data (examples, split, tokenisation and truncation), collate (length-grouped
batches, one forward pass per batch, the packed layout), losses, modeling (the reward model wrapper, padding-free
attention), trainer (train), evaluation (metrics, bootstrap), scoring (artifacts -> rewards), artifact (save, model
card), fingerprint (data hash, versions, git revision).
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import FIELD_CHOICES, LOSS_NAMES, TrainingConfig, default_base_model_path
from .data import PreferenceExample, split_by_group

_LAZY = {
    "train": "trainer",
    "Progress": "trainer",
    "TrainingResult": "trainer",
    "EvaluationResult": "evaluation",
    "evaluate_scores": "evaluation",
    "RewardScorer": "scoring",
    "score_responses": "scoring",
    "data_fingerprint": "fingerprint",
}

__all__ = [
    "FIELD_CHOICES",
    "LOSS_NAMES",
    "PreferenceExample",
    "TrainingConfig",
    "default_base_model_path",
    "split_by_group",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    # PEP 562: the heavy modules (torch, transformers) load only when their names are used.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
