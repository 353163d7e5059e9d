"""The judge comparison end to end: real data through import_data and judges_report (the published PandaLM figures,
the judge files' accuracy computed directly from the files), the page and its disagreement list for every kind of
visitor, the API, untrusted names escaped, undefined numbers as a dash with the reason, and staleness."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from annotation.models import JudgeReport, Judgment, Membership, Project
from annotation.services.review import judgment_exclude
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _import(path: Path, project: str, *extra: str) -> None:
    call_command("import_data", str(path), "--project", project, *extra, stdout=StringIO())


def _report(project: str, *extra: str) -> dict:
    out = StringIO()
    call_command("judges_report", "--project", project, "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def pandalm(shared_data: Path) -> Project:
    folder = shared_data / "pandalm"
    _import(folder / "testset-v1.json", "pandalm", "--create-project")
    _import(folder / "gpt-3.5-turbo-testset-v1.json", "pandalm")
    _import(folder / "pandalm-7b-testset-v1.json", "pandalm")
    return Project.objects.get(slug="pandalm")


def _majority(labels: list[int]) -> int | None:
    top = Counter(labels).most_common()
    return top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else None  # None: no strict majority (1-1-1)


def test_pandalm_through_import_and_the_command_gives_the_published_figures(
    pandalm: Project, shared_data: Path
) -> None:
    data = _report("pandalm")
    report = data["judges_report"]
    matrix = report["matrix"]
    index = {name: i for i, name in enumerate(matrix["judges"])}

    def kappa(a: str, b: str) -> float:
        return round(matrix["cohen_kappa"][index[f"pandalm:{a}"]][index[f"pandalm:{b}"]]["value"], 2)

    assert (
        kappa("annotator1", "annotator2"),
        kappa("annotator1", "annotator3"),
        kappa("annotator2", "annotator3"),
    ) == (
        0.85,
        0.88,
        0.86,
    )
    # The human majority's labels: tie / response1 / response2 = 105 / 422 / 472 (response1 is the canonical a).
    assert data["reference_labels"] == {"T": 105, "A": 422, "B": 472}

    rows = json.loads((shared_data / "pandalm" / "testset-v1.json").read_text())
    majority = {r["idx"]: _majority([r["annotator1"], r["annotator2"], r["annotator3"]]) for r in rows}
    files = {
        "pandalm:gpt-3.5-turbo": ("gpt-3.5-turbo-testset-v1.json", "gpt_result", {"1": 1, "2": 2, "Tie": 0}),
        "pandalm:pandalm-7b": ("pandalm-7b-testset-v1.json", "pandalm_result", {0: 0, 1: 1, 2: 2}),
    }
    by_name = {row["name"]: row for row in report["judges"]}
    for judge, (name, key, coding) in files.items():
        verdicts = {r["idx"]: coding.get(r[key]) for r in json.loads((shared_data / "pandalm" / name).read_text())}
        # Accuracy without ties, directly from the files: items where neither the judge nor the majority is a tie.
        pairs = [(verdicts.get(i), m) for i, m in majority.items() if m in (1, 2) and verdicts.get(i) in (1, 2)]
        direct = sum(v == m for v, m in pairs) / len(pairs)
        row = by_name[judge]
        assert row["accuracy"]["n"] == len(pairs)
        assert row["accuracy"]["value"] == pytest.approx(direct, abs=1e-12)
        low, high = row["accuracy"]["interval"]
        assert low < direct < high
        parsed = sum(v is not None for v in verdicts.values())
        assert row["coverage"]["value"] == pytest.approx(parsed / len(majority), abs=1e-12)


def _world(project: Project) -> dict[str, Client]:
    other = Project.objects.create(slug="elsewhere", name="Elsewhere")
    users = {
        "researcher": MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user,
        "annotator": MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user,
        "outsider": MembershipFactory(project=other, role=Membership.Role.RESEARCHER).user,
        "admin": UserFactory(is_superuser=True, is_staff=True),
    }
    clients = {"anonymous": Client()}
    for who, user in users.items():
        clients[who] = Client()
        clients[who].force_login(user)
    return clients


def _verdict_file(tmp_path: Path, judge: str = "<img src=x onerror=alert(1)>") -> Path:
    """Two humans and an LLM judge asked in both orders, which always picks the first shown response."""
    lines = []
    for i in range(40):
        responses = [
            {"id": f"r{i}a", "text": "short", "generator": "m-short"},
            {"id": f"r{i}b", "text": "a much longer answer " * 4, "generator": "m-long"},
        ]
        base = {"prompt": f"question {i}", "prompt_id": f"q{i}", "responses": responses, "category": f"c{i % 2}"}
        truth = "b" if i % 4 else "a"
        for human in ("ann1", "ann2"):
            lines.append(base | {"judge": human, "judge_kind": "human", "winner": truth})
        for shown in ([f"r{i}a", f"r{i}b"], [f"r{i}b", f"r{i}a"]):
            first = "a" if shown[0].endswith("a") else "b"
            lines.append(base | {"judge": judge, "judge_kind": "llm", "winner": first, "shown_order": shown})
    path = tmp_path / "verdicts.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


@pytest.fixture
def verdicts(tmp_path: Path) -> Project:
    _import(_verdict_file(tmp_path), "v", "--create-project")
    return Project.objects.get(slug="v")


def test_the_page_for_every_visitor_escapes_names_and_links_to_disagreements(verdicts: Project) -> None:
    clients = _world(verdicts)
    url = reverse("annotation:judges", args=["v"])
    assert clients["anonymous"].get(url).status_code == 302
    assert clients["annotator"].get(url).status_code in (403, 404)
    assert clients["outsider"].get(url).status_code in (403, 404)
    for who in ("researcher", "admin"):
        page = clients[who].get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "Judges against human-majority" in html
        assert "Position bias" in html and "Bradley–Terry ratings" in html
    job = JudgeReport.objects.get(project=verdicts)
    row = next(r for r in job.report["judges_report"]["judges"] if r["kind"] == "llm")
    # Always the first shown: prefers first 1.0, never consistent across orders, right in one order of each item.
    assert row["prefers_first"]["value"] == 1.0
    assert row["position_consistency"]["value"] == 0.0
    assert row["correct_both_orders"]["value"] == 0.0
    assert row["accuracy_both_orders"]["value"] == 0.5
    # Undefined numbers: None with the reason, never 0 (no judge gave scores here).
    assert row["score_accuracy"]["value"] is None and row["score_accuracy"]["reason"]
    assert "category=c0" in html  # a per-category number links to that category's disagreements
    link = reverse("annotation:judges_disagreements", args=["v"])
    by_category = clients["researcher"].get(link, {"judge": row["name"], "other": "human-majority", "category": "c1"})
    assert "20 comparisons in category c1" in by_category.content.decode()
    listing = clients["researcher"].get(link, {"judge": row["name"], "other": "human-majority"})
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "40 comparisons" in text  # a split over the two orders is a tie, never the majority's side
    assert "<img src=x onerror" not in text
    assert clients["annotator"].get(link, {"judge": row["name"], "other": "human-majority"}).status_code in (403, 404)
    assert clients["researcher"].get(link, {"judge": "nobody", "other": "human-majority"}).status_code == 400


def test_bias_charts_and_leaderboard_link_to_the_verdicts_behind_them(verdicts: Project) -> None:
    """Every bias-chart row and leaderboard number links to the comparisons behind it, and those lists hold exactly
    the verdicts the number counts; the per-category table carries that category's Fleiss' κ and α."""
    clients = _world(verdicts)
    html = clients["researcher"].get(reverse("annotation:judges", args=["v"])).content.decode()
    assert "show=first" in html and "show=longer" in html and "show=generator" in html
    assert "Fleiss&#x27; κ" in html or "Fleiss' κ" in html
    link = reverse("annotation:judges_disagreements", args=["v"])
    llm = "<img src=x onerror=alert(1)>"

    def listing(**query: str) -> str:
        answer = clients["researcher"].get(link, {"other": "human-majority", **query})
        assert answer.status_code == 200, answer.content[:300]
        return answer.content.decode()

    # the LLM always picks the first shown response: all 40 comparisons are behind its prefers_first of 1.0
    first = listing(judge=llm, show="first")
    assert "40 comparisons" in first and "chose the response shown first" in first and "<img src=x" not in first
    # ann1 picks b, the longer response, on 30 of 40 (truth is a on every fourth)
    assert "30 comparisons" in listing(judge="ann1", show="longer")
    assert "40 comparisons" in listing(judge="ann1", show="generator", generator="m-long", baseline="m-short")
    assert "20 comparisons in category c1" in listing(judge="ann1", show="generator", generator="m-long", category="c1")
    assert clients["researcher"].get(link, {"judge": "ann1", "other": "human-majority", "show": "x"}).status_code == 400
    no_generator = clients["researcher"].get(link, {"judge": "ann1", "other": "human-majority", "show": "generator"})
    assert no_generator.status_code == 400
    data = JudgeReport.objects.get(project=verdicts).report
    # under a human-majority reference the humans' votes, pooled, are the leaderboard the judges are compared with
    assert data["generators"]["reference"] == "humans (pooled)"
    against = data["generators"]["judges"][llm]["agreement_with_reference"]
    assert against["generators"] == 2 and "spearman_interval" in against
    assert "Leaderboard agreement with humans (pooled)" in html
    assert "judge=humans+%28pooled%29" not in html  # the pool is not one judge: its cells link nowhere
    report = data["judges_report"]
    assert set(report["category_agreement"]) == {"c0", "c1"}
    for part in report["category_agreement"].values():
        assert {"matrix", "fleiss_kappa", "krippendorff_alpha"} <= set(part)
        assert part["fleiss_kappa"]["n"] == 20


def test_undefined_numbers_show_a_dash_with_the_reason(verdicts: Project) -> None:
    page = _world(verdicts)["researcher"].get(reverse("annotation:judges", args=["v"]))
    html = page.content.decode()
    job = JudgeReport.objects.get(project=verdicts)
    human = next(r for r in job.report["judges_report"]["judges"] if r["name"] == "ann1")
    reason = human["position_consistency"]["reason"]
    assert human["position_consistency"]["value"] is None and reason  # asked in one order only
    assert f'<td class="num undefined" title="{reason}">–' in html


def test_a_report_goes_stale_when_judgments_change_and_is_recomputed(verdicts: Project) -> None:
    client = _world(verdicts)["researcher"]
    url = reverse("annotation:judges", args=["v"])
    client.get(url)
    job = JudgeReport.objects.get(project=verdicts)
    assert client.get(url).status_code == 200 and JudgeReport.objects.filter(project=verdicts).count() == 1
    judgment_exclude(judgment=Judgment.objects.filter(project=verdicts).first())
    html = client.get(url).content.decode()
    assert JudgeReport.objects.filter(project=verdicts).count() == 2  # a stale report is computed again
    assert "stale" not in html
    assert JudgeReport.objects.exclude(pk=job.pk).get().report["verdicts"] == job.report["verdicts"] - 1


def test_the_api_answers_the_same_numbers_and_refuses_unknown_parameters(verdicts: Project) -> None:
    clients = _world(verdicts)
    url = reverse("api:judges_report", args=["v"])
    answer = clients["researcher"].get(url, {"reference": "ann1"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "succeeded" and body["stale"] is False
    command = _report("v", "--reference", "ann1")
    assert body["report"]["judges_report"]["judges"] == command["judges_report"]["judges"]
    majority = _report("v")
    accuracy = {row["name"]: row["accuracy"]["value"] for row in majority["judges_report"]["judges"]}
    best = majority["against_best"]
    assert accuracy[best["judge"]] == max(v for v in accuracy.values() if v is not None)
    assert {m["first"] for m in best["rows"]} == set(accuracy) - {best["judge"]}
    assert _report("v", "--reference", "ann1")["against_best"] is None  # one judge with a defined accuracy
    bad = clients["researcher"].get(url, {"refrence": "ann1"})
    assert bad.status_code == 400 and "refrence" in json.dumps(bad.json())
    assert clients["researcher"].get(url, {"reference": "nobody"}).status_code == 400
    assert clients["annotator"].get(url).status_code in (403, 404)
    assert clients["anonymous"].get(url).status_code in (401, 403)


def test_the_command_names_a_bad_parameter(verdicts: Project) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="reference"):
        _report("v", "--reference", "nobody")
    with pytest.raises(CommandError, match="baseline_generator"):
        _report("v", "--baseline-generator", "gpt-9")


def test_mtbench_gpt4_agreement_through_import_follows_fastchat(shared_data: Path) -> None:
    """GPT-4's pair verdicts against the expert votes (FastChat's "human": experts, not authors), with and without
    ties, equal to compute_agreement.py's rules on the same files (both turns pooled: each turn is its own prompt)."""
    from tests.annotation.analysis.test_judge_pairs import fastchat_agreement
    from tests.annotation.analysis.test_judges_real_data import canonical, mtbench_votes

    folder = shared_data / "mtbench_human_partial"
    _import(folder / "human_votes.jsonl", "mtbench", "--create-project")
    _import(folder / "gpt4_pair_verdicts.jsonl", "mtbench")
    report = _report("mtbench", "--humans", "mtbench:expert_*")["judges_report"]
    humans, gpt4 = mtbench_votes(shared_data)
    votes: dict[tuple, dict[str, list[str]]] = {}
    for row in humans:
        if row["judge"].startswith("expert"):
            key, winner = canonical(row, row["winner"])
            votes.setdefault(key, {}).setdefault("human", []).append(winner)
    for row in gpt4:
        key, winner = canonical(row, row["gpt4_winner"])
        votes.setdefault(key, {}).setdefault("gpt4-pair", []).append(winner)
    ours = report["mtbench"]["mtbench:gpt-4"]
    for name, ban in (("with_ties", []), ("without_ties", ["tie"])):
        agree, total = fastchat_agreement(votes, "gpt4-pair", ban)  # type: ignore[arg-type]
        assert ours[name]["n"] == total
        assert ours[name]["value"] == pytest.approx(agree / total, abs=1e-12)
    assert ours["with_ties"]["n"] > ours["without_ties"]["n"] > 100


