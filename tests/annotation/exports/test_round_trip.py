"""Round trips on the shared data sets: export -> datasets.load_dataset -> the columns and types TRL accepts (checked
with TRL's own dataset utilities) -> re-import into a new project -> the same judgments."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import Value
from trl.data_utils import is_conversational, maybe_apply_chat_template

from annotation.models import Judge, Judgment, Project, Response
from tests.annotation.exports.conftest import export_data, import_data, orderings

pytestmark = pytest.mark.django_db

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def _nonempty_human(project: Project):  # noqa: ANN202
    empty = Response.objects.filter(prompt__project=project, text__regex=r"^\s*$").values("prompt_id")
    return Judgment.objects.filter(project=project, judge__kind=Judge.Kind.HUMAN).exclude(
        comparison__prompt_id__in=empty
    )


def test_pandalm_trl_pairwise_round_trip(pandalm: Project, tmp_path: Path, load_dataset) -> None:  # noqa: ANN001
    path = export_data("pandalm", tmp_path / "pandalm.jsonl", "trl-pairwise", "--judge-kinds", "human", "--drop-empty")
    dataset = load_dataset(path)
    assert dataset.features["prompt"] == Value("string")
    assert dataset.features["chosen"] == Value("string") and dataset.features["rejected"] == Value("string")
    assert dataset.features["margin"] == Value("float64")
    first = dataset[0]
    assert not is_conversational(first)
    assert maybe_apply_chat_template(first, None) == first  # type: ignore[arg-type]  # strings pass as they are
    kept = _nonempty_human(pandalm)
    expected = {
        key: ordering
        for key, ordering in orderings(pandalm, key="text", judgments=kept).items()
        if len(ordering) == 2  # ties are dropped by default
    }
    assert len(dataset) == len(expected) == 2515  # 2,997 less 326 ties and 156 with an empty response
    assert set(Counter(dataset["judge"])) == {"pandalm:annotator1", "pandalm:annotator2", "pandalm:annotator3"}

    import_data(path, "pandalm-rt", "--format", "trl-pairwise")
    again = Project.objects.get(slug="pandalm-rt")
    assert orderings(again, key="text", strip_prefix="pandalm-rt:") == expected
    assert set(Judge.objects.filter(judgments__project=again).values_list("kind", flat=True)) == {"human"}


def test_pandalm_listwise_round_trip_keeps_ties(pandalm: Project, tmp_path: Path, load_dataset) -> None:  # noqa: ANN001
    path = export_data("pandalm", tmp_path / "pandalm.parquet", "listwise", "--judge-kinds", "human", "--drop-empty")
    dataset = load_dataset(path)
    assert dataset.features["ranks"].feature == Value("int64")
    tied = sum(1 for ranks in dataset["ranks"] if ranks == [1, 1])
    expected = orderings(pandalm, judgments=_nonempty_human(pandalm))
    assert tied == sum(1 for o in expected.values() if len(o) == 1) > 0
    assert len(dataset) == len(expected)
    # The listwise importer takes a judge column as the judge's name, so restore into a fresh database: the
    # original project and its judges go first, and the file brings them back.
    pandalm.delete()
    Judge.objects.filter(name__startswith="pandalm:").delete()
    import_data(path, "pandalm-rt", "--format", "listwise")
    assert orderings(Project.objects.get(slug="pandalm-rt")) == expected


def test_pandalm_majority_consensus_reproduces_the_published_label_counts(pandalm: Project, tmp_path: Path) -> None:
    path = export_data(
        "pandalm",
        tmp_path / "consensus.jsonl",
        "trl-pairwise",
        "--judge-kinds",
        "human",
        "--consensus",
        "majority",
        "--ties",
        "keep",
    )
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 999  # one row per prompt and pair
    labels = Counter("tie" if r["tie"] else r["chosen_id"] for r in rows)
    assert labels == {"tie": 105, "response1": 422, "response2": 472}  # PandaLM's majority label counts
    assert Counter(r["votes_chosen"] + r["votes_rejected"] + r["votes_tie"] for r in rows) == {3: 999}
    assert sum(1 for r in rows if 3 in (r["votes_chosen"], r["votes_tie"])) == 879  # unanimous items


def test_oasst_listwise_round_trip(oasst: Project, tmp_path: Path, load_dataset) -> None:  # noqa: ANN001
    path = export_data("oasst", tmp_path / "oasst.jsonl", "listwise", "--conversational")
    dataset = load_dataset(path)
    assert len(dataset) == 212
    assert is_conversational({"prompt": dataset[0]["prompt"]})
    assert Counter(len(r) for r in dataset["responses"]) == {3: 117, 2: 57, 4: 27, 6: 6, 5: 3, 9: 1, 8: 1}
    expected = orderings(oasst)
    import_data(path, "oasst-rt", "--format", "listwise")
    again = Project.objects.get(slug="oasst-rt")
    assert orderings(again) == expected
    assert list(again.prompts.order_by("external_id").values_list("messages", flat=True)) == list(
        oasst.prompts.order_by("external_id").values_list("messages", flat=True)
    )


@pytest.mark.parametrize("mode", ["all", "best_vs_rest", "adjacent"])
def test_oasst_lists_expand_to_pairs(oasst: Project, tmp_path: Path, mode: str) -> None:
    path = export_data("oasst", tmp_path / f"{mode}.jsonl", "trl-pairwise", "--pairs", mode, "--ties", "keep")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    expected = 0
    for ordering in orderings(oasst).values():
        sizes = [len(group) for group in ordering]
        if mode == "all":
            expected += sum(sizes) * (sum(sizes) - 1) // 2
        elif mode == "best_vs_rest":
            expected += sizes[0] * (sizes[0] - 1) // 2 + sizes[0] * (sum(sizes) - sizes[0])
        else:
            expected += sum(n * (n - 1) // 2 for n in sizes) + sum(
                a * b for a, b in zip(sizes, sizes[1:], strict=False)
            )
    assert len(rows) == expected
    assert all(r["margin"] == 0.0 for r in rows if r["tie"])
    ranks = {}
    for (_judge, prompt, _responses), ordering in orderings(oasst).items():
        for rank, group in enumerate(ordering):
            ranks.update({(prompt, rid): rank for rid in group})
    for row in rows:
        better, worse = ranks[(row["prompt_id"], row["chosen_id"])], ranks[(row["prompt_id"], row["rejected_id"])]
        assert better == worse if row["tie"] else better < worse
        if mode == "adjacent" and not row["tie"]:
            assert worse == better + 1


def test_hh_conversational_round_trip_is_honest_about_diverging_transcripts(
    hh: Project,
    tmp_path: Path,
    load_dataset,
    minilm_path: str,  # noqa: ANN001
) -> None:
    from transformers import AutoTokenizer

    folder = export_data("hh", tmp_path / "hh", "trl-pairwise", "--conversational", "--test-fraction", "0.2")
    dataset = load_dataset(folder)
    assert set(dataset) == {"train", "test"}
    assert len(dataset["train"]) + len(dataset["test"]) == 2312
    assert not set(dataset["train"]["prompt_id"]) & set(dataset["test"]["prompt_id"])
    example = dataset["train"][0]
    assert is_conversational(example)
    assert dataset["train"].features["chosen"].feature["role"] == Value("string")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.chat_template = CHAT_TEMPLATE
    text = maybe_apply_chat_template({k: example[k] for k in ("prompt", "chosen", "rejected")}, tokenizer)
    assert text["prompt"].endswith("assistant:") and isinstance(text["chosen"], str)

    # The five rows whose transcripts diverge before the last turn: prompt + chosen is the judged transcript.
    diverging = {
        r.external_id: r.conversation for r in Response.objects.filter(prompt__project=hh).exclude(conversation=None)
    }
    assert len(diverging) == 10
    rows = [row for split in ("train", "test") for row in dataset[split]]
    seen = 0
    for row in rows:
        for side in ("chosen", "rejected"):
            if row[f"{side}_id"] in diverging:
                assert row["prompt"] + row[side] == diverging[row[f"{side}_id"]]
                seen += 1
    assert seen == 10

    # Responses compared by text: where one side of a diverging pair continues the shared turns with a single
    # message, the TRL importer stores it without a conversation and hashes its id from the text alone.
    expected = orderings(hh, key="text")
    for split in ("train", "test"):
        import_data(folder / f"{split}.jsonl", "hh-rt", "--format", "trl-pairwise")
    again = Project.objects.get(slug="hh-rt")
    assert orderings(again, key="text", strip_prefix="hh-rt:") == expected
    assert Response.objects.filter(prompt__project=again).exclude(conversation=None).count() == 5


def test_hh_plain_strings_render_diverging_transcripts_whole(hh: Project, tmp_path: Path) -> None:
    path = export_data("hh", tmp_path / "hh.jsonl", "trl-pairwise")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_id = {(r["prompt_id"], r["chosen_id"]): r for r in rows}
    response = Response.objects.filter(prompt__project=hh).exclude(conversation=None).first()
    row = next(r for (prompt, chosen), r in by_id.items() if response.external_id in (chosen, r["rejected_id"]))
    side = "chosen" if row["chosen_id"] == response.external_id else "rejected"
    labels = {"user": "Human", "assistant": "Assistant"}
    # The shared turns as a transcript ending on the assistant's cue, then this side's turns: the whole transcript.
    assert row["prompt"].endswith("\n\nAssistant:")
    assert row["prompt"] + row[side] == "".join(
        f"\n\n{labels[m['role']]}: {m['content']}" for m in response.conversation
    )
    # A one-turn prompt stays plain text.
    single = next(r for r in rows if not r["prompt"].startswith("\n\nHuman:"))
    assert not single["chosen"].startswith(" ")


def test_raw_keeps_provenance_on_every_row(pandalm: Project, tmp_path: Path, load_dataset) -> None:  # noqa: ANN001
    excluded = Judgment.objects.filter(project=pandalm).order_by("id").first()
    Judgment.objects.filter(pk=excluded.pk).update(
        status=Judgment.Status.EXCLUDED, rationale="flagged", duration_ms=1234
    )
    active = export_data("pandalm", tmp_path / "raw.parquet", "raw")
    everything = export_data("pandalm", tmp_path / "all.jsonl", "raw", "--include-excluded")
    dataset = load_dataset(active)
    assert len(dataset) == 2996 and excluded.pk not in dataset["judgment_id"]
    rows = {r["judgment_id"]: r for r in map(json.loads, everything.read_text().splitlines())}
    assert len(rows) == 2997
    row = rows[excluded.pk]
    assert row["status"] == "excluded" and row["rationale"] == "flagged" and row["duration_ms"] == 1234
    assert row["judge"].startswith("pandalm:annotator") and row["judge_kind"] == "human"
    assert row["source"] == "import" and row["project"] == "pandalm" and row["created_at"].endswith("+00:00")
    assert row["metadata"] == {"label": excluded.metadata["label"]}
    assert {p["response_id"] for p in row["placements"]} == {"response1", "response2"}
    assert all(set(p) >= {"rank", "score", "text", "generator"} for p in row["placements"])
    ranks = {p["response_id"]: p["rank"] for p in row["placements"]}
    label = excluded.metadata["label"]
    assert {0: ranks["response1"] == ranks["response2"], 1: ranks["response1"] < ranks["response2"]}.get(
        label, ranks["response2"] < ranks["response1"]
    )
    assert Counter(r["judge_kind"] for r in rows.values()) == {"human": 2997}
