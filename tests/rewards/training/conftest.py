"""Fixtures for the training core: tiny random models built offline, one thread (2 busy cores on CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    from rewards.training.synthetic import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"), kind="bert")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> str:
    from rewards.training.synthetic import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"), kind="llama")


@pytest.fixture(scope="session")
def minilm_tokenizer():  # noqa: ANN201 - a transformers tokenizer
    from transformers import AutoTokenizer

    from rewards.training import default_base_model_path

    return AutoTokenizer.from_pretrained(default_base_model_path())


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifact"
