"""Examples, the split by prompt, input layout, truncation (counted, never dropped) and the flip-rate estimate."""

from __future__ import annotations

import random

import pytest

from rewards.training import PreferenceExample, TrainingConfig, split_by_group
from rewards.training.data import (
    encode_examples,
    estimate_flip_rate,
    fit_lengths,
    flip_rate_from_agreement,
    input_format_for,
    render_prompt,
)


def pair(group: str, chosen: str = "yes", rejected: str = "no", prompt: str = "q?") -> PreferenceExample:
    return PreferenceExample.pair(prompt, chosen, rejected, group_id=group)


def test_example_validates_its_shape() -> None:
    with pytest.raises(ValueError):
        PreferenceExample(prompt=(), responses=("only one",), ranks=(1,))
    with pytest.raises(ValueError):
        PreferenceExample(prompt=(), responses=("a", "b"), ranks=(1,))
    with pytest.raises(ValueError):
        PreferenceExample(prompt=(), responses=("a", "b"), ranks=(0, 1))


def test_induced_pairs_orders_better_first_and_marks_ties() -> None:
    example = PreferenceExample(prompt=(), responses=("a", "b", "c"), ranks=(2, 1, 2))
    assert example.induced_pairs() == [(1, 0, False), (0, 2, True), (1, 2, False)]


def test_untied_pairs_make_one_example_per_untied_pair_and_keep_provenance() -> None:
    contexts = ((), ({"role": "user", "content": "other"},), None)
    example = PreferenceExample(
        prompt=({"role": "user", "content": "q"},),
        responses=("a", "b", "c"),
        ranks=(2, 1, 2),
        group_id="g",
        category="k",
        example_id="j1",
        response_contexts=contexts,
    )
    pairs = example.untied_pairs()
    assert [(p.responses, p.ranks) for p in pairs] == [(("b", "a"), (1, 2)), (("b", "c"), (1, 2))]  # a~c: a tie
    assert all((p.prompt, p.group_id, p.category, p.example_id) == (example.prompt, "g", "k", "j1") for p in pairs)
    assert pairs[0].response_contexts == (contexts[1], contexts[0])
    plain_pair = PreferenceExample.pair("q", "yes", "no")
    assert plain_pair.untied_pairs() == [plain_pair]
    assert PreferenceExample.pair("q", "yes", "no", tie=True).untied_pairs() == []


def test_split_by_group_is_deterministic_order_free_and_keeps_groups_together() -> None:
    examples = [pair(f"p{i % 300}", chosen=f"c{i}") for i in range(900)]
    train, held_out = split_by_group(examples, 0.2, seed=3)
    shuffled = examples[:]
    random.Random(0).shuffle(shuffled)
    train2, held_out2 = split_by_group(shuffled, 0.2, seed=3)
    assert {e.responses for e in held_out} == {e.responses for e in held_out2}
    assert not {e.group_id for e in train} & {e.group_id for e in held_out}
    assert 0.13 < len({e.group_id for e in held_out}) / 300 < 0.27
    _, other_seed = split_by_group(examples, 0.2, seed=4)
    assert {e.group_id for e in other_seed} != {e.group_id for e in held_out}


def test_config_round_trips_and_rejects_bad_values() -> None:
    config = TrainingConfig(base_model="/x", loss="plackett_luce", lora_target_modules=("query",))
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="loss"):
        TrainingConfig(base_model="/x", loss="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epsilon"):
        TrainingConfig(base_model="/x", epsilon=0.5)
    with pytest.raises(ValueError, match="unknown"):
        TrainingConfig.from_dict({"base_model": "/x", "lr": 1})
    with pytest.raises(ValueError, match="list_pairs"):
        TrainingConfig(base_model="/x", list_pairs="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole orderings"):
        TrainingConfig(base_model="/x", loss="plackett_luce", list_pairs="shuffled")


@pytest.mark.parametrize(
    ("prompt", "response", "budget", "kept"),
    [
        (10, 10, 30, (10, 10)),  # fits
        (100, 10, 30, (20, 10)),  # long prompt: the short response is whole
        (5, 100, 30, (5, 25)),  # long response beside a short prompt
        (100, 100, 30, (15, 15)),  # both long: the response keeps half
    ],
)
def test_fit_lengths(prompt: int, response: int, budget: int, kept: tuple[int, int]) -> None:
    assert fit_lengths(prompt, response, budget) == kept


