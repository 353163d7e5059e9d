"""Per-judge reliability from crowd-kit, used as the library computes it: one-coin accuracy and the full Dawid-Skene
confusion matrices (a judge's vote in the other-judges consensus), MACE's spamming probability and NoisyBT's skill
and position bias (the annotator table). Every judge of the records counts as a worker: a reward model or LLM judge's
vote is weighed by its measured accuracy like a person's."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from crowdkit.aggregation import MACE, DawidSkene, NoisyBradleyTerry, OneCoinDawidSkene

from annotation.analysis.noise.grouping import label_class, latest_per, n_classes, task_index
from annotation.analysis.noise.records import TIE, UNKNOWN, NoiseInput

SKILL_CLIP = (0.01, 0.99)  # a judge at exactly 0 or 1 would make one vote decide any consensus
SHRINK_VOTES = 20.0  # pseudo-votes of the one-coin matrix in each judge's confusion matrix
CONFUSION_FLOOR = 1e-3  # no vote is ever impossible under a judge's confusion matrix
MACE_ITERATIONS = 20  # its restarts share one seed in crowd-kit 1.4, so one restart; 20 VB steps converge here
MACE_VOTES = 200_000  # per-annotator parameters: a seeded sample of whole tasks keeps thousands of votes each
NOISY_BT_ROWS = 10_000  # its gradient is a Python loop per row: a seeded sample keeps the fit to seconds
NOISY_BT_ITERATIONS = 50


@contextmanager
def _quiet() -> Iterator[None]:
    """crowd-kit 1.4 calls pandas APIs that pandas 3 deprecates: thousands of warnings per fit, none of them ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@dataclass(frozen=True)
class TaskVotes:
    """The crowd-kit view of the records: one vote per (task, judge), the judge's latest."""

    task: np.ndarray  # per row of the records: its task index
    n_tasks: int
    k: int  # classes: 2, or 3 when ties occur
    label: np.ndarray  # per row: class 0 = A, 1 = B, 2 = tie
    kept: np.ndarray  # per row: True for the vote crowd-kit sees

    def frame(self, records: NoiseInput) -> pd.DataFrame:
        return pd.DataFrame(
            {"task": self.task[self.kept], "worker": records.judge_id[self.kept], "label": self.label[self.kept]}
        )


def task_votes(records: NoiseInput) -> TaskVotes:
    task, n_tasks = task_index(records)
    kept = latest_per([task, records.judge_id], records.judge_sequence)
    return TaskVotes(task, n_tasks, n_classes(records.outcome), label_class(records.outcome), kept)


@dataclass(frozen=True)
class Reliability:
    skill: dict[int, float]  # judge id -> one-coin accuracy, clipped to SKILL_CLIP
    judges: np.ndarray  # sorted judge ids: the rows of `confusion`
    confusion: np.ndarray  # (judges, k true, k voted): P(vote | true class), Dawid-Skene shrunk towards one-coin
    prior: np.ndarray  # (k,) class prior (Dawid-Skene)
    posterior: np.ndarray  # (n_tasks, k): crowd-kit's Dawid-Skene probas_ from all votes; uniform for unseen tasks


_last_fit: list[tuple[NoiseInput, TaskVotes, Reliability]] = []


def fitted(records: NoiseInput) -> tuple[TaskVotes, Reliability]:
    """`task_votes` and `reliability` for these records, remembered for the same records object: the noise run calls
    each consensus detector and then the annotator table on one `NoiseInput`, and the fits are the costly part."""
    if _last_fit and _last_fit[0][0] is records:
        return _last_fit[0][1], _last_fit[0][2]
    votes = task_votes(records)
    fit = reliability(records, votes)
    _last_fit[:] = [(records, votes, fit)]
    return votes, fit


