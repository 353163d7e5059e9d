"""Noisy labels on planted flips: (a, b) the cross-fitted reward model (and cleanlab's flip count) against random and
the in-sample loss of a model trained on all the data; retraining after cleaning, on a synthetic reward; (c) the
model-free detectors on PandaLM's three annotators, against the best rule on the three labels
(bench/noise_detection_pandalm.py).

    .venv/bin/python bench/noise_detection.py                          # every part; writes their docs sections
    .venv/bin/python bench/noise_detection.py --parts retrain,pandalm  # the parts named (synthetic, hh, retrain,
                                                                       # pandalm); each writes its own section
    .venv/bin/python bench/noise_detection.py --quick                  # a smoke run on small sizes, printed only
    .venv/bin/python bench/noise_detection.py --parts retrain --pilot '{"n_train": 800}'  # a pilot, printed only

The protocol (PROTOCOL below) was fixed before the record runs and is written into the results. Everything runs on
CPU with one torch thread.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._common import ROOT, load_average, machine, write_section  # noqa: E402

HH_FILE = ROOT.parent / "shared" / "data" / "hh_rlhf_harmless_test" / "harmless-base_test.jsonl.gz"

PROTOCOL = {
    "flip_seeds": [0, 1, 2, 3, 4],  # one planted flip set per seed; intervals are over these seeds
    "synthetic": {"rates": [0.1, 0.2, 0.3], "n": 400, "folds": 5, "ensemble_seeds": 1, "model": "tiny BERT",
                  "config": {"learning_rate": 1e-3, "epochs": 3, "batch_size": 16, "max_length": 64}},
    "hh": {"rates": [0.2], "n": 160, "folds": 3, "ensemble_seeds": 1, "model": "MiniLM-L6 cut to 2 layers",
           "config": {"learning_rate": 2e-4, "epochs": 2, "batch_size": 16, "max_length": 64}},
    # HH-RLHF at a size where MiniLM learns the task: a GPU run (about 2.5 h a flip seed on this 2-core CPU). Fixed
    # before any run of it (docs/benchmarks.md, "HH-RLHF on a GPU: protocol").
    "hh_full": {"rates": [0.2], "n": 2000, "folds": 5, "ensemble_seeds": 1, "model": "MiniLM-L6 (all 6 layers)",
                "config": {"learning_rate": 1e-4, "epochs": 3, "batch_size": 16, "max_length": 256,
                           "warmup_ratio": 0.1, "truncation_side": "left"}},
    # Chosen in pilot runs on flip seeds 100 and 101 (docs/benchmarks.md, "Retraining protocol"): on the keyword
    # task flips cost either nothing or the fold models could not find them; the weighted-words reward is learnt
    # gradually with the pool size, so 20% flips cost accuracy where the fold models still rank them well.
    "retrain": {"task": "weighted words", "rate": 0.2, "n_train": 1600, "n_test": 1000, "pool_seed": 10,
                "test_seed": 11, "folds": 5, "ensemble_seeds": 1, "train_seeds": [0, 1, 2],
                "model": {"hidden_size": 32, "layers": 2},
                "config": {"learning_rate": 1e-3, "epochs": 3, "batch_size": 16, "max_length": 64}},
    # The training core's own synthetic task (the "synthetic task"): keyword preference, sized so that 20%
    # flips cost accuracy (200 pairs, 8 epochs; pilot in docs/benchmarks.md, "Retraining on the keyword task").
    "retrain_keyword": {"task": "keyword", "rate": 0.2, "n_train": 200, "n_test": 1000, "pool_seed": 10,
                        "test_seed": 11, "folds": 5, "ensemble_seeds": 1, "train_seeds": [0, 1, 2],
                        "model": {"hidden_size": 32, "layers": 2},
                        "config": {"learning_rate": 1e-3, "epochs": 8, "batch_size": 16, "max_length": 64}},
    "pandalm": {"rates": [0.1, 0.2, 0.3]},
    # PandaLM as it ships: the humans' labels and the two model judges' verdicts (GPT-3.5, PandaLM-7B), never flipped.
    "pandalm_judges": {"rates": [0.1, 0.2, 0.3], "judges": ["gpt-3.5-turbo", "pandalm-7b"]},
    "bootstrap": 10000,
}  # fmt: skip
QUICK = {"flip_seeds": [0, 1], "synthetic_n": 150, "synthetic_rates": [0.2], "hh_n": 60, "retrain_n": 300,
         "pandalm_rates": [0.2]}  # fmt: skip
PILOT_SEEDS = [100, 101]  # --pilot: flip seeds apart from the record run's
PARTS = ("synthetic", "hh", "hh_full", "retrain", "retrain_keyword", "pandalm", "pandalm_judges")
BASE = {"bootstrap_samples": 50, "num_threads": 1, "seed": 0}
# The weighted-words reward: every word of the vocabulary has a fixed weight; a response's reward is the sum.
WORD_WEIGHT_SEED = 1234


def weighted_word_examples(n: int, *, seed: int, length: int = 8):  # noqa: ANN201
    """Pairs of `length`-word responses from the training core's synthetic vocabulary; the one whose words' weights
    sum higher is better. A smooth reward with near-ties, learnt gradually (unlike the keyword rule, all or nothing)."""
    import random

    from rewards.training import PreferenceExample
    from rewards.training.synthetic import WORDS

    weight_rng = random.Random(WORD_WEIGHT_SEED)
    weights = {word: weight_rng.gauss(0, 1) for word in WORDS}
    rng = random.Random(seed)
    out = []
    for i in range(n):
        responses = [" ".join(rng.choice(WORDS) for _ in range(length)) for _ in range(2)]
        rewards = [sum(weights[w] for w in text.split()) for text in responses]
        ranks = (1, 2) if rewards[0] > rewards[1] else (2, 1)
        prompt = ({"role": "user", "content": f"say something ({seed}-{i})"},)
        out.append(
            PreferenceExample(prompt, tuple(responses), ranks, group_id=f"p{seed}-{i}", example_id=f"{seed}-{i}")
        )
    return out


def metrics(truth: np.ndarray, score: np.ndarray, k: int) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    top = np.argsort(-score, kind="stable")[: max(k, 1)]
    return {
        "auroc": float(roc_auc_score(truth, score)),
        "ap": float(average_precision_score(truth, score)),
        "p_at_k": float(truth[top].mean()),
    }


def interval(values: list[float], resamples: int) -> tuple[float, float, float]:
    """Mean over seeds and a percentile bootstrap 95% interval, resampling seeds."""
    rng = np.random.default_rng(0)
    data = np.asarray(values, dtype=float)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    return float(data.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def fmt(values: list[float], resamples: int, digits: int = 3) -> str:
    mean, low, high = interval(values, resamples)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def detection_runs(examples, config, *, rates, folds, ensemble, flip_seeds, log, base_model_path=None):  # noqa: ANN001, ANN201
    """Per rate and flip seed: cross-fitted and in-sample metrics at cleanlab's estimated flip count."""
    from rewards.training.crossfit import confident_learning, crossfit, flip_labels, in_sample_loss

    rows = []
    for rate in rates:
        for seed in flip_seeds:
            began = time.perf_counter()
            noisy, flips = flip_labels(examples, rate, seed=seed)
            result = crossfit(noisy, config, folds=folds, seeds=ensemble, base_model_path=base_model_path)
            cl = confident_learning(result)
            ids = [s.example_id for s in result.scores]
            truth = np.array([i in flips for i in ids])
            k = round((cl.flip_rate or 0.0) * len(ids))
            cross = metrics(truth, np.array([s.p_wrong for s in result.scores]), k)
            inside = in_sample_loss(noisy, config, base_model_path=base_model_path)
            base = metrics(truth, np.array([inside[i] for i in ids]), k)
            accuracy = float(np.mean([m.held_out_accuracy for m in result.models]))
            seconds = time.perf_counter() - began
            rows.append({"rate": rate, "seed": seed, "k": k, "flip_rate_estimate": cl.flip_rate, "cross": cross,
                         "in_sample": base, "fold_accuracy": accuracy, "seconds": seconds})  # fmt: skip
            log(f"  rate {rate:.0%} seed {seed}: cross AUROC {cross['auroc']:.3f}, in-sample {base['auroc']:.3f}, "
                f"est. flip rate {cl.flip_rate}, fold acc {accuracy:.3f} ({rows[-1]['seconds']:.0f} s)")  # fmt: skip
    return rows


