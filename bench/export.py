#!/usr/bin/env python
"""Export benchmark: 1M pairwise judgments on PostgreSQL exported through `manage.py export_data` as JSONL and Parquet.

    .venv/bin/python bench/export.py [--rows 1000000] [--formats jsonl,parquet] [--url URL] [--no-doc]

The script starts a throwaway PostgreSQL cluster (scripts/pg-throwaway), migrates it, and writes the judgments
set-based into the real tables (generate_series; ~100 s for 1M: the importer runs at ~2k pairs/s): one project of
ROWS prompts, each with two responses (three pool sentences each, 150-1,500 characters), one comparison and one
judgment by one of 20 human judges (4% ties, a margin on 3%). Then, for each file type, it runs
`manage.py export_data --project bench --format trl-pairwise --out FILE` in a fresh process and measures its wall time
(start-up included) and peak resident memory (ru_maxrss of that child, from os.wait4), and checks the row count.

Results go to docs/benchmarks.md between `<!-- bench:export -->` and `<!-- /bench:export -->`; the rest of the file
is kept. `--url` reuses a database that already holds the data (as `--keep` leaves it) instead of a new cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DOC, PAIR_TABLES, ROOT, machine, pg_socket_url, write_section  # noqa: E402

PROJECT = "bench"


# --- data -----------------------------------------------------------------------------------------------------------

SEED = 20240611
POOL = 10007  # a prime: sentence indexes from several multipliers of i do not fall into step
JUDGES = 20
CATEGORIES = ("coding", "writing", "math", "advice", "trivia", "reasoning", "roleplay", "extraction", "chat", "other")


def _sentences(seed: int = SEED) -> list[str]:
    rng = random.Random(seed)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "st", "an", "er", "in", "on", "re"]
    words = sorted({"".join(rng.choices(syllables, k=rng.choice((1, 2, 2, 3, 3, 4)))) for _ in range(9000)})
    out = []
    for _ in range(POOL):
        sentence = " ".join(rng.choices(words, k=rng.randint(6, 40)))
        out.append(sentence[:1].upper() + sentence[1:] + rng.choice(".....?!"))
    return out


def generate(conn, rows: int, slug: str = PROJECT) -> dict[str, float]:  # noqa: ANN001 - a psycopg connection
    """Create project `slug` with `rows` prompts, each with two responses, one comparison and one judgment by one of
    20 human judges (4% ties, a margin on 3%); returns sizes and timings. Foreign-key triggers are off while it writes
    (the rows are consistent by construction), as for a restore."""
    started = time.monotonic()
    cur = conn.cursor()
    cur.execute("SET session_replication_role = replica")
    cur.execute("CREATE TEMP TABLE bench_pool (id int PRIMARY KEY, s text NOT NULL)")
    with cur.copy("COPY bench_pool (id, s) FROM STDIN") as copy:
        for i, sentence in enumerate(_sentences()):
            copy.write_row((i, sentence))
    cur.execute(
        "INSERT INTO annotation_project (created_at, updated_at, name, slug, description, kind, list_size, overlap, "
        "allow_ties, allow_both_bad, strength_scale, criteria, rationale, guidelines_md, lease_minutes, queue_order, "
        "source) VALUES (now(), now(), %s, %s, '', 'pairwise', 2, 1, true, false, '[]', '[]', 'optional', '', 30, "
        "'sequential', 'Synthetic benchmark data (bench/export.py); licence: CC0-1.0') RETURNING id",
        ["Export benchmark", slug],
    )
    project = cur.fetchone()[0]
    cur.execute(
        "INSERT INTO annotation_judge (created_at, updated_at, kind, name, description, metadata, project_id) "
        "SELECT now(), now(), 'human', %s || ':annotator' || g, '', '{}', %s FROM generate_series(1, %s) g",
        [slug, project, JUDGES],
    )
    cur.execute("SELECT min(id) FROM annotation_judge WHERE project_id = %s", [project])
    first_judge = cur.fetchone()[0]

    def base(table: str) -> int:
        cur.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")
        return cur.fetchone()[0]

    bp, br, bc = base("annotation_prompt"), base("annotation_response"), base("annotation_comparison")
    bm, bj, bl = base("annotation_comparisonresponse"), base("annotation_judgment"), base("annotation_placement")
    params = {"n": rows, "p": POOL, "project": project, "cats": list(CATEGORIES), "judge0": first_judge}
    params.update(bp=bp, br=br, bc=bc, bm=bm, bj=bj, bl=bl, judges=JUDGES)
    steps = [
        # One user message: "Request i:" and two pool sentences (unique by the prefix).
        "INSERT INTO annotation_prompt (id, created_at, updated_at, external_id, messages, category, metadata, "
        "project_id) SELECT %(bp)s + i, now(), now(), 'q-' || i, jsonb_build_array(jsonb_build_object('role', 'user', "
        "'content', 'Request ' || i || ': ' || a.s || ' ' || b.s)), (%(cats)s::text[])[1 + i %% 10], '{}', "
        "%(project)s FROM generate_series(1, %(n)s) i JOIN bench_pool a ON a.id = (i * 7) %% %(p)s "
        "JOIN bench_pool b ON b.id = (i / %(p)s * 31 + i * 13 + 5) %% %(p)s",
        # Two responses a prompt, three pool sentences each; (i mod P, i div P) makes every text distinct.
        "INSERT INTO annotation_response (id, created_at, updated_at, external_id, text, generator, metadata, "
        "conversation, prompt_id) SELECT %(br)s + 2 * i - 1 + k, now(), now(), CASE k WHEN 0 THEN 'a' ELSE 'b' END, "
        "a.s || ' ' || b.s || ' ' || c.s, 'model-' || ((i + k) %% 5), '{}', NULL, %(bp)s + i "
        "FROM generate_series(1, %(n)s) i CROSS JOIN (VALUES (0), (1)) AS ks(k) "
        "JOIN bench_pool a ON a.id = (i * 17 + k * 101) %% %(p)s "
        "JOIN bench_pool b ON b.id = (i / %(p)s * 37 + i * 19 + k * 7) %% %(p)s "
        "JOIN bench_pool c ON c.id = (i * 23 + k * 3001 + 11) %% %(p)s",
        "INSERT INTO annotation_comparison (id, created_at, updated_at, key, project_id, prompt_id, slots_left) "
        "SELECT %(bc)s + i, now(), now(), (%(br)s + 2 * i - 1) || ',' || (%(br)s + 2 * i), %(project)s, %(bp)s + i, 0 "
        "FROM generate_series(1, %(n)s) i",
        "INSERT INTO annotation_comparisonresponse (id, position, comparison_id, response_id) "
        "SELECT %(bm)s + 2 * i - 1 + k, k, %(bc)s + i, %(br)s + 2 * i - 1 + k "
        "FROM generate_series(1, %(n)s) i CROSS JOIN (VALUES (0), (1)) AS ks(k)",
        # Judgments spread over 2025, one judge of 20 each, 3% with a margin.
        "INSERT INTO annotation_judgment (id, created_at, updated_at, strength, margin, criteria, rationale, "
        "shown_order, order_key, duration_ms, source, status, client_token, metadata, comparison_id, import_job_id, "
        "judge_id, project_id) SELECT %(bj)s + i, timestamptz '2025-01-01' + (i %% 365) * interval '1 day', now(), "
        "NULL, CASE WHEN i %% 33 = 0 THEN (i %% 50) / 10.0 END, '{}', '', jsonb_build_array(%(br)s + 2 * i - 1, "
        "%(br)s + 2 * i), '', 1000 + i %% 60000, 'ui', 'active', NULL, '{}', %(bc)s + i, NULL, "
        "%(judge0)s + i %% %(judges)s, %(project)s FROM generate_series(1, %(n)s) i",
        # 4% ties (both rank 1); otherwise a or b wins by a hash of i.
        "INSERT INTO annotation_placement (id, rank, score, judgment_id, response_id) "
        "SELECT %(bl)s + 2 * i - 1 + k, CASE WHEN i %% 25 = 0 THEN 1 WHEN (hashint4(i) & 1) = k THEN 1 ELSE 2 END, "
        "NULL, %(bj)s + i, %(br)s + 2 * i - 1 + k FROM generate_series(1, %(n)s) i "
        "CROSS JOIN (VALUES (0), (1)) AS ks(k)",
    ]
    timings: dict[str, float] = {}
    for sql in steps:
        table = sql.split()[2]
        t0 = time.monotonic()
        cur.execute(sql, params)
        timings[table] = time.monotonic() - t0
    for table in ("annotation_project", "annotation_judge", *PAIR_TABLES):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(max(id), 1) FROM {table}))"
        )
    cur.execute("SET session_replication_role = DEFAULT")
    cur.execute("DROP TABLE bench_pool")
    conn.commit()
    t0 = time.monotonic()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    timings["vacuum_analyze"] = time.monotonic() - t0
    timings["total"] = time.monotonic() - started
    return timings


# --- database -------------------------------------------------------------------------------------------------------


def start_cluster() -> tuple[str, str]:
    out = subprocess.run([str(ROOT / "scripts" / "pg-throwaway")], check=True, capture_output=True, text=True).stdout
    url, pg_dir = out.split()
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    return url, pg_dir


def child_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(WORKBENCH_DATABASE_URL=url, WORKBENCH_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    return env


def postmaster_pid(url: str) -> int | None:
    """The server's main process (the checkpointer's parent), when the server runs on this machine."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()
    try:
        return int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, TypeError, IndexError, ValueError):
        return None


