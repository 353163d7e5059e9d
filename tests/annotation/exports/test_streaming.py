"""Exports stream: memory stays bounded by a batch, not by the project; and reading outside a transaction (its own
connections and snapshot) gives the same file as reading inside one."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.db import transaction

from annotation.exports import source, writers
from annotation.exports.options import export_spec_validate
from annotation.exports.runner import export_project
from annotation.models import Project
from tests.annotation.exports.conftest import import_data

N = 1500


def _long_pairs(tmp_path: Path, n: int = N) -> Path:
    filler = "lorem ipsum dolor sit amet " * 60  # ~1.6 kB a response
    rows = [
        {
            "prompt": f"question {i}",
            "chosen": f"{i} good {filler}",
            "rejected": f"{i} bad {filler}",
            "prompt_id": f"q{i}",
        }
        for i in range(n)
    ]
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.django_db
def test_memory_is_bounded_by_a_batch_not_by_the_project(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    project = import_data(_long_pairs(tmp_path), "long")
    monkeypatch.setattr(source, "CHUNK", 50)
    monkeypatch.setattr(writers, "ROW_GROUP_BYTES", 256 * 1024)
    spec = export_spec_validate(format="trl-pairwise", file_type="jsonl", filters={}, options={})
    out = tmp_path / "out.jsonl"
    tracemalloc.start()
    try:
        result = export_project(project=project, spec=spec, out=out, folder=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = out.stat().st_size
    assert result.report["rows_total"] == N and size > 4_000_000
    # About three fetch batches of 50 rows and the 1 MB write buffer, whatever the size of the project.
    assert peak < min(size / 2, 2_500_000), f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"

    spec = export_spec_validate(format="trl-pairwise", file_type="parquet", filters={}, options={})
    export_project(project=project, spec=spec, out=tmp_path / "out.parquet", folder=False)
    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata
    assert meta.num_rows == N and meta.num_row_groups > 5  # row groups sized by bytes, not held all at once


@pytest.mark.django_db(transaction=True)
def test_reading_on_own_connections_gives_the_same_file(tmp_path: Path) -> None:
    """Outside a transaction the export reads on connections of its own (PostgreSQL: three, one exported snapshot;
    SQLite: one read transaction); inside one it reads through the caller's connection. Same rows either way."""
    project = import_data(_long_pairs(tmp_path, 300), "snap")
    spec = export_spec_validate(format="raw", file_type="jsonl", filters={}, options={})
    outside = tmp_path / "outside.jsonl"
    export_project(project=project, spec=spec, out=outside, folder=False)
    inside = tmp_path / "inside.jsonl"
    with transaction.atomic():
        export_project(project=Project.objects.get(pk=project.pk), spec=spec, out=inside, folder=False)
    assert outside.read_bytes() == inside.read_bytes()
    assert len(outside.read_text().splitlines()) == 300


@pytest.mark.django_db(transaction=True)
def test_an_export_stopped_early_releases_its_connections(tmp_path: Path) -> None:
    project = import_data(_long_pairs(tmp_path, 200), "early")
    spec = export_spec_validate(format="trl-pairwise", file_type="jsonl", filters={}, options={})
    calls = 0

    def stop_after_three(done: int, total: int, rows: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_project(project=project, spec=spec, out=tmp_path / "x.jsonl", folder=False, progress=stop_after_three)
    assert not list(tmp_path.glob("x.jsonl*"))  # the partial file is removed
    # The database is usable at once (no stream left holding a lock or a connection busy).
    result = export_project(project=project, spec=spec, out=tmp_path / "y.jsonl", folder=False)
    assert result.report["rows_total"] == 200
