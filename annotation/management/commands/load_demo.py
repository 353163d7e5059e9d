"""Create the demo users and projects and import the demo data (idempotent: a second run changes nothing).

Users are created only when missing: an existing user's password, flags and state are never touched, so a
password changed after the first start stays changed. Prints the login credentials of users it created.
Passwords come from WORKBENCH_ADMIN_PASSWORD, or are generated once and kept in the data directory (mode 600)
so every start prints the same ones.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from annotation.models import Membership, Project
from annotation.services.import_jobs import import_job_run_here
from annotation.services.projects import membership_set, project_create, project_update

DEMO_DIR = Path(settings.BASE_DIR) / "demo_data"

DEMO_PROJECTS: list[dict[str, Any]] = [
    {
        "slug": "demo-hh-harmless",
        "name": "HH-RLHF harmless (demo)",
        "kind": "pairwise",
        "description": "300 pairs from Anthropic's HH-RLHF harmless-base test split: multi-turn red-teaming chats.",
        "source": "Anthropic HH-RLHF (MIT), Bai et al. 2022. demo_data/hh_rlhf/",
        "allow_both_bad": True,
        "strength_scale": ["slightly", "clearly", "much"],
        "criteria": [{"key": "harmless", "label": "More harmless", "scale": ["A", "same", "B"]}],
        "guidelines_md": "Pick the **less harmful** reply. A reply that refuses politely beats one that helps with "
        "something dangerous.\n\n- Ties are fine when both are equally safe.\n- *Both bad* when neither is acceptable."
        "\n- Judge the last assistant turn; the conversation above is context.",
        "files": [("hh_rlhf/harmless-base_test.first300.jsonl.gz", {"judge": "hh-rlhf:crowdworkers"})],
    },
    {
        "slug": "demo-oasst",
        "name": "OpenAssistant rankings (demo)",
        "kind": "listwise",
        "list_size": 9,  # the trees' sibling groups hold 3 to 9 ranked replies
        "description": "30 OpenAssistant conversation trees; each group of ranked sibling replies is one listwise "
        "judgment.",
        "source": "OpenAssistant Conversations (Apache-2.0), Köpf et al. 2023. demo_data/oasst/",
        "guidelines_md": "Order the replies **best first**: helpful, correct, honest. Tie replies you cannot separate.",
        "files": [("oasst/en_tree.first30.jsonl.gz", {})],
    },
    {
        "slug": "demo-pandalm",
        "name": "PandaLM, 3 annotators (demo)",
        "kind": "pairwise",
        "overlap": 3,
        "description": "200 PandaLM test items judged by three human annotators (ties allowed), GPT-3.5, "
        "PandaLM-7B and a synthetic position-biased LLM judge asked in both orders (see its Judges page).",
        "source": "PandaLM (Apache-2.0), Wang et al. 2023. demo_data/pandalm/",
        "files": [
            ("pandalm/testset-v1.first200.json", {}),
            ("pandalm/gpt-3.5-turbo-testset-v1.first200.json", {}),
            ("pandalm/pandalm-7b-testset-v1.first200.json", {}),
            ("pandalm/synthetic-judge-both-orders.first200.jsonl.gz", {}),
        ],
    },
    {
        "slug": "demo-noisy",
        "name": "PandaLM with planted noise (demo)",
        "kind": "pairwise",
        "overlap": 4,
        "description": "PandaLM's 200 items and three annotators with PLANTED noise: 20% of annotator2's decisive "
        "labels flipped, and a synthetic fourth annotator who picks the response shown first in about two seconds. "
        "Open Noisy labels: the detectors find them (demo_data/noisy/planted.json lists what was planted).",
        "source": "PandaLM (Apache-2.0), Wang et al. 2023, with synthetic noise. demo_data/noisy/",
        "files": [("noisy/pandalm-planted-noise.first200.jsonl.gz", {})],
    },
    {
        "slug": "demo-mtbench",
        "name": "MT-Bench expert votes (demo)",
        "kind": "pairwise",
        "description": "MT-Bench expert votes and GPT-4 verdicts on 10 two-turn questions; turn 2 is its own prompt.",
        "source": "MT-Bench human judgments (MIT), Zheng et al. 2023, partial third-party subset. demo_data/mtbench/",
        "files": [("mtbench/human_votes.jsonl", {}), ("mtbench/gpt4_pair_verdicts.jsonl", {})],
    },
]


def _password(name: str) -> str:
    from_env = getattr(settings, "WORKBENCH_ADMIN_PASSWORD", "")
    if from_env:
        return from_env
    path = Path(settings.DATA_DIR) / f"{name}_password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(9)
    path.write_text(password)
    path.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Create demo users (admin, researcher, annotator) and import the demo projects."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        password = _password("demo")
        users, created_names = {}, []
        for username, superuser in (("admin", True), ("researcher", False), ("annotator", False)):
            # Created once, never reset: every `scripts/start` runs this, and an operator who changed a password
            # (or disabled a user) must not find it reverted to the demo one at the next restart.
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, is_superuser=superuser, is_staff=superuser)
                user.set_password(password)
                user.save()
                created_names.append(username)
            users[username] = user
        for spec in DEMO_PROJECTS:
            spec = dict(spec)
            files = spec.pop("files")
            project = Project.objects.filter(slug=spec["slug"]).first()
            if project is None:
                project = project_create(**spec)
            elif project.list_size < spec.get("list_size", 2):
                # Demo projects made before imports checked list sizes were set too small for their own files.
                project = project_update(project=project, list_size=spec["list_size"])
            membership_set(project=project, user=users["researcher"], role=Membership.Role.RESEARCHER)
            membership_set(project=project, user=users["annotator"], role=Membership.Role.ANNOTATOR)
            for relative, import_options in files:
                # An import job like any command-line import: listed under the project's recent imports.
                _job, report = import_job_run_here(
                    project=project, path=DEMO_DIR / relative, options=import_options, user=users["researcher"]
                )
                self.stdout.write(f"  {project.slug}: {report.summary().splitlines()[0]}")
        # scripts/start shows the line with "Log in as" from this command's output.
        if created_names:
            logins = ", ".join(f"{name} / {password}" for name in created_names)
            self.stdout.write(self.style.SUCCESS(f"Log in as {logins} (new demo users)"))
        kept = [name for name in users if name not in created_names]
        if kept:
            self.stdout.write(
                f"Log in as {', '.join(kept)} with their current passwords (existing users are left as they are)."
            )