def server_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of the server's finished backends (the postmaster's cutime + cstime): each export's connections end
    with it, so the difference around a run is the server's share of that run."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet_server(url: str, timeout: float = 300) -> None:
    """Wait until no autovacuum worker runs (a fresh million rows invites one), so it neither slows the export nor
    counts in the server's CPU."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()[0]
            if not busy:
                return
            time.sleep(2)


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]


# --- one measurement ------------------------------------------------------------------------------------------------


@dataclass
class Result:
    file_type: str
    rows: int
    judgments: int
    seconds: float
    export_seconds: float
    peak_rss_mb: float
    size_mb: float
    load_before: float
    load_after: float
    cpu_seconds: float
    server_cpu_seconds: float | None
    path: str = ""  # which read path wrote the file (the report's `path`)

    @property
    def idle_estimate_s(self) -> float:
        """Wall time on an idle machine of this many cores if the exporter and the server overlapped perfectly: a
        lower bound, for runs on a machine others are using."""
        server = self.server_cpu_seconds or 0.0
        return max(self.cpu_seconds, (self.cpu_seconds + server) / (os.cpu_count() or 1))

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def measure(env: dict[str, str], out: Path, file_type: str, server_pid: int | None) -> Result:
    path = out / f"bench.{file_type}"
    path.unlink(missing_ok=True)
    command = [sys.executable, "manage.py", "export_data", "--project", PROJECT, "--format", "trl-pairwise"]
    # --skip-checks: Django's system checks (URLs, DRF settings) are not part of the export path.
    command += ["--out", str(path), "--json", "--skip-checks"]
    print(f"==> {shlex.join(command[1:])}", flush=True)
    log = out / f"export-{file_type}.log"
    load_before = os.getloadavg()[0]
    server_before = server_cpu_seconds(server_pid)
    with open(log, "w") as stream:
        started = time.monotonic()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stream, stderr=subprocess.STDOUT)
        # ru_maxrss of this child alone (KiB on Linux): the exporter's peak resident memory, reader threads included.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
    text = log.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"export_data failed:\n{text[-5000:]}")
    report = json.loads(text[text.index("{") :])
    result = Result(
        file_type=file_type,
        rows=report["rows_total"],
        judgments=report["judgments_read"],
        seconds=seconds,
        export_seconds=report["seconds"],
        peak_rss_mb=usage.ru_maxrss / 1024,
        size_mb=path.stat().st_size / 1e6,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        server_cpu_seconds=None,
        path=report.get("path", "?"),
    )
    server_after = server_cpu_seconds(server_pid)
    if server_before is not None and server_after is not None:
        result.server_cpu_seconds = server_after - server_before
    print(
        f"    {result.rows:,} rows from {result.judgments:,} judgments in {seconds:.1f}s "
        f"({result.rows_per_s:,.0f} rows/s; export itself {result.export_seconds:.1f}s), "
        f"peak RSS {result.peak_rss_mb:,.0f} MB, {result.size_mb:,.0f} MB, load {load_before:.2f} -> "
        f"{result.load_after:.2f}; CPU {result.cpu_seconds:.1f}s exporter, {result.server_cpu_seconds or 0:.1f}s "
        f"server; idle estimate {result.idle_estimate_s:.1f}s ({result.rows / result.idle_estimate_s:,.0f} rows/s); "
        f"path {result.path}",
        flush=True,
    )
    path.unlink()
    return result


# --- report ---------------------------------------------------------------------------------------------------------


def section(results: list[Result], rows: int, version: str, argv: list[str], generation: dict[str, float]) -> str:
    date = datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    generated = f" in {generation['total']:.0f}s" if generation else ""
    lines = [
        "## Export: 1M pairwise judgments to TRL rows (`bench/export.py`)",
        "",
        "| file | rows | seconds | rows/s | export_data s | peak RSS MB | file MB | load avg before/after "
        "| CPU s exporter / server | idle estimate s (rows/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in results:
        server = f"{r.server_cpu_seconds:.1f}" if r.server_cpu_seconds is not None else "?"
        lines.append(
            f"| {r.file_type} | {r.rows:,} | {r.seconds:.1f} | {r.rows_per_s:,.0f} | {r.export_seconds:.1f} | "
            f"{r.peak_rss_mb:,.0f} | {r.size_mb:,.0f} | {r.load_before:.2f} / {r.load_after:.2f} | "
            f"{r.cpu_seconds:.1f} / {server} | {r.idle_estimate_s:.1f} ({r.rows / r.idle_estimate_s:,.0f}) |"
        )
    lines += [
        "",
        f"- Date: {date}",
        f"- Machine: {machine()}",
        f"- Software: Python {platform.python_version()}; {version} (a throwaway local cluster from "
        "`scripts/pg-throwaway`: fsync off, default memory settings), on the same machine as the exporter, which "
        "connects over the cluster's Unix socket",
        f"- Data: one project of {rows:,} prompts, each with two responses and one comparison judged once "
        f"({rows:,} pairwise judgments by 20 human judges; 4% ties, a margin on 3%), written set-based with "
        f"generate_series{generated}. Prompts ~150 "
        "characters, responses ~460 (three "
        "sentences from a pool of 10,007 random pseudo-word sentences, distinct per response).",
        "- Measured: `manage.py export_data --project bench --format trl-pairwise --out FILE --skip-checks` "
        "(defaults: plain strings, ties dropped, so rows = judgments - ties) in a fresh process; *seconds* is its "
        "wall time, start-up "
        "included, *rows/s* = rows / seconds, *export_data s* is the time the export reports, *peak RSS* the child's "
        "ru_maxrss from `os.wait4`. *load avg* is the 1-minute load average: above 1 means something else was busy "
        "(a shared 2-core machine), which slows both PostgreSQL and the exporter. *CPU s*: the exporter's user + "
        "system time (ru_utime + ru_stime) and the server's (the postmaster's reaped-children time around the run). "
        "*idle estimate* = max(exporter CPU, (exporter + server CPU) / cores): the wall time with nothing else "
        "running and perfect overlap, a lower bound, not a measurement.",
        f"- Command: `{shlex.join(['.venv/bin/python', 'bench/export.py', *argv])}`",
        f"- Target: >= 50,000 rows/s and peak memory < 300 MB: {_verdict(results)}",
        "- What runs: the pair reader (`annotation/exports/fast.py`, `pair_source.py`; the report's `path`: "
        f"{', '.join(sorted({r.path for r in results}))}). One query returns one pair record per judgment (prompt, "
        "chosen and rejected texts and ids, margin, tie, judge, category), on a connection of its own with a "
        "fetch-ahead thread, binary rows in batches of 1,250; the judgment's better and worse response come from "
        "one grouped pass over the placements, and the texts by merge joins along the prompt id indexes (hash and "
        "nested-loop joins are off for an export of a large share of the tables), so the server sorts only the "
        "narrow (prompt id, judgment id) subquery. Each row is `rows.TrlPairwise`'s: its `outcome` decides which "
        "pairs are written and its `pair_sources` which record field fills each column (one generated function "
        "makes the row tuple); the general path's writers write them: JSONL lines by one generated function with "
        "orjson for the strings (a line that comes out non-ASCII or with DEL is made again by the standard "
        "library's encoder, which defines the bytes), Parquet as Arrow arrays made a fetch batch at a time and cut "
        "into the same row groups; the file writes (and pyarrow's encoding and compression) run on a writer thread "
        "while the next batch is made. Parquet on PostgreSQL (the report's `path`: fast (arrow)) skips the Python "
        "values: ADBC's PostgreSQL driver runs the same query as a binary COPY into Arrow record batches of ~4 MB "
        "on a read-ahead thread, and the same `outcome` (evaluated once per kind of pair) and `pair_sources` are "
        "applied to whole columns. `tests/annotation/exports/test_fast_path.py` checks both readers give the same "
        "bytes, report and card. Before the pair reader (the general path: three streams grouped in Python): JSONL "
        "18,467 rows/s, 28.8 s exporter CPU; Parquet 17,254 rows/s, 31.5 s, 270 MB. Before the Arrow lane, Parquet "
        "through the row lane: 17.4 s, 55,000 rows/s, 288 MB peak (Dec 7 2026, same machine as the table).",
        "- The machine is shared: other jobs (test suites, training runs) that take no lock may run during these "
        "measurements, and the load average column shows how much; CPU time also grows under such load (shared "
        "caches), so the idle estimate is pessimistic too.",
        "- Where the time goes now (1M judgments, per-thread CPU from /proc sampled every 0.2 s, single runs on "
        "this machine, Nov 23 2026): Parquet (arrow lane): the writer thread ~6 s (pyarrow's Parquet encoding and "
        "snappy, ~4.5 s of it compression), the driver's read-ahead thread ~4 s (decoding the binary COPY), the main "
        "thread ~3.5 s (start-up ~1 s, column work, row groups); before that lane, the same export spent ~6 s in "
        "its main thread (the per-row loop and building Arrow arrays from Python values) and ~3.3 s parsing rows "
        "into Python tuples. JSONL: main thread ~6 s (encoding ~3.5 us a row, against ~10 for the standard "
        "library's C escaper), fetch thread ~2.6 s, writes ~0.5 s. The server: ~5-6 s for the query (EXPLAIN "
        "ANALYZE) plus sending the rows, on the other core. Four changes took Parquet from 43,804 to ~48,000 rows/s "
        "on Nov 23 (an AMD EPYC machine with other jobs running; the table above comes from a quieter, faster "
        "one): the cyclic garbage collector is paused while rows stream (`fast._collector_paused`: rows "
        "are tuples without cycles, yet the collector walked them every 700 allocations, ~2 s of exporter CPU), the "
        "prose columns (prompt, chosen, rejected) are written without dictionary encoding or min/max statistics "
        "(`Column.prose`: pyarrow built a dictionary for every page and abandoned it, ~1 s), the exporter reaches "
        "the server over its Unix socket instead of loopback TCP (~1 s of exporter and ~2 s of server CPU), and "
        "the arrow lane (~2 s of exporter CPU).",
        "- Tried and dropped: the planner's own plan for the joined query (hash joins, then a 1 GB sort of the texts "
        "on disk: 25 s of server time); a self-join of the placements (1.3 s more server time than the grouped "
        "pass); orjson on a dict a row (slower here than seven string calls in a byte template); building Parquet "
        "string arrays from one joined buffer (no faster than `pa.array`); holding a row group's Python values "
        "until it fills (a fragmented heap: 272 MB peak; Arrow arrays per fetch batch and 2,500-row batches give "
        "~245 MB, but the writer thread's row group in flight adds ~40, hence 1,250-row batches). Earlier, for the "
        "general path: binary "
        "`COPY TO STDOUT` (~3.5 us of Python a row); escaping JSON "
        "in PostgreSQL (`to_json`: doubles the server's share, and writes UTF-8 where the files escape non-ASCII).",
    ]
    return "\n".join(lines)


def _verdict(results: list[Result]) -> str:
    slow = [f"{r.file_type} ({r.rows_per_s:,.0f} rows/s)" for r in results if r.rows_per_s < 50_000]
    big = [f"{r.file_type} ({r.peak_rss_mb:,.0f} MB)" for r in results if r.peak_rss_mb >= 300]
    throughput = f"throughput **not met** for {', '.join(slow)}" if slow else "throughput **met**"
    memory = f"memory **not met** for {', '.join(big)}" if big else "memory **met**"
    load = max(max(r.load_before, r.load_after) for r in results) if results else 0.0
    note = (
        f" (the 1-minute load average reached {load:.2f} on 2 cores: see the idle estimate)"
        if load > 1.2 and slow
        else ""
    )
    return f"{throughput}, {memory}{note}."


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="jsonl,parquet", help="comma-separated file types")
    parser.add_argument("--url", help="a database that already holds the project (skips the cluster and the data)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running and print its URL")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="export-bench-"))
    pg_dir = None
    generation: dict[str, float] = {}
    try:
        if args.url:
            url = args.url
        else:
            url, pg_dir = start_cluster()
            env = child_env(url, scratch)
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
            )
            import psycopg

            print(f"==> generating {args.rows:,} pairwise judgments in {url}", flush=True)
            with psycopg.connect(url) as conn:
                generation = generate(conn, args.rows)
            print(f"    {generation['total']:.0f}s ({json.dumps({k: round(v, 1) for k, v in generation.items()})})")
        if pg_dir:
            # The exporter reaches the server as an app on the database's machine would: over its Unix socket
            # (as bench/annotate.py and the README's PostgreSQL setting do). Loopback TCP cost ~1 s more of the
            # exporter's CPU and ~2 s more of the server's for the ~1 GB of rows of 1M judgments.
            url = pg_socket_url(url, pg_dir)
        env = child_env(url, scratch)
        wait_for_quiet_server(url)
        server_pid = postmaster_pid(url)
        results = [measure(env, scratch, ft.strip(), server_pid) for ft in args.formats.split(",") if ft.strip()]
        if not args.no_doc:
            write_section("export", section(results, args.rows, server_version(url), argv, generation))
            print(f"==> results written to {DOC.relative_to(ROOT)}")
    finally:
        if pg_dir and not args.keep:
            subprocess.run([str(ROOT / "scripts" / "pg-throwaway"), "stop", pg_dir], check=False)
        elif pg_dir:
            print(f"==> cluster kept: {url} (stop with scripts/pg-throwaway stop {pg_dir})")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
