"""The foundation's pages in headless Chromium against the real server: log in, browse, import; untrusted text
never runs. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.models import Judgment, Membership
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=\"alert('img')\">",
    "<svg><script>alert('svg')</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('math')>",
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<a href=\"javascript:alert('link')\">click me</a>",
    "[md link](javascript:alert('md'))",
    "![md image](x\" onerror=\"alert('mdimg'))",
    "<style>body{display:none}</style><div style=\"background:url(javascript:alert('css'))\">css</div>",
    "<body onload=alert('body')>",
    "\"><script>alert('attr')</script>",
]


def login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def test_researcher_browses_and_no_payload_runs(page, live_server, tmp_path: Path, artifacts_dir: Path) -> None:
    project = ProjectFactory(slug="xss", name="Payload corpus", description="Untrusted LLM text, rendered inert.")
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res"))
    rows = [
        {"prompt": payload, "chosen": f"safe answer {i} " + PAYLOADS[-1 - i], "rejected": payload + f" #{i}"}
        for i, payload in enumerate(PAYLOADS)
    ]
    path = tmp_path / "payloads.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path, options={"judge": "payload-judge"})

    login(page, live_server, "res")
    page.screenshot(path=str(artifacts_dir / "foundation-project-list.png"), full_page=True)
    page.click("text=Payload corpus")
    page.wait_for_selector("#sample article")
    assert page.locator("#sample article").count() == 6
    page.screenshot(path=str(artifacts_dir / "foundation-overview-payloads.png"), full_page=True)
    # Paging is an htmx swap of the sample alone.
    page.click("text=Next →")
    page.wait_for_url("**/projects/xss/?page=2")
    page.wait_for_selector("text=Page 2")
    assert page.locator("#sample article").count() == len(PAYLOADS) - 6
    # The payloads are on the page as text, and none of them ran.
    text = page.locator("#sample").inner_text()
    for payload in PAYLOADS[6:]:
        assert payload in text
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.locator("#sample iframe, #sample script, #sample img, #sample svg, #sample style").count() == 0
    assert page.locator("body").is_visible()


def test_researcher_imports_a_file_from_the_page(page, live_server, tmp_path: Path, artifacts_dir: Path) -> None:
    project = ProjectFactory(slug="upload", name="Upload target")
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res2"))
    good = tmp_path / "pairs.jsonl"
    good.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "chosen": "good", "rejected": "bad"}) + "\n" for i in range(20))
    )
    bad = tmp_path / "broken.jsonl"
    bad.write_text(
        '{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": ["x"], "rejected": "b"}\n'
    )

    login(page, live_server, "res2")
    page.goto(f"{live_server.url}/projects/upload/import/")
    page.screenshot(path=str(artifacts_dir / "foundation-import-upload.png"), full_page=True)
    page.set_input_files("#id_file", str(bad))
    page.click("text=Upload and import")
    page.wait_for_selector("text=nothing was written")
    page.screenshot(path=str(artifacts_dir / "foundation-import-failed.png"), full_page=True)
    assert "message 0 is a str, not an object" in page.locator(".issues").inner_text()
    assert Judgment.objects.filter(project=project).count() == 0

    # Back to the form from the failure, which lists the failed upload beside it.
    page.click("text=upload it again")
    page.wait_for_url("**/projects/upload/import/")
    assert "broken.jsonl" in page.locator("section:has(h2:text('Recent imports'))").inner_text()
    assert "Failed" in page.locator("section:has(h2:text('Recent imports'))").inner_text()
    page.screenshot(path=str(artifacts_dir / "foundation-import-again.png"), full_page=True)
    page.set_input_files("#id_file", str(good))
    page.click("text=Upload and import")
    page.wait_for_selector("text=new judgments")
    page.screenshot(path=str(artifacts_dir / "foundation-import-succeeded.png"), full_page=True)
    assert Judgment.objects.filter(project=project).count() == 20
    page.click("text=See the project →")
    page.wait_for_selector("text=Judgments by judge")
    assert "upload:imported" in page.locator("table.table").first.inner_text()
