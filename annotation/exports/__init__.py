"""Dataset export: TRL pairwise rows, listwise rows and raw judgments with provenance, streamed in bounded memory.

- `options`: the export request (format, file type, filters, options) and its validation;
- `source`: streaming reads of a project's judgments, grouped by prompt;
- `pairs`, `consensus`, `split`: pure functions (induced pairs, agreement, majority / Bradley-Terry, the split);
- `rows`: one row builder per format; `writers`: JSONL, Parquet, CSV; `card`: the dataset card;
- `runner.export_project`: one export start to end, used by the job service and `manage.py export_data`.
"""
