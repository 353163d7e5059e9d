"""Judges belong to one project; a judgment keeps the order its judge saw; "no verdict" is a judgment status.

Existing judges get their project from their judgments. A judge with judgments in several projects (one "gpt-4"
shared by two projects, a person who judged in two projects) is split: the original stays with the project of its
earliest judgment, and each other project gets a copy (same name, kind, user, description, metadata) that takes
over that project's judgments. A judge with no judgments goes to the first project of the training run that owns
it (a reward model trained but not yet scored); any other judge with no judgments is deleted (a person's human
judge is made again on their next submission).

Responses with a content-derived id (`r-…`) and a generator get the id that now includes the generator, so a
re-import of the file that made them finds them again.
"""

import hashlib
import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _content_id(value, prefix):
    payload = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return f"{prefix}{hashlib.blake2b(payload, digest_size=10).hexdigest()}"


def _run_project(schema_editor, judge_id):
    """The first project of the training run whose judge this is, read without depending on the rewards app."""
    tables = schema_editor.connection.introspection.table_names()
    if "rewards_trainingrun" not in tables or "rewards_trainingrun_projects" not in tables:
        return None
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(p.project_id) FROM rewards_trainingrun_projects p "
            "JOIN rewards_trainingrun r ON r.id = p.trainingrun_id WHERE r.judge_id = %s",
            [judge_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _checks_now(schema_editor):
    """Run PostgreSQL's deferred foreign-key checks now: ALTER TABLE refuses a table with pending trigger events."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


def scope_judges(apps, schema_editor):
    Judge = apps.get_model("annotation", "Judge")
    Judgment = apps.get_model("annotation", "Judgment")
    for judge in Judge.objects.filter(project__isnull=True).order_by("pk"):
        projects = list(
            Judgment.objects.filter(judge_id=judge.pk)
            .values("project_id")
            .annotate(first=models.Min("id"))
            .order_by("first")
            .values_list("project_id", flat=True)
        )
        if not projects:
            project_id = _run_project(schema_editor, judge.pk)
            if project_id is None:
                judge.delete()
            else:
                Judge.objects.filter(pk=judge.pk).update(project_id=project_id)
            continue
        Judge.objects.filter(pk=judge.pk).update(project_id=projects[0])
        for project_id in projects[1:]:
            copy = Judge.objects.create(
                project_id=project_id,
                name=judge.name,
                kind=judge.kind,
                user_id=judge.user_id,
                description=judge.description,
                metadata=judge.metadata,
            )
            Judgment.objects.filter(judge_id=judge.pk, project_id=project_id).update(judge_id=copy.pk)
    _checks_now(schema_editor)


def rekey_generated_responses(apps, schema_editor):
    Response = apps.get_model("annotation", "Response")
    changed = []
    rows = (
        Response.objects.filter(external_id__startswith="r-")
        .exclude(generator="")
        .only("id", "external_id", "text", "generator", "conversation")
    )
    for response in rows.iterator(chunk_size=2000):
        old = [response.text] if response.conversation is None else [response.text, response.conversation]
        if response.external_id != _content_id(old, "r-"):
            continue  # an id the source gave, not one derived from the content
        response.external_id = _content_id([*old, {"generator": response.generator}], "r-")
        changed.append(response)
        if len(changed) >= 2000:
            Response.objects.bulk_update(changed, ["external_id"])
            changed = []
    Response.objects.bulk_update(changed, ["external_id"])
    _checks_now(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0003_assignment_queue_and_exports"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="judgment", name="judgment_one_active_per_judge"),
        migrations.AddField(
            model_name="judge",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="judges",
                to="annotation.project",
            ),
        ),
        migrations.AlterField(model_name="judge", name="name", field=models.CharField(max_length=200)),
        migrations.AlterField(
            model_name="judge",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="judges",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="judgment",
            name="order_key",
            field=models.CharField(
                blank=True,
                default="",
                help_text="For judges that see a comparison in several orders (LLM judges, reward models): the shown "
                "order's response ids joined by commas, so each order keeps its own judgment; empty for human judges "
                "and unknown orders (one judgment per comparison).",
                max_length=512,
            ),
        ),
        migrations.RunPython(scope_judges, migrations.RunPython.noop),
        migrations.RunPython(rekey_generated_responses, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="judge",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="judges",
                to="annotation.project",
            ),
        ),
        migrations.AlterField(
            model_name="judge",
            name="kind",
            field=models.CharField(
                choices=[
                    ("human", "Human"),
                    ("reward_model", "Reward model"),
                    ("llm", "LLM judge"),
                    ("reference", "Reference"),
                    ("imported", "Imported source"),
                ],
                db_index=True,
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="judgment",
            name="judge",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="judgments",
                to="annotation.judge",
            ),
        ),
        migrations.AlterField(
            model_name="judgment",
            name="status",
            field=models.CharField(
                choices=[("active", "Active"), ("excluded", "Excluded"), ("no_verdict", "No verdict")],
                default="active",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="judge",
            constraint=models.UniqueConstraint(fields=("project", "name"), name="judge_unique_name_per_project"),
        ),
        migrations.AddConstraint(
            model_name="judge",
            constraint=models.UniqueConstraint(
                condition=models.Q(("user__isnull", False)),
                fields=("project", "user"),
                name="judge_one_per_user_per_project",
            ),
        ),
        migrations.AddConstraint(
            model_name="judgment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("order_key", ""), ("status__in", ["active", "no_verdict"])),
                fields=("judge", "comparison"),
                name="judgment_one_active_per_judge",
            ),
        ),
        migrations.AddConstraint(
            model_name="judgment",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("status__in", ["active", "no_verdict"]), models.Q(("order_key", ""), _negated=True)
                ),
                fields=("judge", "comparison", "order_key"),
                name="judgment_one_active_per_judge_order",
            ),
        ),
    ]
