"""An exported file trains TRL's RewardTrainer: a few steps of a tiny randomly initialised BERT reusing the offline
MiniLM tokenizer, on CPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from annotation.models import Project
from tests.annotation.exports.conftest import export_data

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_reward_trainer_trains_on_an_exported_file(
    pandalm: Project,
    tmp_path: Path,
    load_dataset,
    minilm_path: str,  # noqa: ANN001
) -> None:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    torch.set_num_threads(1)
    path = export_data(
        "pandalm", tmp_path / "imdb.parquet", "trl-pairwise", "--categories", "IMDB", "--judge-kinds", "human"
    )
    dataset = load_dataset(path)
    assert 20 < len(dataset) < 200
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForSequenceClassification(config)
    args = RewardConfig(
        output_dir=str(tmp_path / "rm"),
        max_steps=4,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_length=256,
        bf16=False,
        gradient_checkpointing=False,
        eos_token="[SEP]",
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 4
    assert math.isfinite(result.training_loss)
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 4 and all("margin" in entry for entry in logged)
