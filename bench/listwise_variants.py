#!/usr/bin/env python
"""The core alone on bench/train_vs_trl.py's listwise folds, with its settings changed one at a time.

    .venv/bin/python bench/listwise_variants.py [--batch-size 5] [--lr 1e-4] [--epochs 1] [--loss plackett_luce]
                                                [--token-types] [--seed 0] [--train-seed N] [--expand-pairs]
                                                [--sublists M] [--stages] [--both-directions]

Trains the workbench core once per fold (4 folds of the OpenAssistant groups that fit 384 tokens, split by
conversation tree, exactly as train_vs_trl.py splits them) and prints the pooled held-out ranking accuracy and
Kendall tau with their bootstrap intervals. It measures accuracy only: CPU runs are deterministic for a seed, so it
may run beside other work, and it writes nothing. The accuracy analysis in docs/benchmarks.md lists what it gave.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import train_vs_trl as bench  # noqa: E402


def sublists(core: Any, example: Any, size: int) -> list[Any]:
    """Every `size`-reply subset of a longer group, with the group's order restricted to it (ranks made dense): the
    marginal of a Plackett-Luce ordering on a subset is again Plackett-Luce, so each is an observation of the same
    model. A group of `size` replies or fewer stays whole."""
    import itertools

    n = len(example.responses)
    if n <= size:
        return [example]
    out = []
    for subset in itertools.combinations(range(n), size):
        distinct = sorted({example.ranks[i] for i in subset})
        out.append(
            core.PreferenceExample(
                example.prompt,
                tuple(example.responses[i] for i in subset),
                tuple(distinct.index(example.ranks[i]) + 1 for i in subset),
                group_id=example.group_id,
            )
        )
    return out


def stages(core: Any, example: Any) -> list[Any]:
    """A group's Plackett-Luce stages as examples of their own: stage s is the choice of the s-th best (tied) group
    among it and everything worse. The stage's chosen replies get rank 1, the rest rank 2, and the loss below counts
    only rank-1 terms, so the stages' losses sum to the group's Plackett-Luce loss (Breslow ties)."""
    distinct = sorted(set(example.ranks))
    # The worst group has a term of its own only when tied (its replies "chosen" from themselves).
    last_tied = example.ranks.count(distinct[-1]) > 1
    out = []
    for level in distinct if last_tied else distinct[:-1]:
        keep = [i for i, r in enumerate(example.ranks) if r >= level]
        out.append(
            core.PreferenceExample(
                example.prompt,
                tuple(example.responses[i] for i in keep),
                tuple(1 if example.ranks[i] == level else 2 for i in keep),
                group_id=example.group_id,
            )
        )
    return out


def first_choice_loss(scores: Any, ranks: Any, mask: Any) -> Any:
    """Plackett-Luce's first stage only: each rank-1 reply chosen from its whole list (a stage example)."""
    import torch

    log_denominator = torch.logsumexp(scores.masked_fill(~mask, float("-inf")), dim=-1, keepdim=True)
    per_item = (log_denominator - scores).masked_fill(~(mask & (ranks == 1)), 0.0)
    return per_item.sum(dim=-1).mean()


def both_directions_loss(plackett_luce: Any, scores: Any, ranks: Any, mask: Any) -> Any:
    """Plackett-Luce read both ways, averaged: best first (the usual likelihood) and worst first (the reversed
    ordering under negated scores). The usual reading spends most of a list's terms on its top; pairwise accuracy
    counts every pair alike, and the reversed reading gives the bottom of the list the same weight."""
    worst = ranks.masked_fill(~mask, 0).amax(dim=-1, keepdim=True)
    reversed_ranks = (worst + 1 - ranks).masked_fill(~mask, 0)
    return 0.5 * (plackett_luce(scores, ranks, mask) + plackett_luce(-scores, reversed_ranks, mask))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=5, help="groups a batch")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--loss", default="plackett_luce", help="plackett_luce, or bradley_terry on all pairs")
    parser.add_argument("--token-types", action="store_true", help="the tokenizer's 0/1 text-pair token types")
    parser.add_argument(
        "--seed", type=int, default=0, help="the folds and the training seed, as train_vs_trl.py --seed"
    )
    parser.add_argument(
        "--expand-pairs",
        action="store_true",
        help="train on the groups expanded to all pairs, 16 pairs a batch, Bradley-Terry: TRL's data and batches",
    )
    parser.add_argument(
        "--sublists",
        type=int,
        default=0,
        help="train Plackett-Luce on every M-reply subset of each longer group (its induced order), batched at random",
    )
    parser.add_argument(
        "--train-seed", type=int, default=None, help="the training seed alone (default: --seed); the folds stay"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="train Plackett-Luce with each group's stages as examples of their own, batched at random",
    )
    parser.add_argument(
        "--both-directions",
        action="store_true",
        help="Plackett-Luce read best-first and worst-first, averaged, on whole groups",
    )
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoTokenizer

    import rewards.training as core
    import rewards.training.losses as losses

    torch.set_num_threads(1)
    # The product's loss, kept before a variant replaces it in the module the trainer reads it from.
    plackett_luce = losses.plackett_luce_loss
    train = core.train

    def with_variant(config: Any, train_set: Any, *a: Any, **kw: Any) -> Any:
        # run_ours builds the config of train_vs_trl's runs; only the settings under study change here.
        config = config.replace(token_types=args.token_types)
        if args.expand_pairs:
            # The product's option: every untied pair an example of its own, batched at random.
            config = config.replace(loss="bradley_terry", batch_size=16, list_pairs="shuffled")
        elif args.stages:
            train_set = [part for e in train_set for part in stages(core, e)]
            losses.plackett_luce_loss = first_choice_loss
        elif args.both_directions:
            losses.plackett_luce_loss = functools.partial(both_directions_loss, plackett_luce)
        elif args.sublists:
            train_set = [part for e in train_set for part in sublists(core, e, args.sublists)]
        return train(config, train_set, *a, **kw)

    core.train = with_variant
    selection = argparse.Namespace(
        max_length=256, train_pairs=320, eval_pairs=600, seed=args.seed, list_max_length=384, list_folds=4
    )
    data = bench.select_data(selection, AutoTokenizer.from_pretrained(core.default_base_model_path()))
    params = {
        "lr": args.lr,
        "epochs": args.epochs,
        "batch_size": 16,
        "list_batch_size": args.batch_size,
        "max_length": 384,
        "seed": args.seed if args.train_seed is None else args.train_seed,
    }
    runs: dict[str, list[dict[str, Any]]] = {"ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data.json").write_text(json.dumps(data))
        for fold in range(selection.list_folds):
            spec = {
                "data": str(Path(tmp) / "data.json"),
                "base_model": core.default_base_model_path(),
                "threads": 1,
                "gpu": False,
                "params": params,
                "task": "listwise",
                "trainer": "ours",
                "round": fold,
                "fold": fold,
                "loss": args.loss,
            }
            result = {**bench.run_ours(spec), "fold": fold}
            print(
                f"fold {fold}: accuracy {result['eval']['accuracy'][0]:.3f}, {result['steps']} steps, "
                f"{result['train_s']:.1f} s",
                flush=True,
            )
            runs["ours"].append(result)
    pooled = bench.pooled_eval(runs, data["listwise"], args.seed)["ours"]
    print(
        f"{vars(args)}: ranking accuracy {bench.fmt_interval(pooled['accuracy'])} %, "
        f"Kendall tau {bench.fmt_interval(pooled['kendall_tau'], 1, 2)}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
