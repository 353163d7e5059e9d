"""Reward-model training runs, evaluations and label flags live here (issues 5 and later)."""
