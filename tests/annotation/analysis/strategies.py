"""Random verdict sets for the property tests: a gold judge, three humans, an LLM judge asked in both orders (or
one), a reward model with scores; ties, unparsed verdicts and missing verdicts throughout."""

from __future__ import annotations

from hypothesis import strategies as st

from annotation.analysis.verdicts import Verdict

LABELS = st.sampled_from(["A", "B", "T", None])


@st.composite
def verdict_sets(draw: st.DrawFn, max_items: int = 40) -> list[Verdict]:
    n_items = draw(st.integers(min_value=1, max_value=max_items))
    verdicts: list[Verdict] = []
    for item in range(n_items):
        prompt = f"p{draw(st.integers(min_value=0, max_value=max(1, n_items // 2)))}"
        category = draw(st.sampled_from(["x", "y"]))
        common = {
            "category": category,
            "length_a": draw(st.integers(min_value=0, max_value=120)),
            "length_b": draw(st.integers(min_value=0, max_value=120)),
            "generator_a": "g1",
            "generator_b": draw(st.sampled_from(["g2", "g3"])),
        }
        if draw(st.booleans()) or item == 0:
            gold = draw(st.sampled_from(["A", "B", "T"]))
            verdicts.append(Verdict(item, prompt, "gold", "reference", gold, None, **common))
        for human in ("h1", "h2", "h3"):
            if draw(st.integers(min_value=0, max_value=4)):
                label = draw(st.sampled_from(["A", "B", "T"]))
                verdicts.append(
                    Verdict(item, prompt, human, "human", label, draw(st.sampled_from(["a", "b"])), **common)
                )
        orders = draw(st.sampled_from(["ab", "a", "b", ""]))
        for shown in orders:
            verdicts.append(Verdict(item, prompt, "llm", "llm", draw(LABELS), shown, **common))  # type: ignore[arg-type]
        if draw(st.booleans()):
            score_a = draw(st.integers(min_value=-3, max_value=3)) / 2
            score_b = draw(st.integers(min_value=-3, max_value=3)) / 2
            label = "A" if score_a > score_b else "B" if score_b > score_a else "T"
            verdicts.append(
                Verdict(item, prompt, "rm", "reward_model", label, None, score_a=score_a, score_b=score_b, **common)
            )
    return verdicts
