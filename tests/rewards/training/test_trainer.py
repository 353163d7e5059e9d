"""The training loop end to end on tiny random models: learning, determinism, cancel, errors, artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rewards.training import TrainingConfig, split_by_group, train
from rewards.training.synthetic import keyword_examples


def config_for(base: str, **changes: object) -> TrainingConfig:
    defaults: dict[str, object] = {
        "base_model": base,
        "learning_rate": 1e-3,
        "epochs": 3,
        "batch_size": 16,
        "max_length": 64,
        "seed": 0,
        "bootstrap_samples": 200,
    }
    return TrainingConfig(**{**defaults, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def keyword_split() -> tuple[list, list]:
    return split_by_group(keyword_examples(400, seed=0), 0.2, seed=0)


@pytest.fixture(scope="module")
def trained(tiny_bert: str, keyword_split: tuple[list, list], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("run") / "artifact"
    seen = []
    result = train(config_for(tiny_bert), *keyword_split, progress_callback=seen.append, output_dir=out)
    return result, seen, out


def test_tiny_model_learns_a_synthetic_preference(trained: tuple, keyword_split: tuple[list, list]) -> None:
    result, _, _ = trained
    assert result.status == "completed"
    assert result.metrics.accuracy.value > 0.9
    assert result.metrics.n_pairs == len(keyword_split[1])
    assert result.metrics.accuracy.low <= result.metrics.accuracy.value <= result.metrics.accuracy.high
    assert set(result.metrics.per_category) == {"c0", "c1"}


def test_progress_reports_every_step(trained: tuple) -> None:
    result, seen, _ = trained
    assert [p.step for p in seen] == list(range(1, result.total_steps + 1))
    last = seen[-1]
    assert last.epoch == pytest.approx(3.0) and last.eta_s == 0.0
    assert last.samples_per_s > 0 and last.tokens_per_s > last.samples_per_s
    assert seen[0].loss > seen[-1].loss
    assert result.throughput["padding_efficiency"] > 0.7


def test_result_records_provenance(trained: tuple) -> None:
    result, _, out = trained
    assert result.data_fingerprint.startswith("sha256:") and result.data_fingerprint != result.eval_fingerprint
    assert {"torch", "transformers", "accelerate", "python"} <= set(result.library_versions)
    assert result.runtime["device"] == "cpu" and result.runtime["precision"] == "fp32"
    assert result.runtime["padding_free"] is True and result.runtime["group_by_length"] is False  # CPU default
    assert result.truncation["train"]["truncated_examples"] == 0
    data = json.loads(json.dumps(result.to_dict()))  # JSON-ready for the run row
    assert "pair_scores" not in data["metrics"]
    assert data["metrics"]["accuracy"]["value"] == result.metrics.accuracy.value
    assert len(result.to_dict(include_pairs=True)["metrics"]["pair_scores"]) == result.metrics.n_pairs
    meta = json.loads((out / "workbench.json").read_text())
    assert meta["data_fingerprint"] == result.data_fingerprint
    card = (out / "README.md").read_text()
    assert result.data_fingerprint in card and "accuracy" in card and "learning_rate" in card


def test_artifact_reloads_with_from_pretrained_and_gives_the_same_scores(
    trained: tuple, keyword_split: tuple[list, list]
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewards.training.data import render_prompt
    from rewards.training.scoring import RewardScorer

    result, _, out = trained
    assert "return_token_type_ids=False" in (Path(out) / "README.md").read_text()
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    held_out = keyword_split[1][:5]
    pair_scores = {(p.example_index, p.a): p.score_a for p in result.metrics.pair_scores}
    for index, example in enumerate(held_out):
        better = example.ranks.index(1)
        # As the model card says: token types are off by default (TrainingConfig.token_types), every type 0.
        inputs = tokenizer(
            render_prompt(example.prompt),
            example.responses[better],
            return_token_type_ids=False,
            return_tensors="pt",
        )
        with torch.no_grad():
            reward = model(**inputs).logits[0, 0].item()
        assert reward == pytest.approx(pair_scores[(index, better)], abs=1e-4)
    scorer = RewardScorer.load(out)
    scores = scorer.score([(e.prompt, list(e.responses)) for e in held_out])
    for index, example in enumerate(held_out):
        better = example.ranks.index(1)
        assert scores[index][better] == pytest.approx(pair_scores[(index, better)], abs=1e-4)
    assert len(scorer.score([("a prompt", ["one response"])])[0]) == 1


@pytest.mark.parametrize("padding_free", ["auto", "off"])
def test_same_seed_same_run_on_cpu(tiny_bert: str, keyword_split: tuple[list, list], padding_free: str) -> None:
    config = config_for(tiny_bert, max_steps=4, padding_free=padding_free)
    first = train(config, keyword_split[0][:96], keyword_split[1][:32])
    second = train(config, keyword_split[0][:96], keyword_split[1][:32])
    assert [p.loss for p in first.history] == [p.loss for p in second.history]
    assert [s.score_a for s in first.metrics.pair_scores] == [s.score_a for s in second.metrics.pair_scores]
    other = train(config.replace(seed=1), keyword_split[0][:96], keyword_split[1][:32])
    assert [p.loss for p in other.history] != [p.loss for p in first.history]


def test_cancel_stops_within_one_optimiser_step(
    tiny_bert: str, keyword_split: tuple[list, list], out_dir: Path
) -> None:
    steps: list[int] = []
    result = train(
        config_for(tiny_bert, grad_accum=2),
        keyword_split[0],
        keyword_split[1],
        progress_callback=lambda p: steps.append(p.step),
        should_stop=lambda: len(steps) >= 1,
        output_dir=out_dir,
    )
    assert result.status == "cancelled"
    assert result.steps == 1 and steps == [1]
    assert result.metrics is None and result.artifact_dir is None and not out_dir.exists()


def test_a_missing_base_model_raises(keyword_split: tuple[list, list], tmp_path: Path) -> None:
    with pytest.raises(OSError):
        train(config_for(str(tmp_path / "no-such-model")), keyword_split[0][:10])


def test_no_training_examples_raises(tiny_bert: str) -> None:
    with pytest.raises(ValueError, match="no training examples"):
        train(config_for(tiny_bert), [])


@pytest.mark.slow
def test_plackett_luce_on_lists_with_a_decoder_and_the_packed_path(tiny_llama: str, out_dir: Path) -> None:
    train_set, held_out = split_by_group(keyword_examples(240, seed=2, list_size=3), 0.25, seed=0)
    config = config_for(tiny_llama, loss="plackett_luce", padding_free="on", epochs=4, batch_size=8)
    result = train(config, train_set, held_out, output_dir=out_dir)
    assert result.runtime["padding_free"] is True
    assert result.throughput["padding_efficiency"] == 1.0  # packed: no pad token computed
    assert result.metrics.kendall_tau.value > 0.8 and result.metrics.ndcg.value > 0.9
    assert result.metrics.ranking_accuracy.value > 0.9
    meta = json.loads((out_dir / "config.json").read_text())
    assert meta.get("_attn_implementation") in (None, "sdpa")  # the packed kernel is not saved into the model


def test_lists_as_shuffled_pairs_train_on_their_untied_pairs(tiny_bert: str) -> None:
    train_set, held_out = split_by_group(keyword_examples(120, seed=3, list_size=3), 0.25, seed=0)
    pairs = sum(len(e.untied_pairs()) for e in train_set)
    assert pairs > len(train_set)
    together = train(config_for(tiny_bert, epochs=1, batch_size=8), train_set, held_out)
    shuffled = train(config_for(tiny_bert, epochs=1, batch_size=8, list_pairs="shuffled"), train_set, held_out)
    # One step per 8 lists, or per 8 of their pairs; the run still reports the judgments it was given.
    assert together.steps == -(-len(train_set) // 8) and shuffled.steps == -(-pairs // 8)
    assert together.data_fingerprint == shuffled.data_fingerprint
    assert shuffled.metrics is not None and shuffled.metrics.kendall_tau.value is not None  # evaluated as lists


@pytest.mark.slow
def test_lora_run_saves_a_merged_model(tiny_bert: str, keyword_split: tuple[list, list], out_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    config = config_for(tiny_bert, lora=True, lora_r=4, max_steps=3, gradient_checkpointing=True, padding_free="off")
    result = train(config, keyword_split[0], keyword_split[1][:20], output_dir=out_dir)
    assert result.status == "completed"
    model = AutoModelForSequenceClassification.from_pretrained(out_dir)
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_robust_loss_records_where_epsilon_came_from(tiny_bert: str, keyword_split: tuple[list, list]) -> None:
    estimated = train(config_for(tiny_bert, loss="robust_bradley_terry", max_steps=2), keyword_split[0][:64])
    assert (estimated.epsilon, estimated.epsilon_source) == (0.1, "fallback")  # no comparison judged twice
    given = train(
        config_for(tiny_bert, loss="label_smoothed_bradley_terry", epsilon=0.05, max_steps=2), keyword_split[0][:64]
    )
    assert (given.epsilon, given.epsilon_source) == (0.05, "given")
    assert given.metrics is None  # no eval examples given


def test_padded_path_groups_by_length_and_learns(tiny_bert: str, keyword_split: tuple[list, list]) -> None:
    result = train(config_for(tiny_bert, padding_free="off"), *keyword_split)
    assert result.runtime["padding_free"] is False and result.runtime["group_by_length"] is True
    assert result.metrics.accuracy.value > 0.9
    assert 0.7 < result.throughput["padding_efficiency"] < 1.0


@pytest.mark.slow
def test_lora_on_the_packed_path(tiny_bert: str, keyword_split: tuple[list, list]) -> None:
    config = config_for(tiny_bert, lora=True, lora_r=4, max_steps=3, gradient_checkpointing=True)
    result = train(config, keyword_split[0], keyword_split[1][:20])
    assert result.runtime["padding_free"] is True and result.status == "completed"


def test_token_types_are_off_by_default_and_on_when_asked(
    tiny_bert: str, keyword_split: tuple[list, list], tmp_path: Path
) -> None:
    # Off: every token type 0 (TRL's layout); on: the tokenizer's text-pair types, recorded with the artifact so
    # that scoring encodes as training did, and the scores differ (the second type's embedding is used).
    formats, scores = {}, {}
    for token_types in (False, True):
        out = tmp_path / str(token_types)
        config = config_for(tiny_bert, max_steps=2, token_types=token_types)
        result = train(config, keyword_split[0][:32], keyword_split[1][:16], output_dir=out)
        formats[token_types] = json.loads((out / "workbench.json").read_text())["input_format"]
        scores[token_types] = [s.score_a for s in result.metrics.pair_scores]
    assert (formats[False]["type_a"], formats[False]["type_b"]) == (None, None)
    assert (formats[True]["type_a"], formats[True]["type_b"]) == (0, 1)
    assert scores[False] != scores[True]
