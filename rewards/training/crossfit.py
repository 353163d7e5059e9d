"""Noisy-label detection with a reward model (JUDGING.md, detectors 1 and 2). No Django.

`crossfit(examples, config, folds=K, seeds=S)` trains K * S reward models with the training core: for each ensemble
member s the prompts are split into K folds by the one split rule (`annotation.analysis.split.prompt_bucket` with
seed `config.seed + s`), and the model trained on the other K - 1 folds scores fold k, so no judgment is scored by
a model that saw it (the result keeps the bookkeeping to prove it). Per judgment:

- suspicion = sigma(r_worse - r_better) of the judged order (a list: the mean over its untied induced pairs),
  averaged over the S members; this is also the out-of-fold probability that the label is wrong (`p_wrong`);
- the margin r_better - r_worse, its mean and its spread (standard deviation) over the members: a small mean with a
  large spread is an ambiguous pair rather than a wrong label. The spread needs S >= 2.

`confident_learning(result)` runs cleanlab's `find_label_issues` (two classes) on the out-of-fold probabilities,
one row per untied pair with the class "the first of the two is better" (first by a hash of the response texts, not
by listing order: the database lists a pair's responses by id, often the chosen one first, which would give cleanlab
one class), and estimates the flip rate from
cleanlab's calibrated confident joint (the off-diagonal mass), for the noise-robust losses' epsilon.

`in_sample_loss(examples, config)` is the baseline without cross-fitting: one model trained on all the data scores
the same data (the "small-loss" trick), for bench/noise_detection.py.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from annotation.analysis.noise.suspicion import Suspicion
from annotation.analysis.split import prompt_bucket

from .config import TrainingConfig
from .data import PreferenceExample

# The held-out accuracy interval of each fold's model is only a sanity number here: a short bootstrap is enough.
FOLD_BOOTSTRAP_SAMPLES = 100


@dataclass(frozen=True)
class CrossfitProgress:
    """Reported after every optimiser step of every model, and after each model has scored its fold."""

    model: int  # 1-based: the model being trained now
    models: int  # K * S, less folds that hold nothing to score
    member: int  # 0-based ensemble member (seed index)
    fold: int
    step: int
    total_steps: int
    judgments_scored: int  # judgment scorings done so far, over all members (at most S * judgments)


@dataclass(frozen=True)
class FoldModel:
    """What one model trained on and what it scored: `train_ids` and `scored_ids` never share a judgment or a prompt."""

    member: int
    seed: int
    fold: int
    train_ids: tuple[str, ...]
    scored_ids: tuple[str, ...]
    train_groups: frozenset[str]
    scored_groups: frozenset[str]
    steps: int
    held_out_accuracy: float | None


@dataclass(frozen=True)
class JudgmentScore:
    example_id: str
    p_wrong: float  # mean over members of sigma(r_worse - r_better); the suspicion
    margin_mean: float  # mean over members of r_better - r_worse
    margin_spread: float  # standard deviation of that margin over members (0 with one member)
    n_pairs: int  # untied induced pairs of the judgment
    folds: tuple[int, ...]  # the fold that held it out, per member


@dataclass(frozen=True)
class PairProbability:
    """One untied induced pair for confident learning: class 0 = the first of the two (by `_first`) is better."""

    example_id: str
    label: int
    p_first_better: float  # mean over members of sigma(r_first - r_second)


@dataclass
class CrossfitResult:
    status: Literal["completed", "cancelled"]
    folds: int
    seeds: int
    scores: list[JudgmentScore] = field(default_factory=list)
    pairs: list[PairProbability] = field(default_factory=list)
    models: list[FoldModel] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)  # judgments with no untied pair (ties only)

    def by_id(self) -> dict[str, JudgmentScore]:
        return {s.example_id: s for s in self.scores}


@dataclass(frozen=True)
class ConfidentLearningResult:
    label_issue: dict[str, bool]  # per judgment: any of its pairs is a label issue
    flip_rate: float | None  # off-diagonal mass of cleanlab's estimated joint; None if it could not be estimated
    issue_rate: float  # share of pairs flagged
    joint: list[list[float]]  # 2 x 2, rows = given label, columns = estimated true label
    n_pairs: int
    note: str = ""

    def report(self) -> dict[str, Any]:
        return {
            "flip_rate": self.flip_rate,
            "issue_rate": self.issue_rate,
            "joint": self.joint,
            "n_pairs": self.n_pairs,
            "label_issues": sum(self.label_issue.values()),
            "note": self.note,
        }


ProgressCallback = Callable[[CrossfitProgress], None]
StopCheck = Callable[[], bool]


def fold_of(group_id: str, *, folds: int, seed: int) -> int:
    """The fold of a prompt: the one split's bucket in [0, 1) cut into `folds` equal parts."""
    return min(folds - 1, int(prompt_bucket(group_id, seed) * folds))


