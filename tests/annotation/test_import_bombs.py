"""Upload bombs: files small on disk that are huge once decompressed or parsed. Each is refused with a message that
names the limit and the WORKBENCH_* variable setting it, writes nothing, and costs bounded memory and time.

Every file is generated into tmp_path, streaming (gzip of repeated chunks, Parquet dictionary pages), scaled down
where a low limit set through the environment keeps the test meaningful. Imports run in a child process
(`manage.py import_data`, the real import service) watched by a thread that kills it past a memory ceiling or a
deadline, so a regression fails the test instead of taking the machine: peak RSS is read from the kernel
(`wait4`'s ru_maxrss) and compared with a good import's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import TestCase

from annotation.models import Comparison, ImportJob, Judge, Judgment, Placement, Prompt, Response
from annotation.services.import_jobs import import_job_create, import_job_run
from annotation.tasks import import_job_run_task
from tests.factories import ProjectFactory
from tests.workers import start_worker, stop, wait_until

REPO = Path(__file__).resolve().parents[2]
SLUG = "bombs"
MiB = 1024 * 1024
# Peak memory above a good import's, in the child: generous against noise, far below what the bombs took unbounded.
CEILING = 128 * MiB
DEADLINE_S = 30.0
TABLES = (Prompt, Response, Comparison, Judgment, Placement, Judge)
# Low limits keep the bombs small enough to build quickly while still far past each limit.
LIMITS = {
    "WORKBENCH_IMPORT_MAX_ROW_MB": "4",
    "WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB": "256",
}


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


@dataclass
class Run:
    status: int
    stderr: str
    peak: int  # bytes
    seconds: float
    killed: str  # why the watchdog killed it, or ""
    temp_peak: int  # largest size the child's temporary directory reached, bytes


def _dir_size(folder: Path) -> int:
    """Bytes in the regular files under folder (libraries may make empty folders there)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def run_import(path: Path, env: dict[str, str] | None = None, *, ceiling: int | None = None) -> Run:
    """`manage.py import_data` in a child on the test database, killed past `ceiling` bytes RSS or the deadline."""
    temp = path.parent / f"tmp-{path.name}"
    temp.mkdir()
    child_env = {
        **os.environ,
        **LIMITS,
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WORKBENCH_TEST_USE_DB_NAME": str(connection.settings_dict["NAME"]),
        "TMPDIR": str(temp),
    }
    started = time.monotonic()
    with open(path.parent / f"{path.name}.stderr", "w+") as err:
        child = subprocess.Popen(
            [sys.executable, "manage.py", "import_data", str(path), "--project", SLUG, "--create-project"],
            cwd=REPO,
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        killed, temp_peak, done = [""], [0], threading.Event()

        def watch() -> None:
            process = psutil.Process(child.pid)
            while not done.wait(0.05):
                try:
                    rss = process.memory_info().rss
                except psutil.NoSuchProcess:
                    return
                temp_peak[0] = max(temp_peak[0], _dir_size(temp))
                if ceiling is not None and rss > ceiling:
                    killed[0] = f"RSS {rss / MiB:.0f} MiB over the {ceiling / MiB:.0f} MiB ceiling"
                elif time.monotonic() - started > DEADLINE_S:
                    killed[0] = f"still running after {DEADLINE_S:.0f} s"
                else:
                    continue
                child.kill()
                return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
        err.seek(0)
        return Run(child.returncode, err.read(), usage.ru_maxrss * 1024, time.monotonic() - started, killed[0],
                   temp_peak[0])  # fmt: skip


_baseline: list[int] = []


def baseline(tmp_path: Path) -> int:
    """Peak RSS of a child importing a small good file: the interpreter, Django, pyarrow and a little data."""
    if not _baseline:
        folder = tmp_path / "baseline"
        folder.mkdir()
        good = folder / "good.parquet"
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(50)]
        pq.write_table(pa.Table.from_pylist(rows), good)
        run = run_import(good)
        assert run.status == 0, run.stderr
        _baseline.append(run.peak)
        Judgment.objects.all().delete()
        Prompt.objects.all().delete()
        Judge.objects.all().delete()
    return _baseline[0]


def assert_refused(run: Run, base: int, *names: str) -> None:
    assert not run.killed, run.killed
    assert run.status == 1, run.stderr
    message = run.stderr.strip()
    assert message.startswith("CommandError: "), message
    for name in names:
        assert name in message, message
    assert "Traceback" not in message
    assert run.peak - base < CEILING, f"peak {run.peak / MiB:.0f} MiB, baseline {base / MiB:.0f} MiB"
    assert table_counts() == dict.fromkeys(table_counts(), 0)


