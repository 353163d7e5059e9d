"""Projects: list (yours), retrieve (members), create (researchers and admins), update settings (the project's
researchers and admins). Settings are checked by the set-up page's own form, so the rules are the page's rules."""

from __future__ import annotations

from typing import Any

from django.forms.utils import ErrorDict
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.serializers import CriterionSerializer, ProjectSerializer
from annotation.forms import ProjectSettingsForm
from annotation.models import Project
from annotation.selectors import project_get, project_get_for_annotating, project_list_for_user
from annotation.selectors.projects import can_create_projects
from annotation.services.projects import project_create, project_update
from workbench.exceptions import PermissionDenied

TAGS = ["projects"]
# The set-up form edits strength and criteria as text (comma lists, `key | Label | a, b` lines); these characters
# would change their meaning there.
_LEVEL_BAD = (",", "\n", "\r")
_CRITERION_BAD = ("|", "\n", "\r")


class ProjectSettingsInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    kind = serializers.ChoiceField(choices=Project.Kind.choices, required=False)
    list_size = serializers.IntegerField(required=False, min_value=2, max_value=26)
    overlap = serializers.IntegerField(required=False, min_value=1, max_value=50)
    allow_ties = serializers.BooleanField(required=False)
    allow_both_bad = serializers.BooleanField(required=False)
    strength_scale = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=5, help_text="Weakest first; [] = off."
    )
    criteria = CriterionSerializer(many=True, required=False, max_length=20)
    rationale = serializers.ChoiceField(choices=Project.Rationale.choices, required=False)
    guidelines_md = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    lease_minutes = serializers.IntegerField(required=False, min_value=1, max_value=24 * 60)
    queue_order = serializers.ChoiceField(choices=Project.QueueOrder.choices, required=False)
    source = serializers.CharField(required=False, allow_blank=True, max_length=10_000)

    def validate_strength_scale(self, levels: list[str]) -> list[str]:
        if any(bad in level for level in levels for bad in _LEVEL_BAD):
            raise serializers.ValidationError("Strength labels cannot contain commas or line breaks.")
        return levels

    def validate_criteria(self, criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for criterion in criteria:
            texts = [criterion["key"], criterion["label"], *criterion["scale"]]
            if any(bad in text for text in texts for bad in _CRITERION_BAD) or any(
                "," in option for option in criterion["scale"]
            ):
                raise serializers.ValidationError("Criteria cannot contain '|' or line breaks, nor options commas.")
        return criteria


def _form_for(project: Project | None, changes: dict[str, Any], slug: str | None = None) -> ProjectSettingsForm:
    """The set-up page's form, filled with the current settings (a new project's defaults) and the changes."""
    base = project or Project()
    data: dict[str, Any] = {name: getattr(base, name) for name in ProjectSettingsForm.Meta.fields}
    changes = dict(changes)
    strength = changes.pop("strength_scale", base.strength_scale)
    criteria = changes.pop("criteria", base.criteria)
    data.update(changes)
    if slug is not None:
        data["slug"] = slug
    data["strength_text"] = ", ".join(strength)
    data["criteria_text"] = "\n".join(
        f"{c['key']} | {c['label']} | {', '.join(map(str, c['scale']))}" for c in criteria
    )
    return ProjectSettingsForm(data, instance=project)


_FORM_TO_API = {"strength_text": "strength_scale", "criteria_text": "criteria", "__all__": "non_field_errors"}


def _form_errors(errors: ErrorDict) -> serializers.ValidationError:
    return serializers.ValidationError(
        {_FORM_TO_API.get(name, name): list(messages) for name, messages in errors.items()}
    )


class ProjectListApi(generics.ListAPIView):
    """The projects you belong to (every project for an admin), by name."""

    serializer_class = ProjectSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return project_list_for_user(user=self.request.user)

    @extend_schema(tags=TAGS, operation_id="projects_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ProjectDetailApi(APIView):
    """A project's settings: what an external annotation front end needs to render its items. Any member."""

    @extend_schema(tags=TAGS, responses=ProjectSerializer, operation_id="projects_retrieve")
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_annotating(user=request.user, slug=slug)
        return Response(ProjectSerializer(project, context={"request": request}).data)


class ProjectCreateApi(APIView):
    """Create a project (researchers anywhere, staff and admins; the creator becomes its researcher)."""

    class InputSerializer(ProjectSettingsInput):
        slug = serializers.SlugField(max_length=100, help_text="Lowercase letters, digits and hyphens; permanent.")

    @extend_schema(
        tags=TAGS, request=InputSerializer, responses={201: ProjectSerializer}, operation_id="projects_create"
    )
    def post(self, request: Request) -> Response:
        if not can_create_projects(user=request.user):
            raise PermissionDenied("Only researchers and admins create projects.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        slug = changes.pop("slug")
        form = _form_for(None, changes, slug=slug)
        if not form.is_valid():
            raise _form_errors(form.errors)
        created = project_create(slug=form.cleaned_data["slug"], created_by=request.user, **form.settings())
        project = project_get(user=request.user, slug=created.slug)  # read back with the creator's role
        return Response(ProjectSerializer(project, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ProjectUpdateApi(APIView):
    """Change some of a project's settings (its researchers and admins). A new overlap moves every comparison's
    free slots by the difference, as on the settings page."""

    class InputSerializer(ProjectSettingsInput):
        """Any subset of the settings. Not `partial=True`: that would also let a criterion lack its scale."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                field.required = False

    @extend_schema(tags=TAGS, request=InputSerializer, responses=ProjectSerializer, operation_id="projects_update")
    def patch(self, request: Request, slug: str) -> Response:
        project = project_get(user=request.user, slug=slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        form = _form_for(Project.objects.get(pk=project.pk), serializer.validated_data)
        if not form.is_valid():
            raise _form_errors(form.errors)
        project = project_update(project=project, **form.settings())
        return Response(ProjectSerializer(project, context={"request": request}).data)
