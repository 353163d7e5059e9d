"""Benchmark: the judge comparison of a project of 1M pairwise judgments by 20 judges over 50k comparisons, on
PostgreSQL.

    .venv/bin/python bench/judges_report.py [--comparisons 50000] [--url URL] [--keep] [--no-doc]

The script starts a throwaway PostgreSQL cluster, migrates it, and writes the data set-based (generate_series): one
project of N prompts with two responses each (from 10 generators, 8 categories) and one comparison; every one of 20
judges judges every comparison: 12 human annotators (one shown order each), 4 LLM judges (one shown order), 2 LLM
judges asked in both orders on half of the comparisons each, and 2 reward models with scores. Each judge agrees with a
hidden true label with its own probability; 5% of human verdicts are ties. Then it times, in a fresh process,
`manage.py judges_report --project bench-judges --json` (wall time and peak RSS of that child), and the Judges page
answering from the stored report (Django's test client in one process against the same database, median of 20 GETs
after one warm-up: the view, its queries and the template, without a network hop).

Results go to docs/benchmarks.md between `<!-- bench:judges_report -->` markers; the rest of the file is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PAIR_TABLES, ROOT, load_average, machine, pg_socket_url, pg_start, pg_stop, write_section  # noqa: E402

PROJECT = "bench-judges"
GENERATORS = 10
CATEGORIES = ("coding", "writing", "math", "advice", "trivia", "reasoning", "roleplay", "extraction")
# (name, kind, accuracy against the hidden label, how it is asked): "one" order, "both" orders on half the items
JUDGES = (
    [(f"annotator{i}", "human", 0.70 + 0.02 * i, "one") for i in range(1, 13)]
    + [(f"llm{i}", "llm", 0.65 + 0.05 * i, "one") for i in range(1, 5)]
    + [(f"llm-both{i}", "llm", 0.70 + 0.05 * i, "both") for i in range(1, 3)]
    + [(f"rm{i}", "reward_model", 0.65 + 0.05 * i, "scores") for i in range(1, 3)]
)


def generate(conn, comparisons: int) -> dict[str, float]:  # noqa: ANN001 - a psycopg connection
    started = time.monotonic()
    cur = conn.cursor()
    cur.execute("SET session_replication_role = replica")  # consistent by construction, as for a restore
    cur.execute(
        "INSERT INTO annotation_project (created_at, updated_at, name, slug, description, kind, list_size, overlap, "
        "allow_ties, allow_both_bad, strength_scale, criteria, rationale, guidelines_md, lease_minutes, queue_order, "
        "source) VALUES (now(), now(), 'Judges benchmark', %s, '', 'pairwise', 2, 12, true, false, '[]', '[]', "
        "'optional', '', 30, 'sequential', 'Synthetic benchmark data (bench/judges_report.py); CC0-1.0') "
        "RETURNING id",
        [PROJECT],
    )
    project = cur.fetchone()[0]
    judge_ids = []
    for name, kind, _, _ in JUDGES:
        cur.execute(
            "INSERT INTO annotation_judge (created_at, updated_at, kind, name, description, metadata, project_id) "
            "VALUES (now(), now(), %s, %s, '', '{}', %s) RETURNING id",
            [kind, name, project],
        )
        judge_ids.append(cur.fetchone()[0])
    n = comparisons
    params = {"n": n, "project": project, "cats": list(CATEGORIES), "g": GENERATORS}
    steps = [
        "INSERT INTO annotation_prompt (id, created_at, updated_at, external_id, messages, category, metadata, "
        "project_id) SELECT i, now(), now(), 'q-' || i, jsonb_build_array(jsonb_build_object('role', 'user', "
        "'content', 'Question ' || i || ': ' || repeat('lorem ipsum ', 5 + i %% 20))), "
        "(%(cats)s::text[])[1 + i %% 8], '{}', %(project)s FROM generate_series(1, %(n)s) i",
        # Response 2i-1 is a, 2i is b; generators differ within a pair; lengths vary so length bias is measurable.
        "INSERT INTO annotation_response (id, created_at, updated_at, external_id, text, generator, metadata, "
        "conversation, prompt_id) SELECT 2 * i - 1 + k, now(), now(), CASE k WHEN 0 THEN 'a' ELSE 'b' END, "
        "repeat('answer text ', 3 + (hashint4(i * 2 + k) & 63)), 'model-' || ((i + k * (1 + i %% (%(g)s - 1))) %% "
        "%(g)s), '{}', NULL, i FROM generate_series(1, %(n)s) i CROSS JOIN (VALUES (0), (1)) AS ks(k)",
        "INSERT INTO annotation_comparison (id, created_at, updated_at, key, project_id, prompt_id, slots_left) "
        "SELECT i, now(), now(), (2 * i - 1) || ',' || (2 * i), %(project)s, i, 0 FROM generate_series(1, %(n)s) i",
        "INSERT INTO annotation_comparisonresponse (id, position, comparison_id, response_id) "
        "SELECT 2 * i - 1 + k, k, i, 2 * i - 1 + k FROM generate_series(1, %(n)s) i "
        "CROSS JOIN (VALUES (0), (1)) AS ks(k)",
    ]
    timings: dict[str, float] = {}
    for sql in steps:
        t0 = time.monotonic()
        cur.execute(sql, params)
        timings[sql.split()[2]] = time.monotonic() - t0
    # Judgments: judge j's verdict on item i. truth(i) = hashint4(i) & 1 (0: a better); right with probability p_j.
    # "u" is a uniform number from a hash of (i, j, order); ties for humans when u < 0.05.
    base = 0
    t0 = time.monotonic()
    for index, ((_, kind, accuracy, asked), judge_id) in enumerate(zip(JUDGES, judge_ids, strict=True)):
        orders = "(VALUES (0))" if asked != "both" else "(VALUES (0), (1))"
        half = "" if asked != "both" else "WHERE i %% 2 = 0"
        rows = f"""
            SELECT i, o, ((hashint4(i * 41 + {index} * 7919 + o * 104729) & 2147483647) / 2147483648.0) AS u,
                   hashint4(i) & 1 AS truth, (hashint4(i * 3 + {index}) & 1) AS flip_order
            FROM generate_series(1, %(n)s) i CROSS JOIN {orders} AS os(o) {half}
        """
        shown_b_first = "(CASE WHEN o = 1 THEN 1 - flip_order ELSE flip_order END)"
        verdict = f"(CASE WHEN u < {accuracy} THEN truth ELSE 1 - truth END)"
        tie = "u > 0.95" if kind == "human" else "false"
        if asked == "both":  # a position-biased judge: picks the first shown a quarter of the time
            verdict = f"(CASE WHEN u < 0.25 THEN {shown_b_first} ELSE {verdict} END)"
        order_key = (
            "''"
            if kind == "human"
            else f"CASE WHEN {shown_b_first} = 1 THEN (2*i) || ',' || (2*i-1) ELSE (2*i-1) || ',' || (2*i) END"
        )
        cur.execute(
            f"""
            CREATE TEMP TABLE bench_rows AS
            SELECT row_number() OVER (ORDER BY i, o) + %(base)s AS id, i, o, u, {verdict} AS winner, {tie} AS tie,
                   {shown_b_first} AS b_first, {order_key} AS order_key
            FROM ({rows}) r
            """,
            params | {"base": base},
        )
        cur.execute(
            "INSERT INTO annotation_judgment (id, created_at, updated_at, strength, margin, criteria, rationale, "
            "shown_order, order_key, duration_ms, source, status, client_token, metadata, comparison_id, "
            "import_job_id, judge_id, project_id) SELECT id, now(), now(), NULL, NULL, '{}', '', "
            "CASE WHEN b_first = 1 THEN jsonb_build_array(2*i, 2*i-1) ELSE jsonb_build_array(2*i-1, 2*i) END, "
            "order_key, 1000 + i %% 60000, 'import', 'active', NULL, '{}', i, NULL, %(judge)s, %(project)s "
            "FROM bench_rows",
            params | {"judge": judge_id},
        )
        score = "(CASE WHEN k = winner THEN 1.0 ELSE -1.0 END) * (0.5 + u)" if asked == "scores" else "NULL"
        cur.execute(
            "INSERT INTO annotation_placement (id, rank, score, judgment_id, response_id) "
            f"SELECT 2 * id - 1 + k, CASE WHEN tie OR k = winner THEN 1 ELSE 2 END, {score}, id, 2 * i - 1 + k "
            "FROM bench_rows CROSS JOIN (VALUES (0), (1)) AS ks(k)"
        )
        cur.execute("SELECT count(*) FROM bench_rows")
        base += cur.fetchone()[0]
        cur.execute("DROP TABLE bench_rows")
    timings["judgments"] = time.monotonic() - t0
    for table in ("annotation_project", "annotation_judge", *PAIR_TABLES):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(max(id), 1) FROM {table}))"
        )
    cur.execute("SET session_replication_role = DEFAULT")
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    timings["judgments_total"] = base
    timings["total"] = time.monotonic() - started
    return timings


def child_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(WORKBENCH_DATABASE_URL=url, WORKBENCH_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return env


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of a fresh process."""
    started = time.monotonic()
    out = tempfile.TemporaryFile()
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr[-3000:]}")
    out.seek(0)
    return wall, usage.ru_maxrss / 1024, out.read().decode()


