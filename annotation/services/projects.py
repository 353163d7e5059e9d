"""Writes on projects and their membership."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils.text import slugify

from annotation.models import Comparison, Membership, Project
from workbench.exceptions import ApplicationError


@transaction.atomic
def project_create(
    *, slug: str, name: str = "", created_by: AbstractBaseUser | None = None, **fields: object
) -> Project:
    clean_slug = slugify(slug)
    if not clean_slug or clean_slug != slug:
        raise ApplicationError(
            f"project slug {slug!r} must be lowercase letters, digits and hyphens (try {clean_slug!r})"
        )
    if Project.objects.filter(slug=slug).exists():
        raise ApplicationError(f"a project with slug {slug!r} already exists")
    project = Project.objects.create(slug=slug, name=name or slug.replace("-", " ").title(), **fields)
    if created_by is not None and not getattr(created_by, "is_superuser", False):
        Membership.objects.create(project=project, user=created_by, role=Membership.Role.RESEARCHER)
    return project


def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ApplicationError(f"unknown role {role!r}")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


PROJECT_SETTINGS = (
    "name", "description", "kind", "list_size", "overlap", "allow_ties", "allow_both_bad", "strength_scale",
    "criteria", "rationale", "guidelines_md", "lease_minutes", "queue_order", "source",
)  # fmt: skip


@transaction.atomic
def project_update(*, project: Project, **fields: object) -> Project:
    """Change a project's settings. A new overlap moves every comparison's free slots by the difference
    (never below zero, so judgments already made stand)."""
    unknown = set(fields) - set(PROJECT_SETTINGS)
    if unknown:
        raise ApplicationError(f"unknown project settings: {', '.join(sorted(unknown))}")
    old_overlap = Project.objects.select_for_update().values_list("overlap", flat=True).get(pk=project.pk)
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    project.save()
    delta = project.overlap - old_overlap
    if delta:
        Comparison.objects.filter(project=project).update(slots_left=Greatest(F("slots_left") + delta, Value(0)))
    return project


def membership_remove(*, project: Project, user: AbstractBaseUser) -> None:
    """Remove a member. Their open leases go back to the pool; their judgments stay (they are data)."""
    from annotation.services.assignments import assignment_release_all

    with transaction.atomic():
        assignment_release_all(project=project, user=user)
        Membership.objects.filter(project=project, user=user).delete()
