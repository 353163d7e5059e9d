#!/usr/bin/env python
"""Import benchmark: synthetic TRL pairwise JSONL files through `manage.py import_data`, into SQLite and PostgreSQL.

    .venv/bin/python bench/import_pairs.py [--sizes 100000,1000000] [--databases sqlite,postgres]

For each size the script generates (once, then cached) a JSONL file of distinct prompts with a chosen and a rejected
response of random words; for each database it starts from an empty one (a fresh SQLite file in a temporary
WORKBENCH_DATA_DIR, or a throwaway PostgreSQL cluster from scripts/pg-throwaway), runs the migrations, then runs
`manage.py import_data FILE --project bench --create-project` in a fresh process and measures its wall time (process
start to exit, Django start-up included) and its peak resident memory (the child's own ru_maxrss, read with
os.wait4 when it exits). Afterwards it checks that the database holds one judgment per row.

Results go to docs/benchmarks.md between the `bench:import_pairs` markers; the rest of the file is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DOC, ROOT, write_section  # noqa: E402

HEADING = "## Import: synthetic pairwise rows (bench/import_pairs.py)"
GENERATOR_VERSION = 1
SEED = 20240611
MARGIN_SHARE = 0.03
PROMPT_CHARS = (200, 600)
RESPONSE_CHARS = (300, 1500)


# --- data ----------------------------------------------------------------------------------------------------------


def _vocabulary(rng: random.Random, size: int = 8000) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "st", "an", "er", "in", "on", "re"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.choice((1, 2, 2, 3, 3, 4)))))
    return sorted(words)


def _text(rng: random.Random, vocab: list[str], low: int, high: int) -> str:
    target = rng.randint(low, high)
    words = rng.choices(vocab, k=max(1, target // 6))  # ~6 characters a word with its space
    sentences, start = [], 0
    while start < len(words):
        end = start + rng.randint(6, 18)
        sentence = " ".join(words[start:end])
        sentences.append(sentence[:1].upper() + sentence[1:] + rng.choice(".....?!"))
        start = end
    return " ".join(sentences)[:high]


def generate(path: Path, rows: int, seed: int = SEED) -> None:
    """Write `rows` TRL pairwise rows: distinct prompts, two different responses, a margin on ~3% of the rows."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as out:
        for i in range(rows):
            prompt = f"Request {i}: " + _text(rng, vocab, *PROMPT_CHARS)
            chosen = _text(rng, vocab, *RESPONSE_CHARS)
            rejected = _text(rng, vocab, *RESPONSE_CHARS)
            while rejected == chosen:
                rejected = _text(rng, vocab, *RESPONSE_CHARS)
            row: dict[str, object] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
            if rng.random() < MARGIN_SHARE:
                row["margin"] = round(rng.uniform(0.1, 5.0), 2)
            out.write(json.dumps(row, ensure_ascii=False))
            out.write("\n")
    partial.rename(path)


def data_file(cache_dir: Path, rows: int) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"pairs-{rows}-seed{SEED}-v{GENERATOR_VERSION}.jsonl"
    if not path.exists():
        started = time.monotonic()
        print(f"==> generating {path} ({rows:,} rows)", flush=True)
        generate(path, rows)
        print(f"    {path.stat().st_size / 1e6:,.0f} MB in {time.monotonic() - started:.0f}s", flush=True)
    return path


