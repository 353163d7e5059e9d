#!/usr/bin/env python
"""PostgreSQL's own cost for the rows of an import: the floor under any importer of this schema.

    .venv/bin/python bench/import_floor.py [--rows 100000] [--repeat 3] [--no-doc]

Imports N synthetic pairs (bench/import_pairs.py's data and cluster settings) with `manage.py import_data` into a
throwaway PostgreSQL, copies out the rows that import wrote (six tables, binary COPY), then loads them back the way an
importer that cost nothing would: one transaction, one binary `COPY FROM` per table from bytes already in memory.
It times the COPYs and the COMMIT separately (Django makes every foreign key DEFERRABLE INITIALLY DEFERRED, so every
check runs at commit), then the same load in a transaction that first drops the tables' foreign-key constraints and
is rolled back: what the rows cost without the per-row checks. Medians of --repeat loads each, after a CHECKPOINT.

Results go to docs/benchmarks.md between the `bench:import_floor` markers.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_pairs  # noqa: E402
from _common import PAIR_TABLES as TABLES  # noqa: E402
from _common import load_average, machine, pg_socket_url, write_section  # noqa: E402


def copy_out(conn: Any) -> dict[str, bytes]:
    tables: dict[str, bytes] = {}
    with conn.cursor() as cur:
        for table in TABLES:
            with cur.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                tables[table] = b"".join(bytes(chunk) for chunk in copy)
    conn.commit()
    return tables


def foreign_keys(conn: Any) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid::regclass::text = ANY(%s) ORDER BY 1, 2",
        [list(TABLES)],
    ).fetchall()
    conn.commit()
    return rows


def load(conn: Any, tables: dict[str, bytes], *, drop: list[tuple[str, str]]) -> tuple[float, float]:
    """(COPY seconds, COMMIT seconds) of loading every table into emptied tables. With `drop`, those constraints
    are dropped first and the transaction is rolled back instead of committed (COMMIT seconds 0)."""
    conn.execute("CHECKPOINT")
    conn.commit()
    with conn.cursor() as cur:
        for table, name in drop:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cur.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        started = time.perf_counter()
        for table in TABLES:
            with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                copy.write(tables[table])
        copied = time.perf_counter()
    if drop:
        conn.rollback()
        return copied - started, 0.0
    conn.commit()
    return copied - started, time.perf_counter() - copied


def section(
    rows: int,
    import_s: float,
    fk: list[tuple[float, float]],
    bare: list[float],
    n_fk: int,
    argv: list[str],
    loads: tuple[float, float],
    server: str,
) -> str:
    def line(what: str, seconds: float) -> str:
        return f"| {what} | {seconds:.2f} | {seconds / rows * 1e6:.0f} | {rows / seconds:,.0f} |"

    copy_s = statistics.median(c for c, _ in fk)
    commit_s = statistics.median(m for _, m in fk)
    total_s = statistics.median(c + m for c, m in fk)
    bare_s = statistics.median(bare)
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## Import: PostgreSQL's own floor (bench/import_floor.py)",
            "",
            f"The rows of {rows:,} imported pairs ({rows * 9:,} rows in six tables), loaded back by binary `COPY FROM` "
            "from bytes in memory in one transaction: no parsing, no Python per row. What no importer of this schema "
            "can beat on this machine.",
            "",
            "| load | seconds | µs a pair | pairs/s |",
            "|---|---:|---:|---:|",
            line("`import_data` of the same file (both passes, as the service reports it)", import_s),
            line("COPY of the rows", copy_s),
            line("COMMIT: the deferred foreign-key checks", commit_s),
            line("**COPY + COMMIT, with the schema's foreign keys**", total_s),
            line("COPY with the foreign-key constraints dropped (rolled back)", bare_s),
            "",
            f"- Date: {date}. Machine: {machine()}; {server}.",
            f"- Data: bench/import_pairs.py's synthetic pairwise JSONL, {rows:,} rows, seed {import_pairs.SEED}; a "
            "pair is 9 rows (prompt, 2 responses, comparison, 2 members, judgment, 2 placements) and 17 foreign-key "
            f"checks (the six tables hold {n_fk} foreign-key constraints). Cluster as bench/import_pairs.py: "
            "`scripts/pg-throwaway` (fsync, synchronous_commit and full_page_writes off), client on the Unix socket.",
            f"- Medians of {len(fk)} loads each, a CHECKPOINT before each. Load average (1 min) before / after: "
            f"{loads[0]:.2f} / {loads[1]:.2f}.",
            f"- Command: `.venv/bin/python bench/import_floor.py{' ' + ' '.join(argv) if argv else ''}`",
        ]
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "workbench-bench", help="generated files"
    )
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    import psycopg

    path = import_pairs.data_file(args.cache_dir, args.rows)
    scratch = args.cache_dir / "runs"
    scratch.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    db = import_pairs.start_database("postgres", scratch)
    try:
        import_pairs.manage(db, "migrate", "-v0")
        out = import_pairs.manage(db, "import_data", str(path), "--project", "bench", "--create-project")
        import_s = float(re.search(r" in ([0-9.]+)s\.", out).group(1))
        url = pg_socket_url(db.env["WORKBENCH_DATABASE_URL"], db.pg_dir)
        with psycopg.connect(url) as conn:
            tables = copy_out(conn)
            fks = foreign_keys(conn)
            fk_runs = [load(conn, tables, drop=[]) for _ in range(args.repeat)]
            bare_runs = [load(conn, tables, drop=fks)[0] for _ in range(args.repeat)]
    finally:
        db.close()
    text = section(args.rows, import_s, fk_runs, bare_runs, len(fks), argv, (load_before, load_average()), db.version)
    print(text)
    for copy_s, commit_s in fk_runs:
        print(f"with foreign keys: COPY {copy_s:.3f} s, COMMIT {commit_s:.3f} s")
    print("without: " + ", ".join(f"{s:.3f} s" for s in bare_runs))
    if not args.no_doc:
        write_section("import_floor", text)


if __name__ == "__main__":
    main(sys.argv[1:])