def reliability(records: NoiseInput, votes: TaskVotes) -> Reliability:
    """crowd-kit's one-coin and full Dawid-Skene on the same votes. A judge's confusion matrix is the full one's,
    pulled towards its one-coin matrix by SHRINK_VOTES pseudo-votes: with thousands of votes the full matrix (which
    sees, say, an annotator who overuses ties) decides; with a handful, the one-coin accuracy keeps a judge who
    happened to agree five times from becoming infallible."""
    frame = votes.frame(records)
    k, classes = votes.k, list(range(votes.k))
    with _quiet():
        one = OneCoinDawidSkene(n_iter=100).fit(frame)
        full = DawidSkene(n_iter=100).fit(frame)
    assert full.priors_ is not None and full.probas_ is not None and full.errors_ is not None
    skills = one.skills_.clip(*SKILL_CLIP)
    judges = np.sort(frame["worker"].unique())
    n_votes = frame.groupby("worker").size().reindex(judges).to_numpy(dtype=float)
    errors = full.errors_.reindex(columns=classes).fillna(0.0)  # rows (worker, vote), columns the true class
    confusion = np.zeros((len(judges), k, k))
    worker_at = np.searchsorted(judges, errors.index.get_level_values(0).to_numpy())
    vote = errors.index.get_level_values(1).to_numpy(dtype=np.int64)
    confusion[worker_at, :, vote] = errors.to_numpy(dtype=float)
    s = skills.reindex(judges).to_numpy(dtype=float)
    coin = np.repeat(((1 - s) / (k - 1))[:, None, None], k, axis=1).repeat(k, axis=2)
    coin[:, np.arange(k), np.arange(k)] = s[:, None]
    weight = (n_votes / (n_votes + SHRINK_VOTES))[:, None, None]
    confusion = np.clip(weight * confusion + (1 - weight) * coin, CONFUSION_FLOOR, None)
    confusion /= confusion.sum(axis=2, keepdims=True)
    prior = full.priors_.reindex(classes).fillna(0.0).to_numpy(dtype=float)
    prior = (prior + 1e-6) / (prior + 1e-6).sum()
    posterior = np.full((votes.n_tasks, k), 1.0 / k)
    probas = full.probas_.reindex(columns=classes).fillna(0.0)
    posterior[probas.index.to_numpy(dtype=np.int64)] = probas.to_numpy(dtype=float)
    return Reliability({int(j): float(v) for j, v in skills.items()}, judges, confusion, prior, posterior)


def mace_spamming(records: NoiseInput, votes: TaskVotes, seed: int = 0) -> dict[int, float]:
    """Judge id -> MACE's posterior probability that the judge is spamming (answering without looking)."""
    frame = votes.frame(records)
    if len(frame) > MACE_VOTES:
        tasks = frame["task"].unique()
        share = MACE_VOTES / len(frame)
        chosen = np.random.default_rng(seed).choice(tasks, max(1, int(len(tasks) * share)), replace=False)
        frame = frame[frame["task"].isin(chosen)].reset_index(drop=True)
    if frame["worker"].nunique() < 2:
        return {}
    with _quiet():
        model = MACE(n_restarts=1, n_iter=MACE_ITERATIONS, random_state=0).fit(frame)
    workers, _ = pd.factorize(frame["worker"])  # crowd-kit orders spamming_ rows by first appearance, like this
    names = pd.unique(frame["worker"])
    assert len(names) == model.spamming_.shape[0] == workers.max() + 1
    return {int(j): float(model.spamming_[i, 0]) for i, j in enumerate(names)}


def noisy_bt(records: NoiseInput, seed: int = 0) -> dict[int, tuple[float, float]]:
    """Judge id -> (NoisyBT skill, NoisyBT bias = probability of choosing the item shown first), fitted on pairwise
    verdicts whose shown order is known, ties left out (NoisyBT has none); items are responses."""
    usable = (records.a_shown_first != UNKNOWN) & (records.outcome != TIE)
    rows = np.flatnonzero(usable)
    if len(rows) > NOISY_BT_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, NOISY_BT_ROWS, replace=False))
    if len(rows) < 2 or len(np.unique(records.judge_id[rows])) < 2:
        return {}
    a_first = records.a_shown_first[rows] == 1
    a, b = records.response_a[rows], records.response_b[rows]
    left, right = np.where(a_first, a, b), np.where(a_first, b, a)
    winner = np.where(records.outcome[rows] > 0, a, b)
    frame = pd.DataFrame({"worker": records.judge_id[rows], "left": left, "right": right, "label": winner})
    with _quiet(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # its closed-form gradient overflows exp() on easy items
        model = NoisyBradleyTerry(n_iter=NOISY_BT_ITERATIONS, random_state=seed).fit(frame)
    return {int(j): (float(model.skills_[j]), float(model.biases_[j])) for j in model.skills_.index}
