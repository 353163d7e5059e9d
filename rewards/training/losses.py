"""Preference losses: small pure tensor functions, each unit-tested against hand-computed values.

Notation: r = reward (the model's scalar score), d = r_better - r_worse, sigma = logistic, l(x) = -log sigma(x).

- Bradley-Terry:             l(d)
- Bradley-Terry with margin: l(d - m)                  (m = margin_scale * strength; as in Llama 2's reward model)
- Label-smoothed BT:         (1 - e) l(d) + e l(-d)    (conservative target: the label is right with prob. 1 - e)
- Robust BT (unbiased):      ((1 - e) l(d) - e l(-d)) / (1 - 2e)
    The flip-rate-corrected loss of Natarajan et al. (2013), used for preferences by Chowdhury et al. (2024,
    "Provably robust DPO"): if each label is flipped independently with probability e < 1/2, its expectation over
    the noise equals the clean-label BT loss, so minimising it is unbiased. It is not bounded below (a flipped
    pair pushes back), which is the price of unbiasedness; label smoothing is the biased, bounded alternative.
- Plackett-Luce with ties (Breslow's approximation, from Cox regression): the ordering is read group by group,
  best first; every item of a tied group G is chosen from the same remaining set R (G and everything worse):
      -log L = sum over groups G of  ( |G| * logsumexp_{j in R} r_j  -  sum_{i in G} r_i ).
  Without ties it is exactly Plackett-Luce; for a pair it is Bradley-Terry; for a tied pair it is
  2 logsumexp(r_a, r_b) - r_a - r_b, minimised (at 2 log 2) when the two rewards are equal, so ties pull scores
  together instead of being dropped. Chosen over Efron's approximation for its simplicity and because it
  vectorises as one masked logsumexp per item; the exact model (a sum over the |G|! orders) is exponential.

The pairwise losses ignore tied pairs (the Bradley-Terry model has no tie outcome); Plackett-Luce uses them.
List inputs are padded: scores (B, K), ranks (B, K) with 1 = best, mask (B, K) marking real responses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bradley_terry_loss(chosen: Tensor, rejected: Tensor, margin: Tensor | None = None) -> Tensor:
    # chosen, rejected, margin: (P,) rewards of the better / worse response of P pairs; returns a scalar
    gap = chosen - rejected if margin is None else chosen - rejected - margin
    return -F.logsigmoid(gap).mean()


def label_smoothed_bradley_terry_loss(chosen: Tensor, rejected: Tensor, epsilon: float) -> Tensor:
    # chosen, rejected: (P,); epsilon in [0, 0.5): the probability mass moved to the opposite preference
    gap = chosen - rejected
    return (-(1.0 - epsilon) * F.logsigmoid(gap) - epsilon * F.logsigmoid(-gap)).mean()


def robust_bradley_terry_loss(chosen: Tensor, rejected: Tensor, epsilon: float) -> Tensor:
    # chosen, rejected: (P,); epsilon in [0, 0.5): the labels' flip rate; unbiased for the clean BT loss
    if not 0.0 <= epsilon < 0.5:
        raise ValueError("the flip rate must be in [0, 0.5)")
    gap = chosen - rejected
    return ((-(1.0 - epsilon) * F.logsigmoid(gap) + epsilon * F.logsigmoid(-gap)) / (1.0 - 2.0 * epsilon)).mean()


def plackett_luce_loss(scores: Tensor, ranks: Tensor, mask: Tensor) -> Tensor:
    # scores: (B, K) rewards; ranks: (B, K) int, 1 = best, equal = tied; mask: (B, K) bool real responses.
    # Returns the mean over lists of each list's negative log-likelihood (Breslow ties, see the module doc).
    # Padded slots get rank 0 so that their risk set holds every real response: an all -inf row would give a NaN
    # gradient through logsumexp even though the slot's term is zeroed below.
    ranks = ranks.masked_fill(~mask, 0)
    # in_risk_set[b, i, j]: j is still unplaced when i's group is chosen, i.e. rank_j >= rank_i
    in_risk_set = (ranks.unsqueeze(1) >= ranks.unsqueeze(2)) & mask.unsqueeze(1)  # (B, K, K)
    masked = scores.unsqueeze(1).masked_fill(~in_risk_set, float("-inf"))  # (B, K, K)
    log_denominator = torch.logsumexp(masked, dim=-1)  # (B, K)
    per_item = (log_denominator - scores).masked_fill(~mask, 0.0)  # (B, K)
    return per_item.sum(dim=-1).mean()


def pairs_from_ranks(ranks: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    # ranks, mask: (B, K). Returns (list index, better slot, worse slot), each (P,), for every untied pair.
    better = (ranks.unsqueeze(2) < ranks.unsqueeze(1)) & mask.unsqueeze(2) & mask.unsqueeze(1)  # (B, K, K)
    b, i, j = better.nonzero(as_tuple=True)
    return b, i, j


def preference_loss(
    name: str,
    scores: Tensor,
    ranks: Tensor,
    mask: Tensor,
    margin: Tensor | None = None,
    epsilon: float = 0.0,
) -> Tensor:
    """The configured loss of a batch of lists (pairs are lists of two). scores (B, K), margin (B,) or None."""
    if name == "plackett_luce":
        return plackett_luce_loss(scores, ranks, mask)
    b, i, j = pairs_from_ranks(ranks, mask)
    if b.numel() == 0:
        return scores.sum() * 0.0  # only ties in this batch: no BT signal, but keep the graph for DDP
    chosen, rejected = scores[b, i], scores[b, j]  # (P,)
    if name == "bradley_terry":
        return bradley_terry_loss(chosen, rejected)
    if name == "bradley_terry_margin":
        return bradley_terry_loss(chosen, rejected, None if margin is None else margin[b])
    if name == "label_smoothed_bradley_terry":
        return label_smoothed_bradley_terry_loss(chosen, rejected, epsilon)
    if name == "robust_bradley_terry":
        return robust_bradley_terry_loss(chosen, rejected, epsilon)
    raise ValueError(f"unknown loss {name!r}")


def pairwise_accuracy_counts(scores: Tensor, ranks: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    # scores, ranks, mask: (B, K). Returns (correct, total) over untied pairs; an exact score tie counts half.
    b, i, j = pairs_from_ranks(ranks, mask)
    gap = scores[b, i] - scores[b, j]  # (P,)
    correct = (gap > 0).float().sum() + 0.5 * (gap == 0).float().sum()
    return correct, torch.tensor(float(b.numel()), device=scores.device)