PAGE_TIMER = """
import statistics, time, django, json
django.setup()
from django.test import Client
from django.contrib.auth import get_user_model
user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})
client = Client(HTTP_HOST="localhost")
client.force_login(user)
client.get("/projects/bench-judges/judges/")  # warm-up: template loading, first queries
times = []
for _ in range(20):
    t0 = time.perf_counter()
    response = client.get("/projects/bench-judges/judges/")
    times.append(time.perf_counter() - t0)
    assert response.status_code == 200 and b"Judges against" in response.content, response.status_code
result = {"median_ms": 1000 * statistics.median(times), "max_ms": 1000 * max(times)}
print(json.dumps(result | {"bytes": len(response.content)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=50_000)
    parser.add_argument("--url", help="a database that already holds the data (as --keep leaves it)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running and print its URL")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    options = parser.parse_args()
    pg_dir = None
    timings: dict[str, float] = {}
    python = str(ROOT / ".venv" / "bin" / "python")
    with tempfile.TemporaryDirectory() as data_dir:
        if options.url:
            url = options.url
        else:
            tcp_url, pg_dir = pg_start()
            url = pg_socket_url(tcp_url, pg_dir)
        env = child_env(url, Path(data_dir))
        try:
            if not options.url:
                subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
                import psycopg

                with psycopg.connect(url) as conn:
                    timings = generate(conn, options.comparisons)
                print(f"generated {int(timings['judgments_total']):,} judgments in {timings['total']:.0f} s")
            load_before = load_average()
            wall, rss, out = run_child(
                [python, "manage.py", "judges_report", "--project", PROJECT, "--json", "--skip-checks"], env
            )
            load_after = load_average()
            report = json.loads(out)
            page_env = env | {"DJANGO_SETTINGS_MODULE": "workbench.settings"}
            _, _, page_out = run_child([python, "-c", PAGE_TIMER], page_env)
            page = json.loads(page_out)
        finally:
            if pg_dir and not options.keep:
                pg_stop(pg_dir)
            elif pg_dir:
                print(f"cluster kept: {url} ({pg_dir})")
    rows = report["judges_report"]["judges"]
    result = {
        "judgments": report["verdicts"],
        "judges": len(rows),
        "comparisons": report["judges_report"]["items"],
        "report_s": round(wall, 1),
        "compute_s": report["seconds"],
        "peak_rss_mb": round(rss),
        "page_median_ms": round(page["median_ms"], 1),
        "page_max_ms": round(page["max_ms"], 1),
        "page_kb": round(page["bytes"] / 1024),
        "load": (round(load_before, 2), round(load_after, 2)),
    }
    print(json.dumps(result, indent=2))
    if options.no_doc:
        return
    cells = [
        f"{result['judgments']:,}",
        str(result["judges"]),
        f"{result['comparisons']:,}",
        str(result["report_s"]),
        f"{result['compute_s']['read']} / {result['compute_s']['total']}",
        str(result["peak_rss_mb"]),
        f"{result['page_median_ms']} / {result['page_max_ms']}",
        str(result["page_kb"]),
        f"{result['load'][0]} / {result['load'][1]}",
    ]
    header = (
        "| judgments | judges | comparisons | `judges_report` s (fresh process) | reading / compute s | peak RSS MB "
        "| cached page median / max ms | page KB | load avg before/after |"
    )
    text = f"""
