"""Writes on projects and their membership."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from annotation.models import Membership, Project
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
