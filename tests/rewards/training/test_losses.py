"""Each loss against values computed by hand from its formula (see rewards/training/losses.py)."""

from __future__ import annotations

import math

import pytest
import torch

from rewards.training.losses import (
    bradley_terry_loss,
    label_smoothed_bradley_terry_loss,
    pairs_from_ranks,
    pairwise_accuracy_counts,
    plackett_luce_loss,
    preference_loss,
    robust_bradley_terry_loss,
)


def nll(x: float) -> float:
    """-log sigma(x) = log(1 + e^-x)"""
    return math.log1p(math.exp(-x))


def lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_bradley_terry_matches_hand_value() -> None:
    # pairs: (1, 0) and (0, 2): losses log(1 + e^-1) = 0.31326 and log(1 + e^2) = 2.12693
    loss = bradley_terry_loss(t(1.0, 0.0), t(0.0, 2.0))
    assert loss.item() == pytest.approx((0.3132616875 + 2.1269280110) / 2, abs=1e-9)


def test_bradley_terry_with_margin_subtracts_margin() -> None:
    loss = bradley_terry_loss(t(2.0), t(0.0), margin=t(1.0))
    assert loss.item() == pytest.approx(nll(1.0), abs=1e-12)


def test_label_smoothed_bradley_terry_hand_value() -> None:
    # d = 1, e = 0.1: 0.9 * log(1 + e^-1) + 0.1 * log(1 + e) = 0.9 * 0.313262 + 0.1 * 1.313262
    loss = label_smoothed_bradley_terry_loss(t(1.0), t(0.0), 0.1)
    assert loss.item() == pytest.approx(0.9 * 0.3132616875 + 0.1 * 1.3132616875, abs=1e-9)
    assert label_smoothed_bradley_terry_loss(t(1.0), t(0.0), 0.0).item() == pytest.approx(nll(1.0))


def test_robust_bradley_terry_hand_value() -> None:
    # d = 1, e = 0.1: (0.9 * 0.313262 - 0.1 * 1.313262) / 0.8 = 0.188262
    loss = robust_bradley_terry_loss(t(1.0), t(0.0), 0.1)
    assert loss.item() == pytest.approx((0.9 * 0.3132616875 - 0.1 * 1.3132616875) / 0.8, abs=1e-9)
    assert loss.item() == pytest.approx(0.18826166, abs=1e-7)


@pytest.mark.parametrize("gap", [-2.0, 0.0, 0.7, 3.0])
@pytest.mark.parametrize("epsilon", [0.05, 0.2, 0.4])
def test_robust_bradley_terry_is_unbiased_under_flips(gap: float, epsilon: float) -> None:
    # E over a label flipped with probability e of the corrected loss = the clean loss
    kept = robust_bradley_terry_loss(t(gap), t(0.0), epsilon).item()
    flipped = robust_bradley_terry_loss(t(0.0), t(gap), epsilon).item()
    assert (1 - epsilon) * kept + epsilon * flipped == pytest.approx(nll(gap), abs=1e-9)


def test_robust_bradley_terry_rejects_half() -> None:
    with pytest.raises(ValueError):
        robust_bradley_terry_loss(t(1.0), t(0.0), 0.5)


def test_plackett_luce_without_ties_hand_value() -> None:
    # order 0 > 1 > 2 with rewards 2, 1, 0: (lse(2,1,0) - 2) + (lse(1,0) - 1) + (0 - 0)
    loss = plackett_luce_loss(t(2.0, 1.0, 0.0)[None], torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool))
    assert loss.item() == pytest.approx((lse(2, 1, 0) - 2) + (lse(1, 0) - 1), abs=1e-9)


def test_plackett_luce_ties_in_the_last_group_breslow() -> None:
    # ranks 1, 2, 2: (lse(2,1,0) - 2) + (2 * lse(1,0) - (1 + 0))
    loss = plackett_luce_loss(t(2.0, 1.0, 0.0)[None], torch.tensor([[1, 2, 2]]), torch.ones(1, 3, dtype=torch.bool))
    assert loss.item() == pytest.approx((lse(2, 1, 0) - 2) + (2 * lse(1, 0) - 1), abs=1e-9)


