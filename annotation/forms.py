from __future__ import annotations

from itertools import count

from django import forms
from django.utils.text import slugify

from annotation.exports.options import COMBINED_DETECTOR
from annotation.importers.formats import FORMATS
from annotation.models import Judge, Membership, Project


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        help_text="JSONL, JSON list, CSV or Parquet; .gz is fine. Big files are imported by a background worker."
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("", "Detect from the columns")] + [(name, name) for name in FORMATS],
    )
    judge = forms.CharField(
        required=False,
        max_length=200,
        help_text="Judge name for rows that name none (default: <project>:imported).",
    )
    conversations = forms.FileField(
        required=False, help_text="MT-Bench only: the conversations file (conversations.jsonl.gz)."
    )
    as_pairs = forms.BooleanField(
        required=False,
        label="Import lists as their pairs",
        help_text="Each ranking of 3 or more responses becomes one pairwise judgment per pair of them (for a "
        "pairwise project). Without it, lists are refused by a pairwise project.",
    )


def free_slug(name: str) -> str:
    """A slug made from the name that no project holds yet: 'hh-rlhf', else 'hh-rlhf-2', 'hh-rlhf-3', ..."""
    base = slugify(name)[:90].strip("-") or "project"
    taken = set(Project.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    return next(slug for slug in (base if n == 1 else f"{base}-{n}" for n in count(1)) if slug not in taken)


class ProjectSettingsForm(forms.ModelForm):
    """Project set-up for researchers. The two JSON settings are edited as text a person can type:
    strength as a comma list, criteria one per line as `key | Label | option, option, ...`."""

    strength_text = forms.CharField(
        required=False,
        label="Strength scale",
        help_text="Weakest to strongest, comma-separated, e.g. 'slightly, clearly, much'. Empty = off.",
    )
    criteria_text = forms.CharField(
        required=False,
        label="Criteria",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: key | Label | option, option, ... (e.g. 'helpful | Helpfulness | A, same, B').",
    )

    class Meta:
        model = Project
        fields = [
            "name", "slug", "description", "kind", "list_size", "overlap", "allow_ties", "allow_both_bad",
            "rationale", "guidelines_md", "lease_minutes", "queue_order", "source",
        ]  # fmt: skip
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "guidelines_md": forms.Textarea(attrs={"rows": 6}),
            "source": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"guidelines_md": "Guidelines (Markdown)", "overlap": "Overlap (distinct annotators per item)"}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["slug"].required = False
        self.fields["slug"].label = "Short name for URLs (optional)"
        self.fields[
            "slug"
        ].help_text = "Lowercase letters, digits and hyphens; empty: made from the name. It cannot change later."
        if self.instance.pk:
            self.fields["slug"].disabled = True  # URLs and exports name the project by its slug
            self.fields["strength_text"].initial = ", ".join(self.instance.strength_scale)
            self.fields["criteria_text"].initial = "\n".join(
                f"{c['key']} | {c['label']} | {', '.join(map(str, c['scale']))}" for c in self.instance.criteria
            )

    def clean_strength_text(self) -> list[str]:
        levels = [level.strip() for level in self.cleaned_data["strength_text"].split(",") if level.strip()]
        if len(levels) > 5:
            raise forms.ValidationError("At most 5 strength levels (keys z x c v b).")
        if len(set(levels)) != len(levels):
            raise forms.ValidationError("Strength levels must differ.")
        return levels

    def clean_criteria_text(self) -> list[dict[str, object]]:
        criteria = []
        for number, line in enumerate(self.cleaned_data["criteria_text"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|")]
            if len(parts) != 3 or not all(parts):
                raise forms.ValidationError(f"Line {number}: write 'key | Label | option, option, ...'.")
            key, label, options = parts
            scale = [option.strip() for option in options.split(",") if option.strip()]
            if not key.isidentifier():
                raise forms.ValidationError(f"Line {number}: the key {key!r} must be letters, digits and _.")
            if len(scale) < 2:
                raise forms.ValidationError(f"Line {number}: a scale needs at least two options.")
            if key in {c["key"] for c in criteria}:
                raise forms.ValidationError(f"Line {number}: the key {key!r} is used twice.")
            criteria.append({"key": key, "label": label, "scale": scale})
        return criteria

    def clean(self) -> dict[str, object]:
        data = super().clean()
        if not self.instance.pk and not data.get("slug") and data.get("name") and "slug" not in self.errors:
            data["slug"] = free_slug(str(data["name"]))
        kind, list_size = data.get("kind"), data.get("list_size")
        if kind == Project.Kind.PAIRWISE and list_size not in (None, 2):
            self.add_error("list_size", "A pairwise project compares exactly 2 responses.")
        if data.get("lease_minutes") is not None and not 1 <= data["lease_minutes"] <= 24 * 60:
            self.add_error("lease_minutes", "Between 1 minute and 24 hours.")
        if data.get("overlap") is not None and not 1 <= data["overlap"] <= 50:
            self.add_error("overlap", "Between 1 and 50 annotators per item.")
        return data

    def settings(self) -> dict[str, object]:
        """The cleaned values as keyword arguments for project_create / project_update."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "slug"}
        data["strength_scale"] = self.cleaned_data["strength_text"]
        data["criteria"] = self.cleaned_data["criteria_text"]
        return data


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


def review_filter_fields(excluded_help: str) -> tuple[forms.BooleanField, forms.FloatField, forms.CharField]:
    """The export page's and the training launch's "which judgments" fields for review and suspicion: leave out
    excluded (and superseded) judgments, and those whose suspicion from a detector is above a threshold."""
    return (
        forms.BooleanField(required=False, initial=True, label="Leave out excluded judgments", help_text=excluded_help),
        forms.FloatField(
            required=False,
            min_value=0,
            max_value=1,
            label="Leave out judgments whose suspicion is above",
            help_text="0 to 1, from the noisy-label detectors' flags; empty keeps every judgment.",
        ),
        forms.CharField(
            required=False,
            max_length=32,
            initial=COMBINED_DETECTOR,
            label="Suspicion from detector",
            help_text="combined (all detectors together) or one detector's name.",
        ),
    )


class ExportForm(forms.Form):
    """The export page. Values go to annotation.exports.options.export_spec_validate, which also serves the API
    and the command, so every rule (and its message) lives there."""

    format = forms.ChoiceField(
        choices=[
            ("trl-pairwise", "TRL pairwise: prompt / chosen / rejected"),
            ("listwise", "Listwise: responses in order"),
            ("raw", "Raw judgments with provenance"),
        ]  # fmt: skip
    )
    file_type = forms.ChoiceField(choices=[("jsonl", "JSONL"), ("parquet", "Parquet"), ("csv", "CSV")])
    judge_kinds = forms.MultipleChoiceField(
        required=False, choices=Judge.Kind.choices, widget=forms.CheckboxSelectMultiple, help_text="Empty: every kind."
    )
    judges = forms.CharField(required=False, help_text="Judge names, comma-separated (empty: all).")
    active_only, max_suspicion, suspicion_detector = review_filter_fields(
        "Excluded by review or superseded by a correction. Off: a raw export includes them, with status."
    )
    min_agreement = forms.FloatField(
        required=False, min_value=0, max_value=1, help_text="Keep comparisons whose judges agree at least this much."
    )
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    categories = forms.CharField(required=False, help_text="Prompt categories, comma-separated (empty: all).")
    conversational = forms.BooleanField(required=False, label="Conversational (message lists, not strings)")
    pairs = forms.ChoiceField(
        choices=[("all", "all pairs"), ("best_vs_rest", "best vs rest"), ("adjacent", "adjacent")],
        help_text="How a listwise judgment becomes pairs.",
    )
    ties = forms.ChoiceField(choices=[("drop", "drop ties"), ("keep", "keep ties, flagged")])
    consensus = forms.ChoiceField(
        choices=[
            ("none", "one row per judgment"),
            ("majority", "one row per pair: majority vote"),
            ("bradley_terry", "one row per pair: Bradley-Terry across judges"),
        ]  # fmt: skip
    )
    test_fraction = forms.FloatField(min_value=0, max_value=0.9, initial=0, help_text="Held-out split by prompt.")
    seed = forms.IntegerField(initial=0, help_text="The split's seed: the same seed gives the same split.")

    def spec(self) -> tuple[str, str, dict[str, object], dict[str, object]]:
        data = self.cleaned_data
        filters: dict[str, object] = {"active_only": data["active_only"]}
        for name in ("judge_kinds", "judges", "categories"):
            if data[name]:
                filters[name] = data[name]
        if data["suspicion_detector"]:
            filters["suspicion_detector"] = data["suspicion_detector"]
        for name in ("min_agreement", "date_from", "date_to", "max_suspicion"):
            if data[name] is not None:
                filters[name] = data[name].isoformat() if hasattr(data[name], "isoformat") else data[name]
        options = {
            name: data[name] for name in ("conversational", "pairs", "ties", "consensus", "test_fraction", "seed")
        }
        return data["format"], data["file_type"], filters, options
