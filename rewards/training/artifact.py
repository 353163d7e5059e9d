"""Artifacts in Hugging Face format: model, tokenizer, a README.md model card and `workbench.json`.

`AutoModelForSequenceClassification.from_pretrained(path)` loads the directory as is (LoRA adapters are merged
first). `workbench.json` records how inputs were laid out (so `scoring.py` encodes exactly as training did), the
config, data fingerprint, library versions, git revision and the held-out metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .data import InputFormat

META_FILE = "workbench.json"
FORMAT_VERSION = 1


def save_artifact(
    directory: str | Path,
    *,
    model: Any,
    tokenizer: Any,
    input_format: InputFormat,
    metadata: dict[str, Any],
) -> Path:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    from .modeling import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    meta = {"format_version": FORMAT_VERSION, "input_format": input_format.to_dict(), **metadata}
    (path / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    (path / "README.md").write_text(model_card(meta))
    return path


def read_metadata(directory: str | Path) -> dict[str, Any] | None:
    file = Path(directory) / META_FILE
    return json.loads(file.read_text()) if file.exists() else None


def model_card(meta: dict[str, Any]) -> str:
    config = meta.get("config", {})
    metrics = meta.get("metrics") or {}
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [reward-model, preference-workbench]",
        "---",
        "",
        "# Reward model",
        "",
        f"Trained by Preference Workbench from `{config.get('base_model', '?')}` with the "
        f"`{config.get('loss', '?')}` loss. One output: a scalar reward; higher is better.",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "model = AutoModelForSequenceClassification.from_pretrained(PATH)",
        "tokenizer = AutoTokenizer.from_pretrained(PATH)",
    ]
    fmt = meta.get("input_format", {})
    if fmt.get("style") == "pair":
        lines += [
            "# prompt text: the conversation as 'User: ...\\n\\nAssistant: ...' turns joined by blank lines",
            f"inputs = tokenizer(prompt_text, response, truncation=True, max_length={fmt.get('max_length')}, "
            + (
                "return_tensors='pt')"
                if fmt.get("type_a") is not None
                else "return_token_type_ids=False, return_tensors='pt')"
            ),
        ]
    else:
        lines += [
            "inputs = tokenizer.apply_chat_template(messages + [{'role': 'assistant', 'content': response}],",
            "                                       return_tensors='pt', return_dict=True)",
        ]
    lines += [
        "reward = model(**inputs).logits[0, 0].item()",
        "```",
        "",
        "or `rewards.training.scoring.RewardScorer.load(PATH)`, which applies the training truncation exactly.",
        "",
        "## Held-out evaluation",
        "",
    ]
    headline = metrics.get("headline") or {}
    intervals = metrics.get("intervals") or {}
    if headline:
        lines += ["| metric | value | 95% interval |", "|---|---:|---|"]
        for name, value in headline.items():
            if value is None:
                continue
            interval = intervals.get(name)
            bounds = f"{interval['low']:.3f} – {interval['high']:.3f}" if interval else ""
            lines.append(f"| {name} | {value:.4f} | {bounds} |")
        lines += [
            "",
            f"Pairs scored: {metrics.get('n_pairs')}, tied pairs excluded: {metrics.get('n_tied_pairs')}, "
            f"prompts: {metrics.get('n_groups')} (intervals: bootstrap over prompts).",
        ]
    else:
        lines.append("No held-out evaluation was run.")
    lines += ["", "## Training data", ""]
    lines.append(f"- Data fingerprint: `{meta.get('data_fingerprint')}`")
    for key in ("n_train", "n_eval"):
        if key in meta:
            lines.append(f"- {key}: {meta[key]}")
    truncation = meta.get("truncation") or {}
    if truncation:
        lines.append(f"- Truncation (train): {json.dumps(truncation.get('train'))}")
    lines += ["", "## Configuration", "", "| key | value |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in sorted(config.items())]
    lines += ["", "## Provenance", ""]
    lines.append(f"- Git revision: `{meta.get('git_revision')}`")
    for name, version in sorted((meta.get("library_versions") or {}).items()):
        lines.append(f"- {name} {version}")
    return "\n".join(lines) + "\n"
