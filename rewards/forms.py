from __future__ import annotations

from django import forms

from annotation.exports.options import COMBINED_DETECTOR
from annotation.forms import review_filter_fields
from annotation.models import Judge, Project
from rewards.services.base_models import (
    ALLOWED_FORMS,
    DEFAULT_BASE_MODEL,
    BaseModelRefused,
    base_model_choices,
    base_model_resolve,
)
from rewards.services.examples import DataFilters
from rewards.services.runs import LAUNCH_DEFAULTS as DEFAULTS
from rewards.training import LOSS_NAMES
from workbench.exceptions import ApplicationError

LOSS_LABELS = {
    "bradley_terry": "Bradley-Terry (pairs induced from every ordering)",
    "bradley_terry_margin": "Bradley-Terry with margin from strength",
    "plackett_luce": "Plackett-Luce over full orderings (ties as groups)",
    "label_smoothed_bradley_terry": "Noise-robust: label-smoothed Bradley-Terry",
    "robust_bradley_terry": "Noise-robust: flip-rate-corrected Bradley-Terry",
}
# Form field -> TrainingConfig field, for the settings a researcher sets on the launch page.
CONFIG_FIELDS = (
    "base_model", "loss", "epochs", "batch_size", "max_length", "learning_rate", "truncation_side", "warmup_ratio",
    "weight_decay", "grad_accum", "seed", "epsilon", "lora", "precision", "eval_fraction", "max_steps", "list_pairs",
)  # fmt: skip


class TrainingRunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    projects = forms.ModelMultipleChoiceField(queryset=Project.objects.none(), widget=forms.CheckboxSelectMultiple)
    judge_kinds = forms.MultipleChoiceField(
        choices=Judge.Kind.choices,
        initial=[Judge.Kind.HUMAN, Judge.Kind.IMPORTED],
        widget=forms.CheckboxSelectMultiple,
        help_text="Active judgments of these judges are the training data.",
    )
    loss = forms.ChoiceField(
        choices=[(name, LOSS_LABELS.get(name, name)) for name in LOSS_NAMES], initial=DEFAULTS["loss"]
    )
    # A reference from the picker (shipped:..., cache:..., run:...), rendered by the template as a table of choices.
    base_model = forms.CharField(required=False, max_length=300, widget=forms.RadioSelect)
    hub_model = forms.CharField(
        required=False,
        max_length=200,
        label="Or a Hugging Face hub name (advanced)",
        help_text="e.g. sentence-transformers/all-MiniLM-L12-v2. Loaded from this host's Hugging Face cache only: "
        "the server never downloads, so download it on the host first.",
    )
    epochs = forms.FloatField(min_value=0.01, max_value=100, initial=DEFAULTS["epochs"])
    batch_size = forms.IntegerField(min_value=1, max_value=4096, initial=DEFAULTS["batch_size"])
    max_length = forms.IntegerField(min_value=16, max_value=32768, initial=DEFAULTS["max_length"])
    learning_rate = forms.FloatField(min_value=1e-8, max_value=1, initial=DEFAULTS["learning_rate"])
    truncation_side = forms.ChoiceField(
        choices=[("left", "left (keep the latest turns)"), ("right", "right")], initial=DEFAULTS["truncation_side"]
    )
    warmup_ratio = forms.FloatField(min_value=0, max_value=1, initial=DEFAULTS["warmup_ratio"])
    weight_decay = forms.FloatField(min_value=0, max_value=1, initial=DEFAULTS["weight_decay"])
    grad_accum = forms.IntegerField(
        label="Gradient accumulation", min_value=1, max_value=1024, initial=DEFAULTS["grad_accum"]
    )
    seed = forms.IntegerField(min_value=0, initial=DEFAULTS["seed"])
    epsilon = forms.FloatField(
        required=False, min_value=0, max_value=0.49, help_text="Noise-robust losses: empty = estimate from overlap."
    )
    lora = forms.BooleanField(required=False, label="LoRA (peft)", initial=DEFAULTS["lora"])
    list_pairs = forms.ChoiceField(
        required=False,  # scripts that post the form without it get the default
        label="Lists, with a pairwise loss",
        choices=[("together", "a list's pairs in one step (faster)"), ("shuffled", "each pair on its own, shuffled")],
        initial=DEFAULTS["list_pairs"],
        help_text="Shuffled is TRL's recipe for lists: each reply is encoded K - 1 times an epoch, about half as fast.",
    )
    precision = forms.ChoiceField(
        choices=[("auto", "auto (bf16 on GPU)"), ("fp32", "fp32"), ("bf16", "bf16")], initial=DEFAULTS["precision"]
    )
    eval_fraction = forms.FloatField(
        label="Held-out fraction (by prompt)", min_value=0, max_value=0.9, initial=DEFAULTS["eval_fraction"]
    )
    # Which judgments are data beyond projects and judges: rewards.services.examples.DataFilters, as exports have.
    active_only, max_suspicion, suspicion_detector = review_filter_fields(
        "Judgments a reviewer excluded or replaced by a correction stay out (the correction trains)."
    )
    max_steps = forms.IntegerField(required=False, min_value=1, help_text="Stop after this many steps (optional).")

    def __init__(self, *args: object, projects=None, user=None, **kwargs: object) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user
        self.fields["projects"].queryset = projects if projects is not None else Project.objects.none()
        self.fields["base_model"].initial = DEFAULT_BASE_MODEL
        self.base_model_choices = base_model_choices(user=user) if user is not None else []
        self.fields["base_model"].widget.choices = [(c.reference, c.label) for c in self.base_model_choices]

    def clean(self) -> dict:
        cleaned = super().clean()
        hub = (cleaned.get("hub_model") or "").strip()
        field = "hub_model" if hub else "base_model"
        reference = f"hub:{hub.removeprefix('hub:')}" if hub else (cleaned.get("base_model") or DEFAULT_BASE_MODEL)
        try:
            base_model_resolve(user=self.user, reference=reference)  # the permission check; again at launch
        except BaseModelRefused as error:
            self.add_error(field, error.message)
        cleaned["base_model"] = reference
        try:
            cleaned["data_filters"] = DataFilters.from_json(
                {
                    "active_only": cleaned.get("active_only", True),
                    "max_suspicion": cleaned.get("max_suspicion"),
                    "suspicion_detector": cleaned.get("suspicion_detector") or COMBINED_DETECTOR,
                }
            )
        except ApplicationError as error:
            self.add_error(error.extra.get("field") or None, error.message)
        return cleaned

    def selected_base_model(self) -> str:
        return str(self["base_model"].value() or DEFAULT_BASE_MODEL)

    allowed_forms = ALLOWED_FORMS

    def clean_list_pairs(self) -> str:
        return self.cleaned_data.get("list_pairs") or "together"

    def config_values(self) -> dict[str, object]:
        return {name: self.cleaned_data[name] for name in CONFIG_FIELDS}


class ProjectChoiceForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none())
    judge_kinds = forms.MultipleChoiceField(
        choices=Judge.Kind.choices, required=False, initial=[Judge.Kind.HUMAN, Judge.Kind.IMPORTED]
    )

    def __init__(self, *args: object, projects=None, **kwargs: object) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["project"].queryset = projects if projects is not None else Project.objects.none()
