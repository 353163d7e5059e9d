"""Cut the small demo subsets in demo_data/ from ../shared/data (run once; the output is committed).

Deterministic: the first N records of each source, so the subsets can be re-derived and checked.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
OUT = Path(__file__).resolve().parent.parent / "demo_data"


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def synthetic_both_orders(items: list[dict]) -> list[dict]:
    """A SYNTHETIC LLM judge asked in both shown orders (no public file has one on PandaLM), in the generic verdicts
    format: in each order it gives the human majority's label with probability 0.6, else it picks whichever response
    was shown first; seeded. It gives the demo's Judges page position-bias and both-order numbers to show."""
    import random

    rng = random.Random(20261207)
    rows = []
    for item in items:
        if not all(isinstance(item[key], str) for key in ("response1", "response2")):
            continue
        votes = [item["annotator1"], item["annotator2"], item["annotator3"]]
        majority = max(set(votes), key=votes.count) if max(votes.count(v) for v in votes) >= 2 else 0
        truth = {0: "tie", 1: "response1", 2: "response2"}[majority]
        instruction, extra = item["instruction"], item.get("input") or ""
        models = (item.get("cmp_key") or "_").split("_", 1)
        for shown in (["response1", "response2"], ["response2", "response1"]):
            rows.append(
                {
                    "prompt": f"{instruction}\n\n{extra}" if extra.strip() else instruction,
                    "prompt_id": str(item["idx"]),
                    "category": item.get("motivation_app") or "",
                    "responses": [
                        {"id": "response1", "text": item["response1"], "generator": models[0]},
                        {"id": "response2", "text": item["response2"], "generator": models[-1]},
                    ],
                    "judge": "demo:synthetic-llm-judge",
                    "judge_kind": "llm",
                    "shown_order": shown,
                    "winner": truth if rng.random() < 0.6 else shown[0],
                }
            )
    return rows


def planted_noise(items: list[dict]) -> tuple[list[dict], list[dict]]:
    """PandaLM's three annotators with PLANTED noise, for the Noisy labels demo (generic verdicts format), and the list
    of what was planted: 20% of annotator2's decisive labels flipped, and a fourth, synthetic annotator
    ("fast-clicker") who picks whichever response was shown first in about two seconds. Every judgment gets a shown
    order and a time (the three annotators take a log-normal ~25 s); seeded."""
    import math
    import random

    rng = random.Random(20261208)
    rows, planted = [], []
    for item in items:
        if not all(isinstance(item[key], str) for key in ("response1", "response2")):
            continue
        instruction, extra = item["instruction"], item.get("input") or ""
        models = (item.get("cmp_key") or "_").split("_", 1)
        base = {
            "prompt": f"{instruction}\n\n{extra}" if extra.strip() else instruction,
            "prompt_id": str(item["idx"]),
            "category": item.get("motivation_app") or "",
            "responses": [
                {"id": "response1", "text": item["response1"], "generator": models[0]},
                {"id": "response2", "text": item["response2"], "generator": models[-1]},
            ],
            "judge_kind": "human",
        }
        for judge in ("annotator1", "annotator2", "annotator3", "fast-clicker"):
            shown = ["response1", "response2"] if rng.random() < 0.5 else ["response2", "response1"]
            if judge == "fast-clicker":
                winner, seconds = shown[0], rng.uniform(1.0, 3.0)
                planted.append({"prompt_id": base["prompt_id"], "judge": judge, "why": "picks the first shown, fast"})
            else:
                winner = {0: "tie", 1: "response1", 2: "response2"}[item[judge]]
                seconds = math.exp(rng.gauss(math.log(25), 0.5))
                if judge == "annotator2" and winner != "tie" and rng.random() < 0.2:
                    winner = "response2" if winner == "response1" else "response1"
                    planted.append({"prompt_id": base["prompt_id"], "judge": judge, "why": "label flipped"})
            rows.append(
                base | {"judge": judge, "winner": winner, "shown_order": shown, "latency_ms": round(1000 * seconds)}
            )
    return rows, planted


