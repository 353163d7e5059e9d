"""The dataset card: README.md beside the files, with YAML front matter that `datasets.load_dataset(folder)` reads
(`configs` -> `data_files` per split), and the counts, filters, judges, agreement, source and licence. No Django."""

from __future__ import annotations

import json
import re
from typing import Any

from annotation.exports.options import ExportSpec

# SPDX-like names found in a free-text source field, mapped to the Hugging Face Hub's licence identifiers.
_LICENCES = [
    (re.compile(r"\bCC[- ]?BY[- ]?NC[- ]?SA[- ]?4(\.0)?\b", re.I), "cc-by-nc-sa-4.0"),
    (re.compile(r"\bCC[- ]?BY[- ]?NC[- ]?4(\.0)?\b", re.I), "cc-by-nc-4.0"),
    (re.compile(r"\bCC[- ]?BY[- ]?SA[- ]?4(\.0)?\b", re.I), "cc-by-sa-4.0"),
    (re.compile(r"\bCC[- ]?BY[- ]?4(\.0)?\b", re.I), "cc-by-4.0"),
    (re.compile(r"\bCC0\b", re.I), "cc0-1.0"),
    (re.compile(r"\bApache([- ]License)?[- ,]*(Version )?2(\.0)?\b", re.I), "apache-2.0"),
    (re.compile(r"\bMIT\b"), "mit"),
    (re.compile(r"\bBSD[- ]3\b", re.I), "bsd-3-clause"),
    (re.compile(r"\bGPL[- ]?3", re.I), "gpl-3.0"),
    (re.compile(r"\bODC[- ]BY\b", re.I), "odc-by"),
]

FORMAT_TEXT = {
    "trl-pairwise": "TRL preference rows (`prompt`, `chosen`, `rejected`), for `trl.RewardTrainer` and DPO-style "
    "trainers.",
    "listwise": "One row per judgment: the prompt, its responses best first, their ranks (1 = best, equal = tie) and "
    "scores.",
    "raw": "Every judgment with its provenance: judge and kind, source, status, time, placements (rank per response), "
    "strength, margin, criteria, rationale, duration and the order the responses were shown in.",
}


def detect_licence(source: str) -> str | None:
    """The licence a source text names, when it names exactly one that the Hub knows."""
    found = []
    for pattern, name in _LICENCES:
        if pattern.search(source) and name not in found:
            found.append(name)
            source = pattern.sub(" ", source)  # CC-BY-SA-4.0 must not also read as CC-BY-4.0
    return found[0] if len(found) == 1 else None


def left_out_lines(spec: ExportSpec, left_out: dict[str, int]) -> list[str]:
    """The card's account of the judgments the review and suspicion filters kept out of the files."""
    f = spec.filters
    lines = ["## Left out", ""]
    if f.active_only:
        lines += [
            f"- Excluded by review: {left_out.get('excluded_by_review', 0):,}",
            f"- Superseded by a correction: {left_out.get('superseded_by_correction', 0):,} (the corrections, "
            "active judgments, are exported in their place)",
        ]
    else:
        lines.append("- Excluded and superseded judgments are included, each with its status (`active_only` is off).")
    if f.max_suspicion is not None:
        lines.append(
            f"- Suspicion above {f.max_suspicion:g} (detector `{f.suspicion_detector}`): "
            f"{left_out.get('suspicion', 0):,}" + (" more, beyond those above" if f.active_only else "")
        )
    lines.append("")
    return lines


