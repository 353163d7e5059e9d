from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        raise FileNotFoundError(
            f"the shared data sets are expected at {SHARED_DATA} (CI puts ../shared beside the repo)"
        )
    return SHARED_DATA


@pytest.fixture
def artifacts_dir() -> Path:
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Primary keys are reused between tests (rolled-back transactions), so cached per-project numbers from one
    test must not be read by the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer random BERT with the offline MiniLM tokenizer: trains in seconds on one CPU thread."""
    import torch

    from rewards.training.synthetic import make_tiny_model

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), kind="bert")


_DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """WORKBENCH_TEST_DATABASE_ONLY=1 (scripts/test's PostgreSQL pass) keeps only the tests that open the database:
    the others (the analysis and training cores, settings, scripts) read no SQL and have run in the SQLite pass."""
    if os.environ.get("WORKBENCH_TEST_DATABASE_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        uses_database = item.get_closest_marker("django_db") is not None or bool(
            _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        (keep if uses_database else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