def gzip_chunks(path: Path, *parts: tuple[bytes, int]) -> Path:
    """Write gzip of each (chunk, times) in turn, never holding more than one chunk."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for chunk, times in parts:
            for _ in range(times):
                out.write(packer.compress(chunk))
        out.write(packer.flush())
    return path


# --- the bombs ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_json_list_nested_100000_deep_is_refused_at_the_depth_limit(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)  # 200 KB
    run = run_import(path, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "record 1: nested more than 100 levels deep", "WORKBENCH_IMPORT_MAX_DEPTH")
    assert run.seconds < 20


@pytest.mark.django_db(transaction=True)
def test_nested_rows_are_refused_by_name_not_crash(tmp_path: Path) -> None:
    """A JSONL row and a CSV cell nested past the limit: an error for that row, no RecursionError."""
    base = baseline(tmp_path)
    path = tmp_path / "nested.jsonl"
    deep = "[" * 5000 + "]" * 5000
    path.write_text(
        '{"prompt": "q", "chosen": "a", "rejected": "b"}\n' + f'{{"prompt": "q2", "chosen": {deep}, "rejected": "b"}}\n'
    )
    run = run_import(path, {"WORKBENCH_IMPORT_MAX_DEPTH": "20"})
    assert_refused(run, base, "row 2, -: nested more than 20 levels deep", "WORKBENCH_IMPORT_MAX_DEPTH")
    assert "RecursionError" not in run.stderr

    path = tmp_path / "nested.csv"
    path.write_text(f'prompt,chosen,rejected\nq,a,b\nq2,"{deep}",b\n')
    run = run_import(path, {"WORKBENCH_IMPORT_MAX_DEPTH": "20"})
    assert_refused(run, base, "row 3, chosen: holds JSON nested more than 20 levels deep", "MAX_DEPTH")


@pytest.mark.django_db(transaction=True)
def test_a_csv_header_of_100000_columns_is_refused_at_once(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"column{i}" for i in range(100_000)) + "\nx\n")  # ~0.9 MB
    run = run_import(path)
    assert_refused(run, base, "the CSV header has more than 1000 columns", "WORKBENCH_IMPORT_MAX_COLUMNS")
    assert run.seconds < 20


@pytest.mark.django_db(transaction=True)
def test_a_gzipped_json_list_holding_one_huge_string_stops_at_the_row_limit(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    # 512 MiB of text in one string, 2.3 MB gzipped; unbounded, yajl's rescans made this take minutes.
    path = gzip_chunks(tmp_path / "string.json.gz", (b'[{"prompt": "', 1), (b"a" * MiB, 512), (b'"}]', 1))
    run = run_import(path, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "record 1 is over the 4 MiB row limit", "WORKBENCH_IMPORT_MAX_ROW_MB")
    assert run.seconds < 20


@pytest.mark.django_db(transaction=True)
def test_a_tiny_zstd_parquet_file_of_gigabytes_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = baseline(tmp_path)
    # One 1 MiB string in each column's dictionary, referenced by 6000 rows: 1.2 KB on disk, 18 GiB decoded.
    value = pa.DictionaryArray.from_arrays(pa.array([0] * 6000, pa.int32()), pa.array(["a" * MiB]))
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"prompt": value, "chosen": value, "rejected": value}), path, compression="zstd")
    assert path.stat().st_size < 4096
    run = run_import(path, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "decompresses to more than 256 MiB", "WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB")

    # The same trick in one row among a thousand small ones (the footer's average hides it): refused from the row's
    # size before its values become Python strings.
    indices = pa.array([0 if i == 699 else 1 for i in range(1000)], pa.int32())
    value = pa.DictionaryArray.from_arrays(indices, pa.array(["b" * 2 * MiB, "small"]))
    path = tmp_path / "wide-row.parquet"
    pq.write_table(pa.table({"prompt": value, "chosen": value, "rejected": value}), path, compression="zstd")
    run = run_import(path, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "row 700 is over the 4 MiB row limit", "WORKBENCH_IMPORT_MAX_ROW_MB")


@pytest.mark.django_db(transaction=True)
def test_a_csv_row_of_200_big_cells_is_refused_at_the_row_limit(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    header = ",".join(["prompt", "chosen", "rejected", *(f"c{i}" for i in range(197))]).encode() + b"\n"
    # 200 cells of 1 MiB each: every cell is under the limit, the row is 50 times over it.
    cells = [(b"p" * MiB + b",", 1), (b"c" * MiB + b",", 1), (b"r" * MiB + b",", 1), (b"x" * MiB + b",", 196)]
    path = gzip_chunks(tmp_path / "row.csv.gz", (header, 1), *cells, (b"x" * MiB + b"\n", 1))
    run = run_import(path, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "row 2 is over the 4 MiB row limit", "WORKBENCH_IMPORT_MAX_ROW_MB")


@pytest.mark.django_db(transaction=True)
def test_gzipped_zeros_named_parquet_never_reach_the_disk(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    path = gzip_chunks(tmp_path / "zeros.parquet.gz", (bytes(MiB), 1024))  # 1 GiB of zeros, 1 MB gzipped
    run = run_import(path, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "the gzipped file does not hold a Parquet file")
    assert run.temp_peak == 0

    # Starting like Parquet only gets as far as the decompressed-size limit: the temporary file stays under it.
    path = gzip_chunks(tmp_path / "par1.parquet.gz", (b"PAR1", 1), (bytes(MiB), 1024))
    run = run_import(path, {"WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB": "64"}, ceiling=base + 2 * CEILING)
    assert_refused(run, base, "decompresses to more than 64 MiB", "WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB")
    assert run.temp_peak <= 66 * MiB


# --- what users see when an import crashes ------------------------------------------------------------------------


class CrashMessageTests(TestCase):
    def test_a_crash_shows_no_traceback_or_server_path(self) -> None:
        project = ProjectFactory(slug="crash")
        with self.captureOnCommitCallbacks(execute=False):
            job = import_job_create(project=project, user=None, upload=SimpleUploadedFile("rows.jsonl", b"{}\n"))
        # The stored upload turned into a directory: opening it fails outside the readers' error handling.
        stored = Path(job.path)
        stored.unlink()
        stored.mkdir()
        import_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED
        assert job.error == f"The import crashed (IsADirectoryError); the server log has the details (job {job.pk})."
        assert str(stored.parent) not in job.error and "Traceback" not in job.error


# --- a real worker: the time limit, a queue that moves on, memory back to its baseline --------------------------


def wait_for(job: ImportJob, worker: subprocess.Popen, log: Path, timeout: float = 60) -> ImportJob:
    return wait_until(job, lambda j: j.is_finished, worker, log, timeout)


def enqueue(project: object, path: Path) -> ImportJob:
    """A job for a file already on disk, sent to the worker whatever its size (tests import small files inline)."""
    job = ImportJob.objects.create(
        project=project, path=str(path), original_name=path.name, bytes_total=path.stat().st_size
    )
    import_job_run_task.delay(job.pk)
    return job


def trl_jsonl(rows: int, tag: str) -> bytes:
    line = '{{"prompt": "{t} question {i} {pad}", "chosen": "{t} good {i}", "rejected": "{t} bad {i}"}}\n'
    return "".join(line.format(t=tag, i=i, pad="p" * 200) for i in range(rows)).encode()


@pytest.mark.worker
def test_the_worker_stops_a_long_import_and_returns_to_its_memory_baseline(
    transactional_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Long enough that the bomb is refused by its size well inside it on a busy machine (the test passes run side by
    # side), short enough that the 60,000-row import below cannot finish in it.
    monkeypatch.setenv("WORKBENCH_IMPORT_TIME_LIMIT_S", "6")
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    log = tmp_path / "worker.log"
    worker = start_worker(log)
    try:
        project = ProjectFactory(slug="worker-bombs")
        # A good Parquet import first, so the baseline includes what every import loads (Django, pyarrow).
        warm = tmp_path / "warm.parquet"
        rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(400)]
        pq.write_table(pa.Table.from_pylist(rows), warm)
        assert wait_for(enqueue(project, warm), worker, log).status == ImportJob.Status.SUCCEEDED
        rss = psutil.Process(worker.pid)
        before = rss.memory_info().rss

        # A zstd Parquet bomb on the worker: refused, and the worker gives the memory back afterwards.
        value = pa.DictionaryArray.from_arrays(pa.array([0] * 6000, pa.int32()), pa.array(["a" * MiB]))
        bomb = tmp_path / "bomb.parquet"
        pq.write_table(pa.table({"prompt": value, "chosen": value, "rejected": value}), bomb, compression="zstd")
        failed = wait_for(enqueue(project, bomb), worker, log)
        assert failed.status == ImportJob.Status.FAILED
        assert "WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB" in failed.error
        assert rss.memory_info().rss - before < 100 * MiB

        # A long import ends at the time limit with a message naming it; a small one queued behind it runs.
        long_job = import_job_create(
            project=project, user=None, upload=SimpleUploadedFile("long.jsonl", trl_jsonl(60_000, "l"))
        )
        small = import_job_create(
            project=project, user=None, upload=SimpleUploadedFile("small.jsonl", trl_jsonl(300, "s"))
        )
        queued = time.monotonic()
        long_job = wait_for(long_job, worker, log)
        assert long_job.status == ImportJob.Status.FAILED, long_job.error
        assert long_job.error == "the import ran past its 6 s time limit (WORKBENCH_IMPORT_TIME_LIMIT_S)"
        small = wait_for(small, worker, log)
        assert small.status == ImportJob.Status.SUCCEEDED, small.error
        assert time.monotonic() - queued < 30
        assert not Judgment.objects.filter(import_job=long_job).exists()
        assert Judgment.objects.filter(import_job=small).count() == 300
    finally:
        stop(worker)