def _y(value: Any) -> str:
    """A YAML scalar: JSON strings are valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def render_card(
    *,
    project_name: str,
    project_slug: str,
    source: str,
    spec: ExportSpec,
    files: dict[str, str],
    report: dict[str, Any],
    columns: list[tuple[str, str]],
    created_at: str,
    reproduce: str,
) -> str:
    licence = spec.options.license or detect_licence(source) or "other"
    lines = ["---", f"license: {_y(licence.lower())}", f"pretty_name: {_y(f'{project_name} ({spec.format})')}"]
    lines += ["tags:", "- preference", "- rlhf", "- reward-modeling"]
    if spec.format == "trl-pairwise":
        lines.append("- trl")
    lines += ["configs:", "- config_name: default", "  data_files:"]
    for split, name in files.items():
        lines += [f"  - split: {split}", f"    path: {_y(name)}"]
    lines += ["---", ""]

    rows = report.get("rows", {})
    lines += [
        f"# {project_name}: {spec.format} export",
        "",
        f"Exported from the Preference Workbench project `{project_slug}` on {created_at}. " + FORMAT_TEXT[spec.format],
        "",
        "## Source and licence",
        "",
    ]
    if source.strip():
        lines += ["> " + line if line.strip() else ">" for line in source.strip().splitlines()]
        lines.append("")
    else:
        lines += ["The project records no source.", ""]
    if spec.options.license:
        lines += [f"Licence: `{spec.options.license}` (given at export).", ""]
    elif licence != "other":
        lines += [f"Licence: `{licence}` (as named in the project's source).", ""]
    else:
        lines += ["Licence: not stated in a form this export could read; see the source above.", ""]

    lines += ["## Contents", "", "| split | file | rows |", "|---|---|---:|"]
    for split, name in files.items():
        lines.append(f"| {split} | `{name}` | {rows.get(split, 0):,} |")
    lines += [
        "",
        f"- Judgments read (after the filters below): {report.get('judgments_read', 0):,}; "
        f"exported: {report.get('judgments_exported', 0):,}",
        f"- Prompts: {report.get('prompts', 0):,}",
        f"- Rows: {report.get('rows_total', 0):,}",
    ]
    for key, value in sorted(report.get("stats", {}).items()):
        lines.append(f"- {key.replace('_', ' ')}: {value:,}")
    split = spec.options
    if split.test_fraction > 0:
        lines.append(
            f"- Split by prompt: a prompt is in `test` when BLAKE2b(seed, prompt external id) falls below "
            f"{split.test_fraction:g} (seed {split.seed}); no prompt is in both splits."
        )
    lines.append("")

    lines += left_out_lines(spec, report.get("left_out") or {})
    lines += ["## Filters and options", ""]
    filters = spec.filters_json()
    options = spec.options_json()
    lines.append(f"- Filters: `{json.dumps(filters)}`" if filters else "- Filters: none (all active judgments)")
    lines.append(f"- Options: `{json.dumps(options)}`" if options else "- Options: defaults")
    lines += ["", "## Judges", "", "| judge | kind | judgments |", "|---|---|---:|"]
    for judge in report.get("judges", []):
        lines.append(f"| {judge['name']} | {judge['kind']} | {judge['judgments']:,} |")
    agreement = report.get("agreement", {})
    lines += ["", "## Agreement", ""]
    if agreement.get("comparisons"):
        lines += [
            f"{agreement['comparisons']:,} comparisons have two or more judgments. Mean agreement "
            f"{agreement['mean']:.3f}; {agreement['unanimous']:,} unanimous ({agreement['unanimous_share']:.1%}). "
            "Agreement of a comparison: for each pair of its responses, the share of judgments that give the most "
            "common outcome (above, below or tie), averaged over the pairs.",
            "",
        ]
    else:
        lines += ["No comparison has two or more judgments, so agreement is not defined.", ""]

    lines += ["## Columns", "", "| column | type |", "|---|---|"]
    lines += [f"| `{name}` | {kind} |" for name, kind in columns]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'ds = load_dataset("path/to/this/folder")',
    ]
    if spec.format == "trl-pairwise":
        lines += [
            "",
            "from trl import RewardConfig, RewardTrainer",
            'trainer = RewardTrainer(model="your-base-model", args=RewardConfig(output_dir="rm"), '
            'train_dataset=ds["train"])',
            "trainer.train()",
        ]
    lines += ["```", "", "## Reproduce", "", "```", reproduce, "```", ""]
    return "\n".join(lines)
