"""django-filter filter sets of the list endpoints. Ids are bounded integers so that an absurd value is a 400,
not a database overflow."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from annotation.models import Judge, Judgment, Prompt

MAX_ID = 2**63 - 1


class IdFilter(django_filters.Filter):
    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, moved to UTC: Python accepts offsets up to 24 hours, PostgreSQL only up to 16."""

    def to_python(self, value: object) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Out of the supported range of dates.") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class PromptFilter(django_filters.FilterSet):
    external_id = django_filters.CharFilter(field_name="external_id", max_length=255, help_text="Exact prompt id.")
    category = django_filters.CharFilter(field_name="category", max_length=100)

    class Meta:
        model = Prompt
        fields = ["external_id", "category"]


class JudgmentFilter(django_filters.FilterSet):
    judge = django_filters.CharFilter(field_name="judge__name", max_length=200, help_text="Judge name (exact).")
    judge_kind = django_filters.ChoiceFilter(field_name="judge__kind", choices=Judge.Kind.choices)
    source = django_filters.ChoiceFilter(field_name="source", choices=Judgment.Source.choices)
    status = django_filters.ChoiceFilter(field_name="status", choices=Judgment.Status.choices)
    comparison = IdFilter(field_name="comparison_id", help_text="Comparison id.")
    prompt = django_filters.CharFilter(
        field_name="comparison__prompt__external_id", max_length=255, help_text="The prompt's external id (exact)."
    )
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601 date-time; judgments created at or after."
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601 date-time; judgments created before."
    )

    class Meta:
        model = Judgment
        fields = ["judge", "judge_kind", "source", "status", "comparison", "prompt", "created_after", "created_before"]