# --- databases -----------------------------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str
    env: dict[str, str]
    workdir: Path
    pg_dir: str | None = None
    version: str = ""

    def close(self) -> None:
        if self.pg_dir:
            subprocess.run([str(ROOT / "scripts" / "pg-throwaway"), "stop", self.pg_dir], check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _base_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_") and k != "DJANGO_SETTINGS_MODULE"}
    env["WORKBENCH_DATA_DIR"] = str(workdir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_database(kind: str, scratch: Path) -> Database:
    workdir = Path(tempfile.mkdtemp(prefix=f"import-{kind}-", dir=scratch))
    env = _base_env(workdir)
    if kind == "sqlite":
        return Database(kind, env, workdir, version=f"SQLite {sqlite3.sqlite_version}")
    out = subprocess.run([str(ROOT / "scripts" / "pg-throwaway")], check=True, capture_output=True, text=True).stdout
    url, pg_dir = out.split()
    db = Database(kind, env, workdir, pg_dir=pg_dir)
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        name = url.rsplit("/", 1)[1]
        conn.execute(f'CREATE DATABASE "{name}"')
        db.version = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]
    env["WORKBENCH_DATABASE_URL"] = url
    return db


def manage(db: Database, *args: str, capture: bool = True) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=db.env, capture_output=capture, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- one measurement -----------------------------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    rows: int
    seconds: float
    import_seconds: float
    peak_rss_mb: float
    judgments: int
    load_before: float
    load_after: float

    @property
    def pairs_per_s(self) -> float:
        return self.rows / self.seconds


def measure(db: Database, path: Path, rows: int) -> Result:
    manage(db, "migrate", "--no-input", "-v", "0")
    log = db.workdir / "import.out"
    load_before = os.getloadavg()[0]
    command = [sys.executable, str(ROOT / "manage.py"), "import_data", str(path), "--project", "bench"]
    command += ["--create-project", "--json"]
    print(f"==> {db.kind}, {rows:,} rows: {shlex.join(command[1:])}", flush=True)
    with open(log, "w") as out:
        started = time.monotonic()
        child = subprocess.Popen(command, cwd=ROOT, env=db.env, stdout=out, stderr=subprocess.STDOUT)
        # wait4 reports this child's own peak RSS (ru_maxrss, KiB on Linux), not the largest of all children so far.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text()
    if child.returncode != 0:
        raise SystemExit(f"import into {db.kind} failed ({child.returncode}):\n{output[-5000:]}")
    report = json.loads(output[output.index("{") :])
    judgments = int(
        manage(db, "shell", "-c", "from annotation.models import Judgment; print(Judgment.objects.count())").split()[-1]
    )
    result = Result(
        database=db.kind,
        rows=rows,
        seconds=seconds,
        import_seconds=float(report["seconds"]),
        peak_rss_mb=usage.ru_maxrss / 1024,
        judgments=judgments,
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )
    print(
        f"    {result.seconds:.1f}s ({result.import_seconds:.1f}s in import_file), {result.pairs_per_s:,.0f} pairs/s, "
        f"peak RSS {result.peak_rss_mb:,.0f} MB, {judgments:,} judgments, "
        f"load {load_before:.2f} -> {result.load_after:.2f}",
        flush=True,
    )
    if judgments != rows:
        raise SystemExit(f"expected {rows} judgments in {db.kind}, found {judgments}")
    return result


# --- report --------------------------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; RAM {ram_gb:.0f} GiB; {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
    ]


def section(results: list[Result], versions: list[str], sizes: dict[int, int], argv: list[str]) -> str:
    date = datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    lines = [
        HEADING,
        "",
        "| database | rows | seconds | pairs/s | peak RSS MB | import_file s | load avg before/after |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {r.rows:,} | {r.seconds:.1f} | {r.pairs_per_s:,.0f} | {r.peak_rss_mb:,.0f} | "
            f"{r.import_seconds:.1f} | {r.load_before:.2f} / {r.load_after:.2f} |"
        )
    machine_lines = machine()
    machine_lines[-1] += "; " + "; ".join(versions)
    lines += [
        "",
        f"- Date: {date}",
        f"- Machine: {machine_lines[0]}",
        f"- Software: {machine_lines[1]}",
        "- Data: synthetic TRL pairwise JSONL (`prompt`, `chosen`, `rejected` as strings), one distinct prompt per "
        f"row, prompts {PROMPT_CHARS[0]}-{PROMPT_CHARS[1]} characters and responses {RESPONSE_CHARS[0]}-"
        f"{RESPONSE_CHARS[1]} characters of random pseudo-words, `margin` on ~{MARGIN_SHARE:.0%} of rows, seed {SEED}; "
        + ", ".join(f"{rows:,} rows = {size / 1e6:,.0f} MB" for rows, size in sizes.items())
        + ". Each row becomes 9 database rows (prompt, 2 responses, comparison, 2 members, judgment, 2 placements).",
        "- Measured: `manage.py import_data FILE --project bench --create-project` in a fresh process on an empty, "
        "migrated database; *seconds* is the process's wall time (start-up included), *pairs/s* = rows / seconds, "
        "*peak RSS* is the child's ru_maxrss from `os.wait4`, *import_file s* is the time the service reports. "
        "The judgment count is checked against the row count after each run. *load avg* is the 1-minute load "
        "average, which counts the benchmark's own previous run: about 1 means nothing else was busy.",
        "- SQLite: a fresh file in a temporary WORKBENCH_DATA_DIR (WAL, synchronous=NORMAL, as configured in "
        "settings). PostgreSQL: a throwaway local cluster from `scripts/pg-throwaway` (fsync, synchronous_commit "
        "and full_page_writes off, default memory settings), same machine as the importer.",
        f"- Command: `{shlex.join(['.venv/bin/python', 'bench/import_pairs.py', *argv])}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "workbench-bench",
        help="where generated files are kept between runs",
    )
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    for kind in kinds:
        if kind not in ("sqlite", "postgres"):
            parser.error(f"unknown database {kind!r}")
    files = {rows: data_file(args.cache_dir, rows) for rows in sizes}
    results: list[Result] = []
    versions: dict[str, str] = {}
    scratch = args.cache_dir / "runs"
    scratch.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        for rows in sizes:
            db = start_database(kind, scratch)
            try:
                versions[kind] = db.version
                results.append(measure(db, files[rows], rows))
            finally:
                db.close()
    if not args.no_doc:
        write_section(
            "import_pairs",
            section(results, list(versions.values()), {r: p.stat().st_size for r, p in files.items()}, argv),
        )
        print(f"==> results written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
