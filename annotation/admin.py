from django.contrib import admin

from annotation.models import (
    Assignment,
    Comparison,
    ComparisonResponse,
    ImportJob,
    Judge,
    Judgment,
    Membership,
    Placement,
    Project,
    Prompt,
    Response,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "overlap", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]
    autocomplete_fields = ["user", "project"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "category", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "category"]
    raw_id_fields = ["project"]
    list_select_related = ["project"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["external_id", "prompt", "generator"]
    search_fields = ["external_id", "generator"]
    raw_id_fields = ["prompt"]
    list_select_related = ["prompt__project"]


class ComparisonResponseInline(admin.TabularInline):
    model = ComparisonResponse
    extra = 0
    raw_id_fields = ["response"]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "key"]
    list_filter = ["project"]
    raw_id_fields = ["prompt", "project"]
    inlines = [ComparisonResponseInline]
    list_select_related = ["project", "prompt__project"]


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "project", "user"]
    list_filter = ["kind", "project"]
    search_fields = ["name"]
    raw_id_fields = ["user", "project"]
    list_select_related = ["project", "user"]


class PlacementInline(admin.TabularInline):
    model = Placement
    extra = 0
    raw_id_fields = ["response"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "judge", "comparison", "order_key", "source", "status", "created_at"]
    list_filter = ["status", "source", "judge__kind", "project"]
    raw_id_fields = ["comparison", "judge", "project", "import_job"]
    inlines = [PlacementInline]
    list_select_related = ["project", "judge"]


@admin.register(Placement)
class PlacementAdmin(admin.ModelAdmin):
    list_display = ["judgment", "response", "rank", "score"]
    raw_id_fields = ["judgment", "response"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "comparison", "annotator", "status", "leased_until"]
    list_filter = ["status"]
    raw_id_fields = ["comparison", "annotator", "judgment"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "original_name", "format", "status", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "created_by"]
    readonly_fields = ["report"]