def crossfit(
    examples: Sequence[PreferenceExample],
    config: TrainingConfig,
    *,
    folds: int = 5,
    seeds: int = 1,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    base_model_path: str | None = None,
) -> CrossfitResult:
    """Out-of-fold suspicion of every judgment with an untied pair. Raises ValueError on unusable input."""
    from . import train  # torch loads here (the package's lazy name), not when this module is imported

    if folds < 2 or seeds < 1:
        raise ValueError("cross-fitting needs at least 2 folds and 1 seed")
    ids = [e.example_id for e in examples]
    if len(set(ids)) != len(ids) or not all(ids):
        raise ValueError("every example needs its own non-empty example_id (the judgment id)")
    scorable = [e for e in examples if not e.is_tie_only]
    plans = []
    for member in range(seeds):
        split_seed = config.seed + member
        fold_ids = [fold_of(e.group_id, folds=folds, seed=split_seed) for e in examples]
        if len(set(fold_ids)) < 2:
            raise ValueError("cross-fitting needs prompts in at least two folds: add prompts or lower the folds")
        for fold in range(folds):
            held = [e for e, f in zip(examples, fold_ids, strict=True) if f == fold]
            if any(not e.is_tie_only for e in held):
                rest = [e for e, f in zip(examples, fold_ids, strict=True) if f != fold]
                plans.append((member, split_seed, fold, rest, held))

    result = CrossfitResult(status="completed", folds=folds, seeds=seeds)
    # Per member: example id -> (mean margin, mean p_wrong); pair key -> p_first_better.
    margins: dict[str, list[float]] = {}
    wrongs: dict[str, list[float]] = {}
    pair_probs: dict[tuple[str, int, int, int], list[float]] = {}  # (id, better, worse, label) -> p per member
    pair_counts: dict[str, int] = {}
    folds_of: dict[str, list[int]] = {}
    scored = 0
    for index, (member, seed, fold, rest, held) in enumerate(plans, start=1):
        fold_config = config.replace(seed=seed, bootstrap_samples=min(config.bootstrap_samples, FOLD_BOOTSTRAP_SAMPLES))

        def on_step(p: Any, member: int = member, fold: int = fold, index: int = index, done: int = scored) -> None:
            if progress is not None:
                progress(CrossfitProgress(index, len(plans), member, fold, p.step, p.total_steps, done))

        outcome = train(fold_config, rest, held, on_step, should_stop, base_model_path=base_model_path)
        if outcome.status == "cancelled" or outcome.metrics is None:
            return CrossfitResult(status="cancelled", folds=folds, seeds=seeds, models=result.models)
        per_example = _collect(outcome.metrics.pair_scores, held)
        for example_id, (margin, wrong, n_pairs, pair_rows) in per_example.items():
            margins.setdefault(example_id, []).append(margin)
            wrongs.setdefault(example_id, []).append(wrong)
            folds_of.setdefault(example_id, []).append(fold)
            pair_counts[example_id] = n_pairs
            for (better, worse, label), prob in pair_rows.items():
                pair_probs.setdefault((example_id, better, worse, label), []).append(prob)
        scored += len(per_example)
        accuracy = outcome.metrics.accuracy
        result.models.append(
            FoldModel(
                member=member,
                seed=seed,
                fold=fold,
                train_ids=tuple(e.example_id for e in rest),
                scored_ids=tuple(per_example),
                train_groups=frozenset(e.group_id for e in rest),
                scored_groups=frozenset(e.group_id for e in held if e.example_id in per_example),
                steps=outcome.steps,
                held_out_accuracy=None if accuracy is None else accuracy.value,
            )
        )
        if progress is not None:
            progress(CrossfitProgress(index, len(plans), member, fold, outcome.steps, outcome.total_steps, scored))

    for example in scorable:
        key = example.example_id
        m = np.asarray(margins[key], dtype=np.float64)
        result.scores.append(
            JudgmentScore(
                example_id=key,
                p_wrong=float(np.mean(wrongs[key])),
                margin_mean=float(m.mean()),
                margin_spread=float(m.std()),
                n_pairs=pair_counts[key],
                folds=tuple(folds_of[key]),
            )
        )
    result.pairs = [
        PairProbability(example_id, label, float(np.mean(values)))
        for (example_id, _better, _worse, label), values in pair_probs.items()
    ]
    result.unscored = [e.example_id for e in examples if e.is_tie_only]
    return result