## Judge comparison: 1M pairwise judgments by 20 judges (`bench/judges_report.py`)

{header}
|---:|---:|---:|---:|---|---:|---|---:|---|
| {" | ".join(cells)} |

- Date: {datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")}
- Machine: {machine()}
- Data: {options.comparisons:,} prompts with two responses each (10 generators, 8 categories) and one comparison each,
  judged by 20 judges: 12 human annotators, 4 LLM judges, 2 LLM judges asked in both shown orders on half the
  comparisons each (a quarter of their verdicts follow the position), 2 reward models with scores; written set-based
  with generate_series on a throwaway PostgreSQL (`scripts/pg-throwaway`), reached over its Unix socket.
- Measured: `manage.py judges_report --project {PROJECT} --json` in a fresh process (start-up included): reading
  every verdict (two streaming queries of plain numbers: judgments, then placements), the judge table with 1,000
  bootstrap resamples over prompts, the judge x judge matrix, Fleiss' kappa and Krippendorff's alpha, the MT-Bench
  agreement, per-category rows, generator win rates and Bradley-Terry ratings with bootstrap intervals (overall
  and per category), stored in the database.
  Then the Judges page served from that stored report: Django's test client in one process, median of 20 GETs after
  a warm-up (the fingerprint query over the project's judgments, the stored JSON, the template).
- Targets (issue 14): under 30 s and under 1 GB peak for the report; under 300 ms for the cached page.
- Command: `.venv/bin/python bench/judges_report.py`
"""
    write_section("judges_report", text)


if __name__ == "__main__":
    main()
