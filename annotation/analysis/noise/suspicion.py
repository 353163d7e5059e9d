"""What every detector returns: a suspicion in [0, 1] per judgment it can score (higher = more likely wrong), with a
one-line reason a reviewer can read and the numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Suspicion:
    judgment_id: int
    score: float
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"suspicion {self.score} of judgment {self.judgment_id} is outside [0, 1]")