def _collect(
    pair_scores: Sequence[Any], held: Sequence[PreferenceExample]
) -> dict[str, tuple[float, float, int, dict[tuple[int, int, int], float]]]:
    """Per held-out judgment: (mean margin, mean p_wrong, untied pairs, {(better, worse, label): p_first_better})."""
    out: dict[str, tuple[float, float, int, dict[tuple[int, int, int], float]]] = {}
    grouped: dict[str, list[Any]] = {}
    for pair in pair_scores:
        if not pair.tie:
            grouped.setdefault(held[pair.example_index].example_id, []).append(pair)
    for example_id, pairs in grouped.items():
        gaps = np.array([p.score_a - p.score_b for p in pairs])
        rows = {}
        for p, gap in zip(pairs, gaps, strict=True):
            # p.a is the better response (gap = r_a - r_b); label 0 when it is the pair's first.
            first_is_better = _first(held[p.example_index], p.a, p.b) == p.a
            rows[(p.a, p.b, 0 if first_is_better else 1)] = _sigmoid(gap if first_is_better else -gap)
        out[example_id] = (float(gaps.mean()), float(np.mean(_sigmoid(-gaps))), len(pairs), rows)
    return out


def _first(example: PreferenceExample, i: int, j: int) -> int:
    """Which of two responses is the pair's first: by a hash of its text (the listing order may follow the label)."""
    key_i = (hashlib.blake2b(example.responses[i].encode(), digest_size=8).digest(), i)
    key_j = (hashlib.blake2b(example.responses[j].encode(), digest_size=8).digest(), j)
    return i if key_i < key_j else j


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def confident_learning(result: CrossfitResult) -> ConfidentLearningResult:
    """cleanlab on the out-of-fold probabilities: label issues per judgment and the estimated flip rate."""
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues

    pairs = result.pairs
    labels = np.array([p.label for p in pairs], dtype=np.int64)
    first = np.array([p.p_first_better for p in pairs], dtype=np.float64)
    empty = ConfidentLearningResult({}, None, 0.0, [], len(pairs))
    if len(pairs) < 10 or len(set(labels.tolist())) < 2:
        # cleanlab needs both classes given; with pairs always listed best first there is nothing to contrast.
        return ConfidentLearningResult(
            {p.example_id: False for p in pairs}, None, 0.0, [], len(pairs), "too few pairs or one class only"
        )
    pred_probs = np.clip(np.column_stack([first, 1.0 - first]), 1e-6, 1 - 1e-6)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    # n_jobs=1: cleanlab's multiprocessing cannot start from a prefork Celery worker (a daemonic process).
    issues = find_label_issues(labels, pred_probs, n_jobs=1)
    joint = estimate_joint(labels, pred_probs)
    flags: dict[str, bool] = {}
    for pair, issue in zip(pairs, issues, strict=True):
        flags[pair.example_id] = flags.get(pair.example_id, False) or bool(issue)
    if not len(joint):
        return empty
    return ConfidentLearningResult(
        label_issue=flags,
        flip_rate=float(1.0 - np.trace(joint)),
        issue_rate=float(issues.mean()),
        joint=[[float(v) for v in row] for row in joint],
        n_pairs=len(pairs),
    )


