"""The interactive API docs (/api/docs/) work offline and under the site's `script-src 'self'` policy: Swagger UI
and its init script are static files from drf-spectacular-sidecar, nothing comes from a CDN."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
CHROMIUM = "/usr/bin/chromium"


def test_docs_page_renders_every_operation_under_the_csp(live_server, artifacts_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError("this test needs Debian's chromium at /usr/bin/chromium (scripts/test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("request", lambda request: requests.append(request.url))
        response = page.goto(f"{live_server.url}/api/docs/")
        assert response is not None and response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        schema = page.request.get(f"{live_server.url}/api/schema/?format=json").json()
        expected = sum(len(methods) for methods in schema["paths"].values())
        assert page.locator(".swagger-ui .opblock").count() == expected >= 23  # every operation of the schema
        assert page.locator(".swagger-ui .info .title").inner_text().startswith("Preference Workbench API")
        tags = page.locator(".swagger-ui .opblock-tag").all_inner_texts()
        assert [t.split()[0] for t in tags][:3] == ["projects", "prompts", "judges"]
        page.locator(".opblock-summary-path", has_text="/api/v1/projects/{slug}/judgments/create/").first.click()
        page.wait_for_selector(".opblock.is-open .opblock-section-request-body", timeout=10_000)
        page.locator(".swagger-ui .info").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "api-docs.png"), full_page=False)
        browser.close()
    assert not errors, errors  # a script refused by the CSP would show here
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requests), requests