def retrain_runs(train_pool, test, config, *, rate, folds, ensemble, train_seeds, flip_seeds, log):  # noqa: ANN001, ANN201
    """Held-out accuracy after training on clean, flipped, flipped-then-removed and flipped-then-relabelled data,
    each the mean over the same training seeds; the detector is `crossfit` on the flipped pool, k cleanlab's count."""
    import dataclasses

    from rewards.training import train
    from rewards.training.crossfit import confident_learning, crossfit, flip_labels

    def accuracy(examples) -> float:  # noqa: ANN001
        # The mean over training seeds: one seed's accuracy moves by a few points with the initialisation alone.
        values = [train(config.replace(seed=s), examples, test).metrics.accuracy.value for s in train_seeds]
        return float(np.mean(values))

    clean = accuracy(train_pool)  # depends on no flip seed: the same training seeds as every condition
    log(f"  retrain clean: {clean:.4f}")
    rows = []
    for seed in flip_seeds:
        noisy, flips = flip_labels(train_pool, rate, seed=seed)
        result = crossfit(noisy, config, folds=folds, seeds=ensemble)
        cl = confident_learning(result)
        k = round((cl.flip_rate or 0.0) * len(result.scores))
        ranked = sorted(result.scores, key=lambda s: -s.p_wrong)
        top = {s.example_id for s in ranked[:k]}
        truth = np.array([s.example_id in flips for s in ranked])
        removed = [e for e in noisy if e.example_id not in top]
        relabelled = [
            dataclasses.replace(e, ranks=tuple(max(e.ranks) + 1 - r for r in e.ranks)) if e.example_id in top else e
            for e in noisy
        ]
        row = {"seed": seed, "k": k, "caught": len(top & flips), "planted": len(flips),
               "detection": metrics(truth, np.array([s.p_wrong for s in ranked]), k), "clean": clean,
               "flipped": accuracy(noisy), "removed": accuracy(removed),
               "relabelled": accuracy(relabelled)}  # fmt: skip
        rows.append(row)
        log(f"  retrain seed {seed}: {row}")
    return rows


