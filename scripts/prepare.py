"""scripts/start's preparation in one Python process: migrate the database, collect static files and load the
demo data, each only when there is something to do, so a second start with nothing changed costs one Django
start-up (about a second) instead of three commands with their system checks (about 20 s on 2 cores).

Prints one line per step saying what it did or why it skipped, then `LOGIN: ...` with the demo logins, which
scripts/start shows once, after the server is up. Run by scripts/start; `python scripts/prepare.py` alone works.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tree_fingerprint(paths: Iterable[Path], extra: str = "") -> str:
    """Paths, sizes and modification times of every file under `paths`: changes when a file is added, removed or
    edited, without reading the files."""
    digest = hashlib.sha256(extra.encode())
    for root in paths:
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                digest.update(f"{path.relative_to(REPO)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


class Stamp:
    """A fingerprint kept in the data directory: the step is skipped while it matches."""

    def __init__(self, data_dir: Path, name: str, value: str) -> None:
        self.path, self.value = data_dir / f".start-{name}", value

    def fresh(self) -> bool:
        return self.path.exists() and self.path.read_text().strip() == self.value

    def save(self) -> None:
        self.path.write_text(self.value + "\n")


def say(message: str) -> None:
    print(message, flush=True)


def migrate() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        say("==> database: up to date, nothing to migrate")
        return
    say(f"==> migrating the database ({len(plan)} migration{'s' if len(plan) != 1 else ''} to apply)")
    call_command("migrate", interactive=False, verbosity=0)


def collect_static(data_dir: Path) -> None:
    from django.conf import settings
    from django.core.management import call_command

    # Our static files plus the installed packages' (admin, DRF, the API docs): the install stamp covers those.
    installed = "".join(p.read_text() for p in sorted((REPO / ".venv").glob(".installed*")))
    stamp = Stamp(data_dir, "static", tree_fingerprint([REPO / "static"], installed + str(settings.STATIC_ROOT)))
    if stamp.fresh() and Path(settings.STATIC_ROOT).is_dir():
        say("==> static files: unchanged, not collected again")
        return
    say("==> collecting static files")
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.save()


DEMO_USERS = ("admin", "researcher", "annotator")


def demo_in_place() -> bool:
    from django.contrib.auth import get_user_model

    from annotation.management.commands.load_demo import DEMO_PROJECTS
    from annotation.models import Project

    slugs = {spec["slug"] for spec in DEMO_PROJECTS}
    users = get_user_model().objects.filter(username__in=DEMO_USERS).count()
    return users == len(DEMO_USERS) and Project.objects.filter(slug__in=slugs).count() == len(slugs)


def load_demo(data_dir: Path, database: str) -> str:
    """Loads the demo unless this database already holds this version of it; returns the login line."""
    from django.core.management import call_command

    command = REPO / "annotation" / "management" / "commands" / "load_demo.py"
    stamp = Stamp(data_dir, "demo", tree_fingerprint([REPO / "demo_data", command], database))
    if stamp.fresh() and demo_in_place():
        say("==> demo data: already loaded")
        return ""
    say("==> loading the demo data (log: logs/demo.log)")
    out = io.StringIO()
    started = time.monotonic()
    # The importer logs each file at INFO as well; the command's own lines below say the same once.
    logging.getLogger("annotation").setLevel(logging.WARNING)
    call_command("load_demo", stdout=out)
    lines = out.getvalue().splitlines()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "logs" / "demo.log").write_text(out.getvalue())
    for line in lines:
        if not line.startswith("Log in as"):
            say(f"    {line.strip()}")
    say(f"    done in {time.monotonic() - started:.0f} s")
    stamp.save()
    return next((line for line in lines if line.startswith("Log in as") and "new demo users" in line), "")


def login_line(data_dir: Path, created: str) -> str:
    if created:
        return created
    if os.environ.get("WORKBENCH_ADMIN_PASSWORD"):
        return "Log in as admin, researcher or annotator with the password in WORKBENCH_ADMIN_PASSWORD."
    password_file = data_dir / "demo_password"
    if password_file.exists():
        password = password_file.read_text().strip()
        return f"Log in as admin, researcher or annotator with password {password} (unless changed since)."
    return "Log in as admin, researcher or annotator with their current passwords."


def main() -> int:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")
    import django

    django.setup()
    from django.conf import settings

    data_dir = Path(settings.DATA_DIR)
    database = f"{settings.DATABASES['default']['ENGINE']}:{settings.DATABASES['default']['NAME']}"
    migrate()
    collect_static(data_dir)
    created = load_demo(data_dir, database)
    say("LOGIN: " + login_line(data_dir, created))
    return 0


if __name__ == "__main__":
    sys.exit(main())
