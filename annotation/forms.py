from __future__ import annotations

from django import forms

from annotation.importers.formats import FORMATS


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
