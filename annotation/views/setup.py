"""Researcher pages: create and edit a project, its members, and progress per annotator and per comparison."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.forms import MemberAddForm, ProjectSettingsForm
from annotation.models import Membership, Project
from annotation.selectors import (
    project_get,
    project_progress_by_annotator,
    project_progress_by_comparison,
)
from annotation.selectors.annotate import project_progress_totals
from annotation.selectors.projects import can_create_projects
from annotation.services.projects import membership_remove, membership_set, project_create, project_update
from workbench.exceptions import ApplicationError, PermissionDenied


@require_http_methods(["GET", "POST"])
@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    if not can_create_projects(user=request.user):
        raise PermissionDenied("Only researchers and admins create projects.")
    form = ProjectSettingsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(slug=form.cleaned_data["slug"], created_by=request.user, **form.settings())
        except ApplicationError as error:
            form.add_error("slug", error.message)
        else:
            messages.success(request, f"Project {project.name} created. Import data or add annotators next.")
            return redirect("annotation:project_overview", slug=project.slug)
    status = 400 if form.errors else 200
    return render(request, "annotation/project_settings.html", {"form": form, "project": None}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    form = ProjectSettingsForm(
        request.POST if request.method == "POST" else None, instance=Project.objects.get(pk=project.pk)
    )
    if request.method == "POST" and form.is_valid():
        try:
            project_update(project=project, **form.settings())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("annotation:project_settings", slug=project.slug)
    status = 400 if form.errors else 200
    return render(request, "annotation/project_settings.html", {"form": form, "project": project}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
        if user is None:
            form.add_error("username", "No user with this name.")
        else:
            membership_set(project=project, user=user, role=form.cleaned_data["role"])
            messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role']} in this project.")
            return redirect("annotation:project_members", slug=slug)
    members = Membership.objects.filter(project=project).select_related("user").order_by("role", "user__username")
    status = 400 if form.errors else 200
    context = {"project": project, "form": form, "members": members}
    return render(request, "annotation/project_members.html", context, status=status)


@require_POST
@login_required
def project_member_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    membership = Membership.objects.filter(project=project, user_id=user_id).select_related("user").first()
    if membership is None:
        messages.error(request, "That user is not a member of this project.")
    elif membership.user_id == request.user.pk:
        messages.error(request, "You cannot remove yourself; ask another researcher or an admin.")
    else:
        membership_remove(project=project, user=membership.user)
        messages.success(request, f"{membership.user.get_username()} removed; their open items went back to the pool.")
    return redirect("annotation:project_members", slug=slug)


@require_GET
@login_required
def project_progress(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    comparisons, has_more = project_progress_by_comparison(project=project, page=page)
    context = {
        "project": project,
        "totals": project_progress_totals(project=project),
        "annotators": project_progress_by_annotator(project=project),
        "comparisons": comparisons,
        "page": page,
        "has_more": has_more,
    }
    return render(request, "annotation/project_progress.html", context)