def main() -> None:
    OUT.mkdir(exist_ok=True)
    # Pairwise: HH-RLHF harmless-base test, first 300 pairs.
    (OUT / "hh_rlhf").mkdir(exist_ok=True)
    with gzip.open(SHARED / "hh_rlhf_harmless_test/harmless-base_test.jsonl.gz", "rt") as stream:
        rows = [json.loads(line) for _, line in zip(range(300), stream, strict=False)]
    write_jsonl_gz(OUT / "hh_rlhf/harmless-base_test.first300.jsonl.gz", rows)
    shutil.copy(SHARED / "hh_rlhf_harmless_test/LICENSE", OUT / "hh_rlhf/LICENSE")

    # Listwise: OpenAssistant, first 30 trees.
    (OUT / "oasst").mkdir(exist_ok=True)
    with gzip.open(SHARED / "oasst_en100/en_100_tree.jsonl.gz", "rt") as stream:
        trees = [json.loads(line) for _, line in zip(range(30), stream, strict=False)]
    write_jsonl_gz(OUT / "oasst/en_tree.first30.jsonl.gz", trees)
    shutil.copy(SHARED / "oasst_en100/LICENSE", OUT / "oasst/LICENSE")

    # Multi-annotator: PandaLM, first 200 items with the three annotators and both model judges.
    (OUT / "pandalm").mkdir(exist_ok=True)
    for name in ("testset-v1.json", "gpt-3.5-turbo-testset-v1.json", "pandalm-7b-testset-v1.json"):
        data = json.loads((SHARED / "pandalm" / name).read_text())
        (OUT / "pandalm" / name.replace(".json", ".first200.json")).write_text(
            json.dumps(data[:200], ensure_ascii=False, indent=0)
        )
    shutil.copy(SHARED / "pandalm/LICENSE", OUT / "pandalm/LICENSE")
    items = json.loads((SHARED / "pandalm" / "testset-v1.json").read_text())[:200]
    write_jsonl_gz(OUT / "pandalm/synthetic-judge-both-orders.first200.jsonl.gz", synthetic_both_orders(items))

    # Planted noise for the Noisy labels page: PandaLM's annotators, one with flipped labels, plus a fast clicker.
    (OUT / "noisy").mkdir(exist_ok=True)
    rows, planted = planted_noise(items)
    write_jsonl_gz(OUT / "noisy/pandalm-planted-noise.first200.jsonl.gz", rows)
    (OUT / "noisy/planted.json").write_text(json.dumps(planted, indent=0) + "\n")
    shutil.copy(SHARED / "pandalm/LICENSE", OUT / "noisy/LICENSE")

    # Multi-annotator with an LLM judge: MT-Bench, the first 10 questions.
    (OUT / "mtbench").mkdir(exist_ok=True)
    source = SHARED / "mtbench_human_partial"
    votes = [json.loads(line) for line in (source / "human_votes.jsonl").read_text().splitlines() if line.strip()]
    questions = sorted({v["question_id"] for v in votes})[:10]
    keep = set(questions)
    write_jsonl = lambda path, rows: path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))  # noqa: E731
    write_jsonl(OUT / "mtbench/human_votes.jsonl", [v for v in votes if v["question_id"] in keep])
    verdicts = [
        json.loads(line) for line in (source / "gpt4_pair_verdicts.jsonl").read_text().splitlines() if line.strip()
    ]
    write_jsonl(OUT / "mtbench/gpt4_pair_verdicts.jsonl", [v for v in verdicts if v["question_id"] in keep])
    with gzip.open(source / "conversations.jsonl.gz", "rt") as stream:
        conversations = [json.loads(line) for line in stream if line.strip()]
    write_jsonl_gz(OUT / "mtbench/conversations.jsonl.gz", [c for c in conversations if c["question_id"] in keep])
    shutil.copy(source / "LICENSE_repo_MIT", OUT / "mtbench/LICENSE")


if __name__ == "__main__":
    main()
