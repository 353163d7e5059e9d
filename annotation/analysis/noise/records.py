"""The detectors' input: one row per induced pair of every judgment that has a verdict, as parallel numpy arrays
(a million judgments fit in a few tens of MB, and every detector is a vectorised pass). A judgment of k responses
has k(k-1)/2 rows; a pairwise judgment has one. Built from the database by `annotation/selectors/noise_input.py`,
by hand in tests."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

A_WINS, TIE, B_WINS = 1, 0, -1
UNKNOWN = -1


@dataclass(frozen=True)
class NoiseInput:
    judgment_id: np.ndarray  # int64
    comparison_id: np.ndarray  # int64
    prompt_id: np.ndarray  # int64
    judge_id: np.ndarray  # int64
    judge_is_human: np.ndarray  # bool
    response_a: np.ndarray  # int64, the lower response id of the pair
    response_b: np.ndarray  # int64, the higher one
    outcome: np.ndarray  # int8: A_WINS, TIE or B_WINS
    a_shown_first: np.ndarray  # int8: 1 a was shown before b, 0 after, UNKNOWN
    order_key: np.ndarray  # int64: 0 = no shown-order key (humans); else one id per distinct shown order
    duration_ms: np.ndarray  # float64, nan when unknown
    judge_sequence: np.ndarray  # int64: the judgment's position in its judge's own work, by time (0 = first)

    def __post_init__(self) -> None:
        sizes = {f.name: len(getattr(self, f.name)) for f in fields(self)}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"NoiseInput columns differ in length: {sizes}")

    def __len__(self) -> int:
        return len(self.judgment_id)

    @classmethod
    def from_rows(cls, rows: list[dict]) -> NoiseInput:
        """Build from dicts with the field names (tests and small data); missing optional fields take defaults."""
        defaults = {"judge_is_human": True, "a_shown_first": UNKNOWN, "order_key": 0, "duration_ms": np.nan}
        dtypes = {
            "judge_is_human": bool,
            "outcome": np.int8,
            "a_shown_first": np.int8,
            "duration_ms": np.float64,
        }
        columns = {}
        for f in fields(cls):
            values = [row.get(f.name, defaults.get(f.name)) for row in rows]
            if f.name == "judge_sequence" and any(v is None for v in values):
                values = list(range(len(rows)))  # rows in time order
            columns[f.name] = np.asarray(values, dtype=dtypes.get(f.name, np.int64))
        return cls(**columns)