def in_sample_loss(
    examples: Sequence[PreferenceExample],
    config: TrainingConfig,
    *,
    should_stop: StopCheck | None = None,
    base_model_path: str | None = None,
) -> dict[str, float]:
    """The small-loss baseline without cross-fitting: one model trained on all examples scores them; returns
    sigma(r_worse - r_better) per judgment (monotone in its training loss -log(1 - p)). Empty if cancelled."""
    from . import train

    fit_config = config.replace(bootstrap_samples=min(config.bootstrap_samples, FOLD_BOOTSTRAP_SAMPLES))
    outcome = train(fit_config, examples, examples, None, should_stop, base_model_path=base_model_path)
    if outcome.status == "cancelled" or outcome.metrics is None:
        return {}
    return {key: wrong for key, (_m, wrong, _n, _rows) in _collect(outcome.metrics.pair_scores, examples).items()}


def flip_labels(
    examples: Sequence[PreferenceExample], rate: float, *, seed: int
) -> tuple[list[PreferenceExample], set[str]]:
    """Reverse the ordering of a random `rate` share of the untied judgments (fixed seed): planted label noise.
    Returns the new examples and the ids of the flipped ones."""
    rng = random.Random(seed)
    candidates = [e.example_id for e in examples if not e.is_tie_only]
    flipped = set(rng.sample(candidates, round(rate * len(candidates))))
    out = []
    for e in examples:
        if e.example_id in flipped:
            worst = max(e.ranks) + 1
            e = PreferenceExample(
                prompt=e.prompt,
                responses=e.responses,
                ranks=tuple(worst - r for r in e.ranks),
                margin=e.margin,
                group_id=e.group_id,
                category=e.category,
                example_id=e.example_id,
                response_contexts=e.response_contexts,
            )
        out.append(e)
    return out, flipped


def reward_model_suspicions(result: CrossfitResult) -> list[Suspicion]:
    """Detector 1 as flags: the out-of-fold probability that the judged order is wrong, with the margin's numbers."""
    out = []
    for s in result.scores:
        verdict = "prefers the other order" if s.p_wrong > 0.5 else "agrees with this order"
        spread = f" ± {s.margin_spread:.2f} over {result.seeds} seeds" if result.seeds > 1 else ""
        reason = (
            f"A reward model that never saw this prompt {verdict}: P(wrong) {s.p_wrong:.2f}, "
            f"margin {s.margin_mean:+.2f}{spread}."
        )
        details = {
            "p_wrong": s.p_wrong,
            "margin_mean": s.margin_mean,
            "margin_spread": s.margin_spread,
            "pairs": s.n_pairs,
            "folds": result.folds,
            "seeds": result.seeds,
        }
        out.append(Suspicion(int(s.example_id), _unit(s.p_wrong), reason, details))
    return out


def confident_learning_suspicions(result: CrossfitResult, cl: ConfidentLearningResult) -> list[Suspicion]:
    """Detector 2 as flags: cleanlab's verdict per judgment. The score is the out-of-fold P(wrong) (for two classes
    every cleanlab quality score is a function of it); `details["label_issue"]` is cleanlab's decision."""
    out = []
    for s in result.scores:
        issue = cl.label_issue.get(s.example_id, False)
        rate = "" if cl.flip_rate is None else f"; estimated flip rate {cl.flip_rate:.1%}"
        reason = (
            f"Confident learning: {'a label issue' if issue else 'not a label issue'} (P(wrong) {s.p_wrong:.2f}{rate})."
        )
        details = {"label_issue": issue, "p_wrong": s.p_wrong, "flip_rate": cl.flip_rate}
        out.append(Suspicion(int(s.example_id), _unit(s.p_wrong), reason, details))
    return out


def _unit(value: float) -> float:
    return 0.0 if math.isnan(value) else min(1.0, max(0.0, value))