def test_a_big_projects_stale_report_stays_marked_until_recomputed(verdicts: Project, settings) -> None:  # noqa: ANN001
    settings.WORKBENCH_INLINE_JUDGES_REPORT_MAX_JUDGMENTS = 10  # "big": computed on a worker
    _report("v")  # the command computes it here and stores it
    client = _world(verdicts)["researcher"]
    url = reverse("annotation:judges", args=["v"])
    assert "stale" not in client.get(url).content.decode()
    judgment_exclude(judgment=Judgment.objects.filter(project=verdicts).first())
    html = client.get(url).content.decode()
    assert "stale: judgments changed since" in html and "recompute=1" in html
    assert JudgeReport.objects.filter(project=verdicts).count() == 1  # shown, not recomputed behind the user's back
    html = client.get(url + "?recompute=1").content.decode()
    assert "Comparing judges on a worker" in html
    assert JudgeReport.objects.filter(project=verdicts, status="queued").count() == 1


def test_a_listwise_project_gets_kendall_tau_and_alpha(shared_data: Path) -> None:
    """OpenAssistant's ranked replies through the import, and an LLM judge that orders every list in reverse
    (through the judgments service): τ-b is exactly -1 on every list both ordered, on the page too."""
    from annotation.models import Comparison
    from annotation.services.external_judgments import JudgmentInput, judgment_create

    _import(shared_data / "oasst_en100" / "en_100_tree.jsonl.gz", "oasst", "--create-project")
    project = Project.objects.get(slug="oasst")
    researcher = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    lists = 0
    for judgment in Judgment.objects.filter(project=project).prefetch_related("placements"):
        ranks = {p.response_id: p.rank for p in judgment.placements.all()}
        if len(ranks) < 3 or len(set(ranks.values())) < 2:
            continue
        levels = sorted({-rank for rank in ranks.values()})
        ranking = [[r for r, rank in ranks.items() if -rank == level] for level in levels]
        data = JudgmentInput(comparison_id=judgment.comparison_id, ranking=ranking, judge_name="rev", judge_kind="llm")
        judgment_create(project=project, user=researcher, data=data)
        lists += 1
    assert lists > 50 and Comparison.objects.filter(project=project).count() > lists
    report = _report("oasst")["lists"]
    tau = report["kendall_tau_b"][report["judges"].index("rev")][report["judges"].index("oasst:rankers")]
    assert tau["value"] == pytest.approx(-1.0) and tau["n"] == lists
    assert report["krippendorff_alpha"]["value"] < 0  # reversed rankings disagree systematically
    client = Client()
    client.force_login(researcher)
    html = client.get(reverse("annotation:judges", args=["oasst"])).content.decode()
    assert "lists of three or more responses" in html and "-1.000" in html