def test_plackett_luce_ties_in_the_first_group_breslow() -> None:
    # ranks 1, 1, 2: both tied items are chosen from {0, 1, 2}: 2 * lse(2,1,0) - (2 + 1); then item 2 alone: 0
    loss = plackett_luce_loss(t(2.0, 1.0, 0.0)[None], torch.tensor([[1, 1, 2]]), torch.ones(1, 3, dtype=torch.bool))
    assert loss.item() == pytest.approx(2 * lse(2, 1, 0) - 3, abs=1e-9)


def test_plackett_luce_tied_pair_is_minimised_by_equal_rewards() -> None:
    ranks, mask = torch.tensor([[1, 1]]), torch.ones(1, 2, dtype=torch.bool)
    equal = plackett_luce_loss(t(0.3, 0.3)[None], ranks, mask).item()
    apart = plackett_luce_loss(t(1.3, 0.3)[None], ranks, mask).item()
    assert equal == pytest.approx(2 * math.log(2), abs=1e-9)
    assert apart > equal


def test_plackett_luce_of_a_pair_is_bradley_terry() -> None:
    pl = plackett_luce_loss(t(0.4, 1.5)[None], torch.tensor([[2, 1]]), torch.ones(1, 2, dtype=torch.bool))
    assert pl.item() == pytest.approx(bradley_terry_loss(t(1.5), t(0.4)).item(), abs=1e-12)


def test_plackett_luce_ignores_padding_and_keeps_gradients_finite() -> None:
    scores = t(2.0, 1.0, 0.0, 0.5, -0.5, 99.0).reshape(2, 3).requires_grad_()
    ranks = torch.tensor([[1, 2, 3], [2, 1, 0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    loss = plackett_luce_loss(scores, ranks, mask)
    first = (lse(2, 1, 0) - 2) + (lse(1, 0) - 1)
    second = lse(0.5, -0.5) - (-0.5)  # response 1 is best; the padded 99 takes no part
    assert loss.item() == pytest.approx((first + second) / 2, abs=1e-9)
    loss.backward()
    assert torch.isfinite(scores.grad).all()
    assert scores.grad[1, 2].item() == 0.0


def test_pairs_from_ranks_skips_ties_and_padding() -> None:
    ranks = torch.tensor([[1, 2, 2], [1, 1, 0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    b, i, j = pairs_from_ranks(ranks, mask)
    assert sorted(zip(b.tolist(), i.tolist(), j.tolist(), strict=True)) == [(0, 0, 1), (0, 0, 2)]


def test_preference_loss_over_a_list_averages_its_induced_pairs() -> None:
    scores = t(2.0, 1.0, 0.0)[None]
    ranks, mask = torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool)
    expected = (nll(1.0) + nll(2.0) + nll(1.0)) / 3
    assert preference_loss("bradley_terry", scores, ranks, mask).item() == pytest.approx(expected, abs=1e-9)
    margin = t(0.5)
    with_margin = preference_loss("bradley_terry_margin", scores, ranks, mask, margin=margin).item()
    assert with_margin == pytest.approx((nll(0.5) + nll(1.5) + nll(0.5)) / 3, abs=1e-9)


def test_preference_loss_of_only_ties_is_zero_with_a_graph() -> None:
    scores = t(1.0, 2.0)[None].requires_grad_()
    loss = preference_loss("bradley_terry", scores, torch.tensor([[1, 1]]), torch.ones(1, 2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()  # does not raise: DDP needs every process to run backward


def test_pairwise_accuracy_counts_half_for_equal_scores() -> None:
    scores = t(1.0, 1.0, 0.0)[None]
    correct, total = pairwise_accuracy_counts(scores, torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool))
    assert (correct.item(), total.item()) == (2.5, 3.0)