def recovery(rows: list[dict], key: str, resamples: int) -> tuple[float, float, float]:
    """Share of the accuracy lost to flips that cleaning wins back: (cleaned - flipped) / (clean - flipped), the
    ratio of the means over seeds, with a bootstrap over seeds."""
    rng = np.random.default_rng(0)
    gain = np.array([r[key] - r["flipped"] for r in rows])
    loss = np.array([r["clean"] - r["flipped"] for r in rows])
    index = rng.integers(0, len(rows), size=(resamples, len(rows)))
    ratios = gain[index].mean(axis=1) / np.maximum(loss[index].mean(axis=1), 1e-9)
    return (
        float(gain.mean() / max(loss.mean(), 1e-9)),
        float(np.percentile(ratios, 2.5)),
        float(np.percentile(ratios, 97.5)),
    )


def hh_examples(n: int):  # noqa: ANN201
    """The first n pairs of HH-RLHF harmless-base test (one label per pair): the shared prompt, the two last replies."""
    from rewards.training import PreferenceExample

    marker = "\n\nAssistant:"
    out = []
    with gzip.open(HH_FILE, "rt") as handle:
        for index, line in enumerate(handle):
            if len(out) == n:
                break
            row = json.loads(line)
            cut_c, cut_r = row["chosen"].rfind(marker), row["rejected"].rfind(marker)
            if row["chosen"][:cut_c] != row["rejected"][:cut_r]:
                continue  # the few rows whose transcripts diverge earlier: left out
            chosen = row["chosen"][cut_c + len(marker) :].strip()
            rejected = row["rejected"][cut_r + len(marker) :].strip()
            if chosen == rejected:
                continue
            prompt = row["chosen"][:cut_c].strip()
            out.append(PreferenceExample.pair(prompt, chosen, rejected, group_id=f"hh-{index}", example_id=str(index)))
    return out


def small_minilm(directory: Path, layers: int = 2) -> str:
    """The shipped MiniLM-L6 with only its first `layers` transformer layers (pretrained weights kept)."""
    from transformers import AutoModel, AutoTokenizer

    from rewards.training import default_base_model_path

    source = default_base_model_path()
    AutoModel.from_pretrained(source, num_hidden_layers=layers).save_pretrained(directory)
    AutoTokenizer.from_pretrained(source).save_pretrained(directory)
    return str(directory)


