"""Next-item and submit latency with 1M judgments stored on PostgreSQL and 50 concurrent annotators.

    .venv/bin/python bench/annotate.py [--annotators 50] [--seconds 60] [--stress-seconds 30] [--no-doc]

A throwaway PostgreSQL cluster gets 1,000,000 imported judgments (250,000 full pairwise comparisons, four judges
each) written with set-based SQL, plus an open pool of 20,000 comparisons with overlap 3. gunicorn serves the real
app over loopback; Locust (headless, one process) runs the annotators, each logging in as its own user, asking for
the next item and submitting it (5% skips). Two runs: *paced* (each annotator pauses 0.5-1.5 s between items, still
several times faster than people judge) and *stress* (no pause: the server's throughput limit). Latencies are
every request's own time after a warm-up, as nearest-rank percentiles. Afterwards the overlap invariant is checked.
Results go to the `annotate` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    load_average,
    machine,
    percentile,
    pg_socket_url,
    pg_start,
    pg_stop,
    write_section,
)

FULL = 250_000  # comparisons with their judgments in
JUDGES = 4
OPEN = 20_000  # comparisons waiting for annotators
OVERLAP = 3
PASSWORD = "bench-password"
WARMUP_S = 10.0


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


SETUP_USERS = """
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from annotation.models import Membership
from annotation.services.projects import project_create
project = project_create(slug="bench", name="Bench", overlap={overlap}, allow_ties=True)
User = get_user_model()
hashed = make_password("{password}")
users = User.objects.bulk_create([User(username=f"bench{{i}}", password=hashed) for i in range({annotators})])
Membership.objects.bulk_create([Membership(project=project, user=u, role="annotator") for u in users])
# Signed-in sessions made here, so the measured run is not 50 password hashings at once (PBKDF2 is slow on purpose).
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
keys = []
for user in User.objects.filter(username__startswith="bench").order_by("id"):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(",".join(keys))
print(project.pk)
"""


def generate(url: str, project_id: int) -> float:
    """The 1M judgments, in set-based SQL (the importer's path runs at ~2k pairs/s: 8 minutes for this)."""
    import psycopg

    total = FULL + OPEN
    started = time.perf_counter()
    statements = [
        f"""INSERT INTO annotation_prompt (id, project_id, external_id, messages, category, metadata, created_at,
            updated_at)
            SELECT g, {project_id}, 'p' || g, jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                   'Question ' || g || ': ' || repeat('how would you explain this to a friend? ', 6))),
                   '', '{{}}', now(), now()
            FROM generate_series(1, {total}) g""",
        f"""INSERT INTO annotation_response (id, prompt_id, external_id, text, generator, metadata, created_at,
            updated_at)
            SELECT r, (r + 1) / 2, 'r' || r,
                   'Answer ' || r || '. ' || repeat('Here is a careful, *useful* reply. ', 20),
                   'model-' || (r % 2), '{{}}', now(), now()
            FROM generate_series(1, {2 * total}) r""",
        f"""INSERT INTO annotation_comparison (id, project_id, prompt_id, key, slots_left, created_at, updated_at)
            SELECT g, {project_id}, g, (2 * g - 1) || ',' || (2 * g),
                   CASE WHEN g > {FULL} THEN {OVERLAP} ELSE 0 END, now(), now()
            FROM generate_series(1, {total}) g""",
        f"""INSERT INTO annotation_comparisonresponse (id, comparison_id, response_id, position)
            SELECT r, (r + 1) / 2, r, (r + 1) % 2 FROM generate_series(1, {2 * total}) r""",
        f"""INSERT INTO annotation_judge (id, project_id, kind, name, description, metadata, created_at, updated_at)
            SELECT j, {project_id}, 'imported', 'bench:judge' || j, '', '{{}}', now(), now()
            FROM generate_series(1, {JUDGES}) j""",
        f"""INSERT INTO annotation_judgment (id, project_id, comparison_id, judge_id, criteria, rationale, shown_order,
            order_key, source, status, metadata, created_at, updated_at)
            SELECT {JUDGES} * (g - 1) + j, {project_id}, g, j, '{{}}', '', '[]', '', 'import', 'active', '{{}}',
                   now(), now()
            FROM generate_series(1, {FULL}) g, generate_series(1, {JUDGES}) j""",
        f"""INSERT INTO annotation_placement (id, judgment_id, response_id, rank)
            SELECT 2 * jid - 1 + side, jid, 2 * g - 1 + ((g + j + side) % 2), 1 + side
            FROM (SELECT {JUDGES} * (g - 1) + j AS jid, g, j FROM generate_series(1, {FULL}) g,
                  generate_series(1, {JUDGES}) j) t, generate_series(0, 1) side""",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        for table in ("prompt", "response", "comparison", "comparisonresponse", "judge", "judgment", "placement"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('annotation_{table}', 'id'), "
                f"(SELECT max(id) FROM annotation_{table}))"
            )
        conn.execute("VACUUM ANALYZE")
        judgments = conn.execute("SELECT count(*) FROM annotation_judgment").fetchone()[0]
    assert judgments == FULL * JUDGES, judgments
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "workbench.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--threads", str(threads), "--worker-class", "gthread", "--access-logfile", "-"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).close()
            return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start:\n{log.read_text()[-2000:]}")


def run_locust(
    env: dict[str, str], port: int, users: int, seconds: int, think: tuple[float, float], out: Path
) -> float:
    env = dict(env, BENCH_PROJECT="bench", BENCH_PASSWORD=PASSWORD, BENCH_LATENCY_FILE=str(out),
               BENCH_THINK_MIN=str(think[0]), BENCH_THINK_MAX=str(think[1]))  # fmt: skip
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "annotate_locustfile.py"), "--headless",
         "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
         "--only-summary", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, check=False, capture_output=True,
    )  # fmt: skip
    return started


