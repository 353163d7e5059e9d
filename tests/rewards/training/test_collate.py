"""Length grouping, one-pass collation of pairs and lists, and the padded and packed paths agreeing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewards.training import PreferenceExample
from rewards.training.collate import collate, length_grouped_batches, length_sorted_batches
from rewards.training.data import EncodedExample, encode_examples, input_format_for
from rewards.training.modeling import (
    RewardModel,
    choose_packed,
    load_sequence_classifier,
    load_tokenizer,
    set_attention,
)
from rewards.training.synthetic import keyword_examples


def encoded(*responses: list[int], ranks: tuple[int, ...] | None = None, split: int = 1) -> EncodedExample:
    return EncodedExample(
        input_ids=tuple(np.asarray(r, dtype=np.int32) for r in responses),
        type_split=(split,) * len(responses),
        ranks=ranks or tuple(range(1, len(responses) + 1)),
        margin=0.5,
        truncated=(False,) * len(responses),
    )


def padding_efficiency(batches: list[list[int]], lengths: list[int]) -> float:
    real = sum(lengths[i] for b in batches for i in b)
    return real / sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_cover_every_example_once_and_cut_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 250, size=1000).tolist()
    grouped = length_grouped_batches(lengths, 16, seed=1, epoch=0)
    assert sorted(i for b in grouped for i in b) == list(range(1000))
    assert max(lengths[i] for i in grouped[0]) == max(lengths)  # the longest batch first (OOM shows at step 1)
    plain = length_grouped_batches(lengths, 16, seed=1, epoch=0, group_by_length=False)
    assert padding_efficiency(grouped, lengths) > 0.9 > padding_efficiency(plain, lengths)


def test_length_grouped_batches_are_deterministic_per_seed_and_epoch() -> None:
    lengths = list(range(100))
    first = length_grouped_batches(lengths, 8, seed=5, epoch=0)
    assert first == length_grouped_batches(lengths, 8, seed=5, epoch=0)
    assert first != length_grouped_batches(lengths, 8, seed=5, epoch=1)
    assert first != length_grouped_batches(lengths, 8, seed=6, epoch=0)


def test_length_sorted_batches_longest_first() -> None:
    assert length_sorted_batches([3, 9, 1, 7], 2) == [[1, 3], [0, 2]]


def test_collate_puts_every_response_of_pairs_and_lists_in_one_padded_tensor() -> None:
    batch = collate(
        [encoded([5, 6, 7], [5, 8]), encoded([5, 9, 9, 9], [5, 1], [5], ranks=(2, 1, 2))],
        pad_id=0,
        type_a=0,
        type_b=1,
    )
    assert batch.input_ids.shape == (5, 4)  # 2 + 3 responses, each once
    assert batch.input_ids[0].tolist() == [5, 6, 7, 0]
    assert batch.attention_mask.sum().item() == batch.n_tokens == 3 + 2 + 4 + 2 + 1
    assert batch.n_positions == 20
    assert batch.token_type_ids[2].tolist() == [0, 1, 1, 1]  # split after the first token
    assert batch.list_index.tolist() == [0, 0, 1, 1, 1] and batch.slot_index.tolist() == [0, 1, 0, 1, 2]
    assert batch.ranks.tolist() == [[1, 2, 0], [2, 1, 2]]
    assert batch.mask.tolist() == [[True, True, False], [True, True, True]]
    assert batch.scatter(torch.arange(5.0)).tolist() == [[0.0, 1.0, 0.0], [2.0, 3.0, 4.0]]


def test_collate_packed_has_no_padding_and_restarts_positions() -> None:
    batch = collate([encoded([5, 6, 7], [5, 8]), encoded([4], [3, 2])], pad_id=0, packed=True, type_a=0, type_b=1)
    assert batch.input_ids.tolist() == [[5, 6, 7, 5, 8, 4, 3, 2]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 0, 1, 0, 0, 1]]
    assert batch.cu_seqlens.tolist() == [0, 3, 5, 6, 8] and batch.max_seqlen == 3
    assert batch.attention_mask is None and batch.n_positions == batch.n_tokens == 8


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_llama"])
def test_packed_and_padded_paths_give_the_same_rewards(fixture: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(fixture)
    tokenizer = load_tokenizer(path)
    model = load_sequence_classifier(path, attn_implementation="sdpa").eval()
    model.config.pad_token_id = tokenizer.pad_token_id
    padded_model = RewardModel(model, packed=False)
    fmt = input_format_for(tokenizer, max_length=64, truncation_side="left", token_types=padded_model.uses_token_types)
    data = encode_examples(keyword_examples(6, list_size=3), tokenizer, fmt)
    padded = collate(data.examples, pad_id=tokenizer.pad_token_id, type_a=fmt.type_a, type_b=fmt.type_b)
    with torch.no_grad():
        expected = padded_model(**padded.model_inputs())
        packed_on, attention = choose_packed(model, "on", torch.device("cpu"))
        assert packed_on and attention is not None
        set_attention(model, attention)
        packed = collate(
            data.examples, pad_id=tokenizer.pad_token_id, packed=True, type_a=fmt.type_a, type_b=fmt.type_b
        )
        got = RewardModel(model, packed=True)(**packed.model_inputs())
    assert got.shape == (18,)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_padding_free_auto_packs_on_cpu_and_off_pads(tiny_bert: str) -> None:
    model = load_sequence_classifier(tiny_bert, attn_implementation="sdpa")
    assert choose_packed(model, "auto", torch.device("cpu"))[0] is True
    assert choose_packed(model, "off", torch.device("cpu")) == (False, None)


def test_packed_path_is_not_offered_for_unsupported_architectures(tmp_path) -> None:  # noqa: ANN001
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=100, dim=16, n_layers=1, n_heads=2, hidden_dim=32, num_labels=1)
    )
    assert choose_packed(model, "on", torch.device("cpu")) == (False, None)


def test_encoding_keeps_list_ranks(minilm_tokenizer) -> None:  # noqa: ANN001
    fmt = input_format_for(minilm_tokenizer, max_length=64, truncation_side="left")
    example = PreferenceExample(prompt=[{"role": "user", "content": "hi"}], responses=("a", "b", "c"), ranks=(3, 1, 2))
    data = encode_examples([example], minilm_tokenizer, fmt)
    assert data.examples[0].ranks == (3, 1, 2) and len(data.examples[0].input_ids) == 3