def summary_table(rows: list[dict], resamples: int) -> list[str]:
    lines = ["| flip rate | method | AUROC | average precision | precision at k | est. flip rate | k |",
             "|---|---|---|---|---|---|---:|"]  # fmt: skip
    for rate in sorted({r["rate"] for r in rows}):
        part = [r for r in rows if r["rate"] == rate]
        est = fmt([r["flip_rate_estimate"] or 0.0 for r in part], resamples)
        k = np.mean([r["k"] for r in part])
        for name, key in (("cross-fitted reward model", "cross"), ("in-sample loss", "in_sample")):
            cells = [fmt([r[key][m] for r in part], resamples) for m in ("auroc", "ap", "p_at_k")]
            lines.append(f"| {rate:.0%} | {name} | {' | '.join(cells)} | {est} | {k:.0f} |")
        lines.append(f"| {rate:.0%} | random | 0.500 | {rate:.3f} | {rate:.3f} | | |")
        diff = fmt([r["cross"]["auroc"] - r["in_sample"]["auroc"] for r in part], resamples)
        lines.append(f"| {rate:.0%} | cross-fitted − in-sample (AUROC) | {diff} | | | | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, printed only (a smoke run)")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    default_parts = ",".join(part for part in PARTS if part != "hh_full")  # hh_full is a GPU run: asked for by name
    parser.add_argument("--parts", default=default_parts, help=f"comma-separated, of {','.join(PARTS)}")
    parser.add_argument("--skip-hh", action="store_true", help="the same as leaving hh out of --parts")
    parser.add_argument("--pilot", metavar="JSON", help="printed only, on the pilot flip seeds, with these retrain "
                        'settings changed, e.g. \'{"n_train": 800, "ensemble_seeds": 3}\'')  # fmt: skip
    args = parser.parse_args()
    if args.pilot:
        for key in ("retrain", "retrain_keyword"):
            PROTOCOL[key].update(json.loads(args.pilot))
        args.no_doc = True
    parts = [part for part in args.parts.split(",") if part and not (args.skip_hh and part == "hh")]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}")

    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    load_before = load_average()
    seeds = PILOT_SEEDS if args.pilot else QUICK["flip_seeds"] if args.quick else PROTOCOL["flip_seeds"]

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="noise-bench-"))
    raw: dict[str, list[dict]] = {}
    sections: dict[str, list[str]] = {}
    if "synthetic" in parts or "hh" in parts:
        raw["synthetic"], raw["hh"], sections["noise_detection"] = detection_part(parts, seeds, args.quick, work, log)
    if "hh_full" in parts:
        raw["hh_full"], sections["noise_detection_hh_full"] = hh_full_part(seeds, args.quick, log)
    for part in ("retrain", "retrain_keyword"):
        if part in parts:
            raw[part], sections[f"noise_detection_{part}"] = retrain_part(seeds, args.quick, work, log, part)
    for part in ("pandalm", "pandalm_judges"):
        if part in parts:
            raw[part], sections[f"noise_detection_{part}"] = pandalm_part(
                seeds, args.quick, log, part == "pandalm_judges"
            )
    elapsed = time.perf_counter() - started
    footer = [
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}. Torch threads: 1. "
        f"Load average before / after: {load_before:.2f} / {load_average():.2f} (other work shared the machine). "
        f"Wall time of the command (all its parts): {elapsed / 60:.1f} min.",
        f"- Command: `.venv/bin/python bench/noise_detection.py --parts {','.join(parts)}`",
    ]
    (work / "rows.json").write_text(json.dumps(raw, indent=1))
    for name, lines in sections.items():
        text = "\n".join(lines + footer)
        print(text)
        if not (args.quick or args.no_doc):
            write_section(name, text)
    print(f"raw rows: {work / 'rows.json'}")


