"""Shared by the benchmarks: the machine's description, a throwaway PostgreSQL, and writing one marked section of
docs/benchmarks.md (the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`) without touching the rest."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"

# The tables one pairwise judgment fills, parents first (9 rows a pair: 1 + 2 + 1 + 2 + 1 + 2).
PAIR_TABLES = (
    "annotation_prompt",
    "annotation_response",
    "annotation_comparison",
    "annotation_comparisonresponse",
    "annotation_judgment",
    "annotation_placement",
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram_gb:.0f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def load_average() -> float:
    return os.getloadavg()[0]


def pg_start(*, durable: bool = False) -> tuple[str, str]:
    """(URL, directory) of a fresh throwaway cluster with an empty `workbench` database. `durable` keeps fsync,
    synchronous_commit and full_page_writes on (the test clusters switch them off)."""
    import psycopg

    env = dict(os.environ, WORKBENCH_PG_DURABLE="1" if durable else "0")
    out = subprocess.run(
        [str(ROOT / "scripts" / "pg-throwaway")], check=True, capture_output=True, text=True, env=env
    ).stdout
    url, directory = out.split()
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute('CREATE DATABASE "workbench"')
    return url, directory


def pg_socket_url(url: str, directory: str) -> str:
    """The same database over the cluster's Unix socket (in `directory`), as an app on the database's own
    machine would connect: loopback TCP costs a few hundred microseconds more per query on these VMs."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    return f"postgres://postgres@{quote(directory, safe='')}:{port}/workbench"


def pg_stop(directory: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "pg-throwaway"), "stop", directory], check=False)


def write_section(name: str, text: str) -> None:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{start}\n{text.strip()}\n{end}"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        current = before + block + after
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(current)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