def summarise(path: Path, started: float) -> dict[str, dict[str, float]]:
    """Per request name: count, p50/p95/p99 ms, requests/s, 5xx/failed; requests in the first WARMUP_S seconds
    (Locust starts everyone at once: the logins) are not counted."""
    rows = [line.split(",") for line in path.read_text().splitlines() if line]
    kept = [row for row in rows if float(row[3]) >= started + WARMUP_S]
    measured_s = max(1.0, max(float(row[3]) for row in rows) - started - WARMUP_S) if kept else 1.0
    result: dict[str, dict[str, float]] = {}
    for name in ("next", "submit", "skip"):
        values = [float(ms) for n, ms, _, _ in kept if n == name]
        failures = sum(1 for n, _, status, _ in kept if n == name and (status == "0" or status.startswith("5")))
        if values:
            result[name] = {
                "count": len(values),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "p99": percentile(values, 99),
                "per_s": len(values) / measured_s,
                "failures": failures,
            }
    return result


def check_overlap(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        over = conn.execute(
            "SELECT count(*) FROM (SELECT comparison_id FROM annotation_judgment WHERE source = 'ui' "
            "GROUP BY comparison_id HAVING count(*) > %s OR count(DISTINCT judge_id) < count(*)) t",
            [OVERLAP],
        ).fetchone()[0]
        ui = conn.execute("SELECT count(*) FROM annotation_judgment WHERE source = 'ui'").fetchone()[0]
    return over, ui


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--stress-seconds", type=int, default=30)
    parser.add_argument("--think-min", type=float, default=2.0, help="seconds between an annotator's items")
    parser.add_argument("--think-max", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    url, pg_dir = pg_start(durable=True)  # commits pay for fsync, as in production
    scratch = Path(tempfile.mkdtemp(prefix="bench-annotate-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(
        WORKBENCH_DATABASE_URL=pg_socket_url(url, pg_dir),
        WORKBENCH_DATA_DIR=str(scratch),
        WORKBENCH_DB_CONN_MAX_AGE="60",
        WORKBENCH_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SETTINGS_MODULE="workbench.settings",
    )
    server = None
    try:
        manage(env, "migrate", "-v0")
        setup = SETUP_USERS.format(overlap=OVERLAP, password=PASSWORD, annotators=args.annotators)
        *_, sessions, project_id_text = manage(env, "shell", "-c", setup).strip().splitlines()
        project_id = int(project_id_text)
        env["BENCH_SESSIONS"] = sessions
        generate_s = generate(url, project_id)
        print(f"generated {FULL * JUDGES:,} judgments in {generate_s:.0f} s", flush=True)
        port = free_port()
        server = start_gunicorn(env, port, args.workers, args.threads, scratch / "gunicorn.log")
        runs = {}
        paced = (args.think_min, args.think_max)
        for label, seconds, think in (("paced", args.seconds, paced), ("stress", args.stress_seconds, (0, 0))):
            if seconds <= 0:
                continue
            load = load_average()
            out = scratch / f"{label}.csv"
            started = run_locust(env, port, args.annotators, seconds, think, out)
            runs[label] = summarise(out, started) | {"load": {"before": load, "after": load_average()}}
            print(label, runs[label], flush=True)
        over, ui = check_overlap(url)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        pg_stop(pg_dir)
    print(f"human judgments stored: {ui:,}; comparisons over overlap or with a repeated judge: {over}")
    text = report(args, runs, over, ui, generate_s, argv)
    print(text)
    if not args.no_doc:
        write_section("annotate", text)


def report(args: argparse.Namespace, runs: dict, over: int, ui: int, generate_s: float, argv: list[str]) -> str:
    lines = [
        "## Annotation: next item and submit latency (`bench/annotate.py`)",
        "",
        "| run | request | count | per s | p50 ms | p95 ms | p99 ms | 5xx / failed | load before / after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, run in runs.items():
        for name in ("next", "submit", "skip"):
            if name in run:
                r = run[name]
                lines.append(
                    f"| {label} | {name} | {r['count']:,} | {r['per_s']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                    f"{r['p99']:.1f} | {r['failures']} | {run['load']['before']:.2f} / {run['load']['after']:.2f} |"
                )
    paced = runs.get("paced", {})
    verdict = "met" if paced and all(paced[n]["p95"] < 50 for n in ("next", "submit") if n in paced) else "not met"
    lines += [
        "",
        f"- Target (issue 3): p95 < 50 ms for next and submit with 50 concurrent annotators: **{verdict}** "
        "in the paced run.",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        f"- Data: {FULL * JUDGES:,} imported judgments ({FULL:,} full pairwise comparisons x {JUDGES} judges, "
        f"{2 * FULL * JUDGES:,} placements) plus {OPEN:,} open comparisons (overlap {OVERLAP}), generated with "
        f"set-based SQL in {generate_s:.0f} s; prompts ~270 and responses ~700 characters of Markdown.",
        f"- Server: gunicorn gthread, {args.workers} workers x {args.threads} threads, persistent DB connections "
        "over PostgreSQL's Unix socket (as an app on the database's machine connects); a throwaway cluster on the "
        "same machine with PostgreSQL's durable defaults (fsync, synchronous_commit, full_page_writes on: every "
        "commit waits for its WAL flush). Sessions from the file cache. Locust (one process) on the same 2 cores.",
        f"- Annotators: {args.annotators}, each its own signed-in user. "
        f"*paced*: {args.think_min:g}-{args.think_max:g} s "
        "between items (people take 10-30 s on a pairwise item, so this is a busier team than 50 real annotators); "
        "*stress*: no pause at all, which measures the server's capacity rather than an annotator's wait. "
        f"First {WARMUP_S:.0f} s of each run not counted. Latency = Locust's per-request time "
        "over loopback, nearest-rank percentiles.",
        f"- After both runs: {ui:,} human judgments stored; comparisons with more than {OVERLAP} judgments or a "
        f"repeated judge: **{over}**.",
        f"- Command: `{shlex.join(['.venv/bin/python', 'bench/annotate.py', *argv])}`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