def detection_part(parts, seeds, quick, work, log):  # noqa: ANN001, ANN201
    """(a) and (b): the cross-fitted reward model against the in-sample loss."""
    from rewards.training import TrainingConfig
    from rewards.training.synthetic import keyword_examples, make_tiny_model

    p, resamples = PROTOCOL, PROTOCOL["bootstrap"]
    tiny = make_tiny_model(work / "tiny", kind="bert")
    syn, hh = p["synthetic"], p["hh"]
    syn_rows: list[dict] = []
    hh_rows: list[dict] = []
    if "synthetic" in parts:
        log("(a) synthetic task")
        syn_rows = detection_runs(
            keyword_examples(QUICK["synthetic_n"] if quick else syn["n"], seed=0),
            TrainingConfig(base_model=tiny, **syn["config"], **BASE),
            rates=QUICK["synthetic_rates"] if quick else syn["rates"], folds=syn["folds"],
            ensemble=syn["ensemble_seeds"], flip_seeds=seeds, log=log,
        )  # fmt: skip
    if "hh" in parts:
        log("(b) HH-RLHF harmless")
        small = small_minilm(work / "minilm-2")
        hh_rows = detection_runs(
            hh_examples(QUICK["hh_n"] if quick else hh["n"]),
            TrainingConfig(base_model=small, **hh["config"], **BASE), rates=hh["rates"], folds=hh["folds"],
            ensemble=hh["ensemble_seeds"], flip_seeds=seeds, log=log,
        )  # fmt: skip
    lines = ["## Noisy labels: the cross-fitted reward model on planted flips (`bench/noise_detection.py`)"]
    if syn_rows:
        lines += ["", "### (a) Synthetic task (the training core's keyword preference, a tiny random BERT)", "",
                  *summary_table(syn_rows, resamples)]  # fmt: skip
    if hh_rows:
        lines += ["", f"### (b) HH-RLHF harmless-base test, first {hh['n']} usable pairs ({hh['model']})", "",
                  *summary_table(hh_rows, resamples)]  # fmt: skip
    lines += [
        "",
        "### Protocol (fixed before the record run)",
        "",
        f"- Flip seeds {seeds}: `rewards.training.crossfit.flip_labels` reverses a random share of the judgments "
        "(the same share for every method); every interval is a percentile bootstrap over these seeds "
        f"({resamples} resamples), of the mean over seeds.",
        "- Detectors run as a user's run does: `crossfit` (K folds by the one split rule, 1 ensemble seed) and "
        "`confident_learning`; k for precision at k is cleanlab's estimated flip count (flip rate x judgments). "
        "In-sample loss: one model, same config, trained on all the judgments and scoring them. Random: AUROC 0.5, "
        "average precision and precision at k = the flip rate.",
        f"- Sizes and settings: `{json.dumps({'synthetic': syn, 'hh': hh})}`.",
        f"- HH-RLHF: a {hh['n']}-pair subset and MiniLM-L6 cut to its first 2 layers, {hh['config']['epochs']} "
        f"epochs, {hh['folds']} folds, 20% flips only: the full protocol (5 folds, 3 rates, full MiniLM) would take "
        "hours on this shared 2-core CPU (a 60-pair pilot took 2 minutes a seed).",
    ]
    return syn_rows, hh_rows, lines


def hh_full_part(seeds, quick, log):  # noqa: ANN001, ANN201
    """(b) at full size: the shipped MiniLM-L6 on 2,000 HH-RLHF pairs, on whatever device the training core picks
    (a GPU when there is one)."""
    from rewards.training import TrainingConfig, default_base_model_path

    hh, resamples = PROTOCOL["hh_full"], PROTOCOL["bootstrap"]
    log("(b) HH-RLHF harmless at full size")
    rows = detection_runs(
        hh_examples(QUICK["hh_n"] if quick else hh["n"]),
        TrainingConfig(base_model=default_base_model_path(), **hh["config"], **BASE), rates=hh["rates"],
        folds=hh["folds"], ensemble=hh["ensemble_seeds"], flip_seeds=seeds, log=log,
    )  # fmt: skip
    lines = [f"## Noisy labels: HH-RLHF harmless-base, first {hh['n']} usable pairs, {hh['model']} "
             "(`bench/noise_detection.py --parts hh_full`)", "", *summary_table(rows, resamples), "",
             f"Settings: `{json.dumps(hh)}`; flip seeds {seeds}; device: {_device()}."]  # fmt: skip
    return rows, lines


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