def test_pair_layout_matches_the_tokenizer_text_pair(minilm_tokenizer) -> None:  # noqa: ANN001
    fmt = input_format_for(minilm_tokenizer, max_length=128, truncation_side="left")
    example = PreferenceExample(
        prompt=[{"role": "user", "content": "Where is Paris?"}, {"role": "assistant", "content": "France."}],
        responses=("It is in France.", "No idea"),
        ranks=(1, 2),
    )
    encoded = encode_examples([example], minilm_tokenizer, fmt).examples[0]
    reference = minilm_tokenizer(render_prompt(example.prompt), "It is in France.", return_token_type_ids=True)
    assert encoded.input_ids[0].tolist() == reference["input_ids"]
    split = encoded.type_split[0]
    assert [0] * split + [1] * (len(reference["input_ids"]) - split) == reference["token_type_ids"]


@pytest.mark.parametrize("side", ["left", "right"])
def test_long_inputs_are_truncated_and_counted_not_dropped(minilm_tokenizer, side: str) -> None:  # noqa: ANN001
    long_prompt = " ".join(f"w{i}" for i in range(200))
    examples = [
        PreferenceExample.pair(long_prompt, "short answer", "another short answer", group_id="a"),
        PreferenceExample.pair("tiny prompt", "fine", "also fine", group_id="b"),
    ]
    fmt = input_format_for(minilm_tokenizer, max_length=32, truncation_side=side)  # type: ignore[arg-type]
    data = encode_examples(examples, minilm_tokenizer, fmt)
    assert len(data) == 2
    assert data.n_truncated_examples == 1 and data.n_truncated_responses == 2
    assert all(len(ids) <= 32 for e in data.examples for ids in e.input_ids)
    assert data.examples[0].truncated == (True, True) and data.examples[1].truncated == (False, False)
    text = minilm_tokenizer.decode(data.examples[0].input_ids[0])
    assert "short answer" in text  # the response survives
    assert ("w199" in text) == (side == "left")  # left cut keeps the end of the prompt
    assert data.truncation_report()["truncated_examples"] == 1


def test_chat_layout_uses_the_template_and_reads_the_last_token(minilm_tokenizer) -> None:  # noqa: ANN001
    tokenizer = minilm_tokenizer.__class__.from_pretrained(minilm_tokenizer.name_or_path)
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    fmt = input_format_for(tokenizer, max_length=64, truncation_side="left", style="chat")
    assert fmt.style == "chat" and fmt.chat_template
    example = PreferenceExample.pair("hello", "good answer", "bad answer")
    ids = encode_examples([example], tokenizer, fmt).examples[0].input_ids[0]
    assert tokenizer.decode(ids).replace(" ", "").endswith("goodanswer</s>")


def test_flip_rate_from_agreement() -> None:
    assert flip_rate_from_agreement(1.0) == 0.0
    assert flip_rate_from_agreement(0.82) == pytest.approx(0.1)  # (0.9^2 + 0.1^2) = 0.82
    assert flip_rate_from_agreement(0.4) == 0.49


def test_estimate_flip_rate_from_repeated_judgments() -> None:
    examples = []
    for i in range(50):
        examples.append(pair(f"p{i}", "a", "b"))
        # second judge agrees on 41 of 50 comparisons: agreement 0.82 -> flip rate 0.1
        examples.append(pair(f"p{i}", "a", "b") if i < 41 else pair(f"p{i}", "b", "a"))
    estimate = estimate_flip_rate(examples)
    assert estimate is not None
    assert estimate[0] == pytest.approx(0.1) and estimate[1] == 50
    assert estimate_flip_rate([pair("x"), pair("y")]) is None


def test_config_and_examples_import_without_torch() -> None:
    # The web process builds and validates configs; it must not pay for (or need) torch.
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; from rewards.training import TrainingConfig, PreferenceExample, split_by_group; "
        "TrainingConfig(); print(sorted(m for m in ('torch', 'transformers', 'accelerate') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
