"""Offline fixtures: tiny random models built from a config, and a synthetic preference that a model can learn.

Used by the tests, the distributed check and docs examples; nothing here downloads anything.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from .config import default_base_model_path
from .data import PreferenceExample

WORDS = (
    "the cat dog house tree river blue green quick slow happy sad water fire stone cloud road hill bird "
    "light night bread apple window paper chair music"
).split()


def keyword_examples(
    n: int, *, seed: int = 0, keyword: str = "excellent", list_size: int = 2, category_count: int = 2
) -> list[PreferenceExample]:
    """Responses containing `keyword` beat those without; with list_size > 2, more keywords rank higher.

    Positions are shuffled, so the best response is not always listed first.
    """
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        responses, ranks = [], []
        for k in range(list_size):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
            for _ in range(list_size - 1 - k):  # response k carries list_size - 1 - k keywords: rank k + 1
                words.insert(rng.randrange(len(words) + 1), keyword)
            responses.append(" ".join(words))
            ranks.append(k + 1)
        order = list(range(list_size))
        rng.shuffle(order)
        examples.append(
            PreferenceExample(
                prompt=({"role": "user", "content": f"say something about {rng.choice(WORDS)} ({i})"},),
                responses=tuple(responses[j] for j in order),
                ranks=tuple(ranks[j] for j in order),
                group_id=f"prompt-{i}",
                category=f"c{i % category_count}",
                example_id=f"judgment-{i}",
            )
        )
    return examples


def make_tiny_model(
    directory: str | Path,
    *,
    kind: Literal["bert", "llama"] = "bert",
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
    tokenizer_path: str | None = None,
) -> str:
    """Save a randomly initialised tiny encoder (BERT) or decoder (Llama) with the offline MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or default_base_model_path())
    torch.manual_seed(seed)
    config: BertConfig | LlamaConfig
    if kind == "bert":
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=hidden_size * 2,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
        )
        model: BertModel | LlamaModel = BertModel(config)
    else:
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            intermediate_size=hidden_size * 2,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        model = LlamaModel(config)
    from .modeling import quiet_transformers

    path = Path(directory)
    with quiet_transformers():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return str(path)


def llama_config_05b(vocab_size: int) -> dict[str, int | float]:
    """A Llama-shaped ~0.5B configuration (about 0.48B parameters with a 30k vocabulary), for GPU benchmarks."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 1024,
        "num_hidden_layers": 32,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "intermediate_size": 3584,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
    }
