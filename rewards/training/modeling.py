"""The reward model around a Hugging Face sequence classifier: loading, one-pass scoring, the padding-free path.

`RewardModel` is the module the trainer optimises (and that `accelerate` wraps in DDP): it maps a collated
`Batch` of N response sequences to N rewards in one forward pass, either padded (the model's own forward, exactly
what `from_pretrained` users run) or packed without padding:

- packed: all N sequences concatenated into one row (1, T) with per-sequence position ids and `cu_seq_lens`
  boundaries. Linear layers then see no pad tokens at all. Attention runs per sequence: flash-attention's varlen
  kernel where installed (CUDA), else `varlen_sdpa_attention` below (SDPA on each sequence's slice), registered in
  transformers' attention interface. The reward is read at each sequence's first token (BERT-style pooler) or
  last token (decoders), as the model's own head does, so the saved model scores identically when loaded with
  `from_pretrained` and run padded (a test checks this).
- supported for BERT-like encoders with a pooler and for decoders built on `GenericForSequenceClassification`
  (Llama, Qwen2, Mistral, ...); anything else falls back to padded batches. See `choose_packed` for when it is used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .collate import collate, length_sorted_batches
from .data import EncodedDataset

logger = logging.getLogger(__name__)

VARLEN_SDPA = "workbench_varlen_sdpa"


def varlen_sdpa_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    cu_seq_lens_q: Tensor | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    # query: (1, H, T, D), key/value: (1, H_kv, T, D) for T packed tokens; cu_seq_lens_q: (N + 1,) boundaries.
    # Each sequence attends only to itself; returns (1, T, H, D) as transformers' attention functions do.
    if cu_seq_lens_q is None:
        raise ValueError("varlen_sdpa_attention needs cu_seq_lens_q (packed sequences)")
    lengths = (cu_seq_lens_q[1:] - cu_seq_lens_q[:-1]).tolist()
    is_causal = bool(getattr(module, "is_causal", False))
    gqa = key.shape[1] != query.shape[1]
    # split, not slicing: the backward of a slice writes its gradient into a zero tensor of the full (1, H, T, D)
    # size, once per sequence and per q/k/v (quadratic in the batch); split's backward is a single concatenation.
    outputs = [
        F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=dropout if module.training else 0.0,
            is_causal=is_causal,
            scale=scaling,
            enable_gqa=gqa,
        )
        for q, k, v in zip(
            query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2), strict=True
        )
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def _register_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(VARLEN_SDPA, varlen_sdpa_attention)


def flash_attention_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


class RewardModel(nn.Module):
    """N sequences in, N rewards out, in one forward pass of the wrapped sequence classifier."""

    def __init__(self, model: nn.Module, *, packed: bool, packed_attention: str | None = None) -> None:
        super().__init__()
        self.model: Any = model  # a transformers model (or its PEFT wrapper)
        self.packed = packed
        self.packed_attention = packed_attention
        self.uses_token_types = _accepts_token_types(model)

    @staticmethod
    def packed_kind(model: nn.Module) -> str | None:
        """'pooler' (BERT-like), 'last_token' (decoder) or None where the packed path is not implemented."""
        inner = _unwrap_peft(model)
        base = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
        if base is None:
            return None
        if (
            hasattr(inner, "classifier")
            and getattr(base, "pooler", None) is not None
            and inner.config.model_type in {"bert"}
        ):
            return "pooler"
        from transformers.modeling_layers import GenericForSequenceClassification

        if isinstance(inner, GenericForSequenceClassification) and hasattr(inner, "score"):
            return "last_token"
        return None

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        cu_seqlens: Tensor | None = None,
        max_seqlen: int = 0,
    ) -> Tensor:
        # padded: input_ids (N, L); packed: input_ids (1, T) with cu_seqlens (N + 1,). Returns (N,) rewards.
        if not self.uses_token_types:
            token_type_ids = None
        if cu_seqlens is None:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **extra)
            return out.logits.squeeze(-1).float()
        return self._packed_forward(input_ids, token_type_ids, position_ids, cu_seqlens, max_seqlen).float()

    def _packed_forward(
        self, input_ids: Tensor, token_type_ids: Tensor | None, position_ids: Tensor | None, cu: Tensor, max_len: int
    ) -> Tensor:
        inner = _unwrap_peft(self.model)
        base = getattr(inner, inner.base_model_prefix)
        kind = self.packed_kind(self.model)
        varlen = {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": max_len, "max_length_k": max_len}
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = base(input_ids=input_ids, position_ids=position_ids, use_cache=False, **extra, **varlen)
        states = hidden.last_hidden_state[0]  # (T, d)
        if kind == "pooler":
            first = states[cu[:-1].long()]  # (N, d): each sequence's [CLS]
            pooled = base.pooler(first.unsqueeze(1))
            return inner.classifier(inner.dropout(pooled)).squeeze(-1)
        last = states[(cu[1:] - 1).long()]  # (N, d): each sequence's last token
        return inner.score(last).squeeze(-1)


def _accepts_token_types(model: nn.Module) -> bool:
    config = _unwrap_peft(model).config
    return int(getattr(config, "type_vocab_size", 0) or 0) > 1


def _unwrap_peft(model: nn.Module) -> Any:  # a transformers model: its attributes are not typed
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def set_attention(model: nn.Module, name: str) -> None:
    """Switch the attention kernel of a loaded model (and its sub-configs) in place."""
    config = _unwrap_peft(model).config
    for cfg in {id(c): c for c in (config, getattr(config, "get_text_config", lambda: config)())}.values():
        cfg._attn_implementation = name


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        # Decoder tokenizers often have no pad token; the pad id only fills padded slots and locates the last token.
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    return tokenizer


def load_sequence_classifier(path: str, *, attn_implementation: str, dtype: torch.dtype = torch.float32) -> Any:
    from transformers import AutoModelForSequenceClassification

    with quiet_transformers():
        return AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, attn_implementation=attn_implementation, dtype=dtype
        )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No load reports or progress bars: a base model's new head is always "missing" and that is expected."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def choose_packed(
    model: nn.Module, setting: str, device: torch.device, *, half_precision: bool = True
) -> tuple[bool, str | None]:
    """(use the packed path, attention implementation for it).

    auto: flash-attention's varlen kernel on CUDA (bf16/fp16 only); on CPU the per-sequence SDPA of
    `varlen_sdpa_attention`, measured faster there than even length-grouped padded batches (MiniLM, HH pairs, one
    thread: ~25% over grouped padding, ~2.2x over random padding); on CUDA without flash-attn, padded batches (many
    small kernels would cost more than the padding). on: packed wherever the architecture allows.
    """
    if setting == "off" or RewardModel.packed_kind(model) is None:
        if setting == "on":
            logger.warning("padding_free='on' is not implemented for this architecture: using padded batches")
        return False, None
    if device.type == "cuda" and half_precision and flash_attention_available():
        return True, "flash_attention_2"
    if setting == "on" or device.type == "cpu":
        _register_attention()
        return True, VARLEN_SDPA
    return False, None


@torch.inference_mode()
def score_dataset(
    model: RewardModel,
    dataset: EncodedDataset,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    indices: Sequence[int] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[int, np.ndarray]:
    """Rewards of every response of the chosen examples: {example index: (K,) float64}. Longest batches first."""
    was_training = model.training
    model.eval()
    chosen = list(range(len(dataset.examples))) if indices is None else list(indices)
    fmt = dataset.input_format
    out: dict[int, np.ndarray] = {}
    try:
        for batch_indices in length_sorted_batches([max(dataset.examples[i].lengths) for i in chosen], batch_size):
            members = [chosen[i] for i in batch_indices]
            batch = collate(
                [dataset.examples[i] for i in members],
                pad_id=pad_id,
                packed=model.packed,
                type_a=fmt.type_a,
                type_b=fmt.type_b,
            ).to(device)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                rewards = model(**batch.model_inputs())
            per_list = batch.scatter(rewards.float()).cpu().numpy().astype(np.float64)
            for row, index in enumerate(members):
                out[index] = per_list[row, : len(dataset.examples[index].input_ids)]
    finally:
        model.train(was_training)
    return out


def disable_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
