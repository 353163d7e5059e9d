"""Inconsistency within one judge (JUDGING.md detector 4).

`cycle`: the judge's strict verdicts on one prompt's responses as a directed graph (winner -> loser). A verdict lies
on a cycle (a > b > c > a) exactly when both ends sit in one strongly connected component, and at least as many
verdicts of that component are wrong as a best linear order leaves pointing backwards. Each verdict in it gets that
share (backward / verdicts in the component): a lone 3-cycle gives each of its three verdicts 1/3. The order is by
net wins inside the component, exact for a lone cycle and an over-estimate for tangled ones.

`order_flip`: the same judge on the same task shown in different orders (different `order_key`, or for humans a
different shown side) gave different outcomes; a verdict gets the share of the judge's verdicts on that task that
disagree with it (two that differ: 0.5 each; two against one: the one gets 2/3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from annotation.analysis.noise.grouping import suspicions, task_index
from annotation.analysis.noise.records import A_WINS, B_WINS, NoiseInput
from annotation.analysis.noise.suspicion import Suspicion


def cycles(records: NoiseInput) -> list[Suspicion]:
    strict = np.flatnonzero(records.outcome != 0)
    if not len(strict):
        return []
    a_wins = records.outcome[strict] == A_WINS
    winner = np.where(a_wins, records.response_a[strict], records.response_b[strict])
    loser = np.where(a_wins, records.response_b[strict], records.response_a[strict])
    # One node per (judge, response): components never cross judges, and responses belong to one prompt.
    judge = records.judge_id[strict]
    pairs = pd.DataFrame({"j": np.concatenate([judge, judge]), "r": np.concatenate([winner, loser])})
    codes = pairs.groupby(["j", "r"], sort=False).ngroup().to_numpy(dtype=np.int64)
    n_nodes = int(codes.max()) + 1
    w, lo = codes[: len(strict)], codes[len(strict) :]
    graph = coo_matrix((np.ones(len(strict)), (w, lo)), shape=(n_nodes, n_nodes)).tocsr()
    _, component = connected_components(graph, directed=True, connection="strong")
    size = np.bincount(component, minlength=n_nodes)
    inside = (component[w] == component[lo]) & (size[component[w]] >= 2)
    if not inside.any():
        return []
    # A linear order per component by net wins inside it (ties by node id); backward edges estimate the fewest
    # verdicts that must be wrong.
    net = np.bincount(w[inside], minlength=n_nodes) - np.bincount(lo[inside], minlength=n_nodes)
    order = np.lexsort([np.arange(n_nodes), -net, component])
    position = np.empty(n_nodes, dtype=np.int64)
    position[order] = np.arange(n_nodes)
    backward = inside & (position[w] > position[lo])
    comp_edges = np.bincount(component[w[inside]], minlength=n_nodes)
    comp_backward = np.bincount(component[w[backward]], minlength=n_nodes)
    score = np.zeros(len(records))
    mask = np.zeros(len(records), dtype=bool)
    rows = strict[inside]
    comp = component[w[inside]]
    score[rows] = np.maximum(comp_backward[comp], 1) / comp_edges[comp]
    mask[rows] = True
    responses = np.zeros(len(records), dtype=np.int64)
    responses[rows] = size[comp]
    edges = np.zeros(len(records), dtype=np.int64)
    edges[rows] = comp_edges[comp]

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        sizes, n_edges = responses[rows].tolist(), edges[rows].tolist()
        wrong = np.round(score[rows] * edges[rows]).astype(np.int64).tolist()
        reasons = [
            f"in a preference cycle of this judge on one prompt ({r} responses, {e} verdicts); "
            f"about {w} of them must be wrong"
            for r, e, w in zip(sizes, n_edges, wrong, strict=True)
        ]
        return reasons, [{"responses": r, "verdicts": e} for r, e in zip(sizes, n_edges, strict=True)]

    return suspicions(records, score, mask, describe)


def order_flips(records: NoiseInput) -> list[Suspicion]:
    if not len(records):
        return []
    task, _ = task_index(records)
    # The shown order: the explicit key for model judges, the shown side for people (who have key 0).
    variant = np.where(records.order_key != 0, records.order_key, -2 - records.a_shown_first.astype(np.int64))
    frame = pd.DataFrame({"t": task, "j": records.judge_id, "v": variant, "o": records.outcome})
    group = frame.groupby(["t", "j"], sort=False)
    n_variants = group["v"].transform("nunique").to_numpy()
    n_outcomes = group["o"].transform("nunique").to_numpy()
    size = group["o"].transform("size").to_numpy()
    same = frame.groupby(["t", "j", "o"], sort=False)["o"].transform("size").to_numpy()
    unknown = variant == -2 - (-1)  # a human verdict whose shown side is unknown says nothing about order
    candidate = (n_variants >= 2) & (n_outcomes >= 2) & ~unknown
    score = np.where(candidate, (size - same) / np.maximum(size, 1), 0.0)
    names = {A_WINS: "A", B_WINS: "B", 0: "tie"}

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        n, other = size[rows].tolist(), (size[rows] - same[rows]).tolist()
        said = [names[o] for o in records.outcome[rows].tolist()]
        reasons = [
            f"this judge gave {d} of {t} verdicts on this pair other than {o} when the shown order changed"
            for d, t, o in zip(other, n, said, strict=True)
        ]
        return reasons, [{"verdicts": t, "disagreeing": d} for t, d in zip(n, other, strict=True)]

    return suspicions(records, score, candidate, describe)