def retrain_part(seeds, quick, work, log, key="retrain"):  # noqa: ANN001, ANN201
    """Retraining on a synthetic task (weighted words, or the training core's keyword task): clean vs flipped vs
    flipped-then-cleaned, the same seeds throughout."""
    from rewards.training import TrainingConfig
    from rewards.training.synthetic import keyword_examples, make_tiny_model

    ret, resamples = PROTOCOL[key], PROTOCOL["bootstrap"]
    examples = keyword_examples if ret["task"] == "keyword" else weighted_word_examples
    log(f"retraining on the {ret['task']} task")
    model = make_tiny_model(work / f"tiny-{key}", kind="bert", **ret["model"])
    n_train = QUICK["retrain_n"] if quick else ret["n_train"]
    rows = retrain_runs(
        examples(n_train, seed=ret["pool_seed"]),
        examples(ret["n_test"], seed=ret["test_seed"]),
        TrainingConfig(base_model=model, **ret["config"], **BASE), rate=ret["rate"], folds=ret["folds"],
        ensemble=ret["ensemble_seeds"], train_seeds=ret["train_seeds"], flip_seeds=seeds, log=log,
    )  # fmt: skip
    task = "the training core's keyword task" if ret["task"] == "keyword" else "a synthetic reward"
    lines = [
        f"## Noisy labels: retraining after cleaning, on {task} (`bench/noise_detection.py --parts {key}`)",
        "",
        f"The protocol above, unchanged: {n_train} training pairs, {ret['n_test']} held-out, "
        f"{ret['rate']:.0%} flips, flip seeds {seeds}, training seeds {ret['train_seeds']}.",
        "",
        "| condition | held-out accuracy (mean over flip seeds, 95% interval) |",
        "|---|---|",
    ]
    for key, name in (("clean", "clean"), ("flipped", f"{ret['rate']:.0%} flipped"),
                      ("removed", "flipped, top-k removed"), ("relabelled", "flipped, top-k relabelled")):  # fmt: skip
        lines.append(f"| {name} | {fmt([r[key] for r in rows], resamples, 4)} |")
    lines.append(
        f"| lost to flips (clean − flipped) | {fmt([r['clean'] - r['flipped'] for r in rows], resamples, 4)} |"
    )
    for key, name in (("removed", "removing"), ("relabelled", "relabelling")):
        value, low, high = recovery(rows, key, resamples)
        lines.append(f"| **share of the lost accuracy won back by {name}** | **{value:.0%} [{low:.0%}, {high:.0%}]** |")
    lines += ["", "The detector on the flipped pool (cross-fitted, k = cleanlab's estimated flip count):", "",
              "| AUROC | average precision | precision at k | k (planted) |", "|---|---|---|---|",
              f"| {' | '.join(fmt([r['detection'][m] for r in rows], resamples) for m in ('auroc', 'ap', 'p_at_k'))} "
              f"| {np.mean([r['k'] for r in rows]):.0f} ({rows[0]['planted']}) |", "",
              "Per flip seed (accuracies are means over the training seeds):", "",
              "| flip seed | k | flips in top-k | clean | flipped | removed | relabelled |",
              "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['seed']} | {r['k']} | {r['caught']} | {r['clean']:.4f} | {r['flipped']:.4f} | "
                     f"{r['removed']:.4f} | {r['relabelled']:.4f} |")  # fmt: skip
    lines += ["", f"Settings: `{json.dumps({**ret, 'n_train': n_train})}`."]
    return rows, lines


def pandalm_part(seeds, quick, log, with_judges=False):  # noqa: ANN001, ANN201
    """(c): the model-free detectors on PandaLM with individual annotators' labels flipped, and the oracle; with
    `with_judges`, the two model judges that ship with it join as other judges."""
    from bench.noise_detection_pandalm import pandalm_runs, pandalm_table

    key = "pandalm_judges" if with_judges else "pandalm"
    pan, resamples = PROTOCOL[key], PROTOCOL["bootstrap"]
    rates = QUICK["pandalm_rates"] if quick else pan["rates"]
    if with_judges:
        log("(c) PandaLM's three annotators and its two model judges")
        title = "PandaLM's three annotators and two model judges, planted flips in the annotators' labels"
        size = "999 items x (3 annotators + GPT-3.5 + PandaLM-7B); only the annotators' labels are flipped and scored"
    else:
        log("(c) PandaLM's three annotators")
        title = "PandaLM's three annotators with planted flips"
        size = "999 items x 3 annotators"
    rows = pandalm_runs(rates, seeds, metrics, log, with_judges)
    lines = [
        f"## Noisy labels: {title} (`bench/noise_detection.py --parts {key}`)",
        "",
        f"{size}; flip seeds {seeds}; every interval a bootstrap over the seeds.",
        "",
        *pandalm_table(rows, lambda values: fmt(values, resamples), with_judges),
    ]
    return rows, lines


if __name__ == "__main__":
    main()
