"""A scripted annotator speaking HTTP to a running server, as the judging page's script does: log in, ask for
the next item, submit (or now and then skip) with JSON answers. Standard library only, no Django, so the
concurrency test and bench/annotate can run many of them as separate processes.

    python -m tests.annotator_client BASE_URL PROJECT_SLUG USERNAME PASSWORD OUT.json [--skip-rate 0.05]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field


@dataclass
class ClientReport:
    username: str
    submitted: list[int] = field(default_factory=list)  # assignment ids whose submission the server accepted
    skipped: list[int] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # HTTP status -> count
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class AnnotatorClient:
    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.timeout = timeout

    def _csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, path: str, data: dict[str, str] | None = None, accept_json: bool = False) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = {"X-CSRFToken": self._csrf(), "Referer": self.base + "/"}
        if accept_json:
            headers["Accept"] = "application/json"
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def login(self, username: str, password: str) -> None:
        status, html = self.request("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if status != 200 or token is None:
            raise RuntimeError(f"login page answered {status}")
        status, _ = self.request(
            "/accounts/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
        )
        if not any(c.name == "sessionid" for c in self.jar):
            raise RuntimeError(f"login as {username} failed ({status})")


def _record(report: ClientReport, status: int) -> None:
    report.statuses[str(status)] = report.statuses.get(str(status), 0) + 1


def annotate_until_done(
    client: AnnotatorClient,
    slug: str,
    report: ClientReport,
    skip_rate: float = 0.0,
    seed: int = 0,
    max_items: int | None = None,
    empty_retries: int = 3,
) -> ClientReport:
    """Judge until the server has nothing left for this annotator (asked `empty_retries` times, since others'
    skips can return items), or `max_items` answers were given."""
    rng = random.Random(seed)
    empty_in_a_row = 0
    while max_items is None or len(report.submitted) + len(report.skipped) < max_items:
        started = time.perf_counter()
        status, html = client.request(f"/projects/{slug}/annotate/next/")
        report.next_ms.append((time.perf_counter() - started) * 1000)
        _record(report, status)
        if status != 200:
            report.errors.append(f"next answered {status}")
            time.sleep(0.1)
            continue
        found = re.search(r'data-assignment="(\d+)"', html)
        if found is None:
            empty_in_a_row += 1
            if empty_in_a_row >= empty_retries:
                break
            time.sleep(0.3)
            continue
        empty_in_a_row = 0
        assignment = int(found.group(1))
        skip = rng.random() < skip_rate
        path = f"/assignments/{assignment}/{'skip' if skip else 'submit'}/"
        data = (
            {} if skip else {"choice": rng.choice(["A", "B", "tie"]), "client_token": f"{report.username}-{assignment}"}
        )
        started = time.perf_counter()
        status, body = client.request(path, data, accept_json=True)
        report.submit_ms.append((time.perf_counter() - started) * 1000)
        _record(report, status)
        if status == 200:
            (report.skipped if skip else report.submitted).append(assignment)
        else:
            report.errors.append(f"{path} answered {status}: {body[:200]}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("slug")
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("out")
    parser.add_argument("--skip-rate", type=float, default=0.0)
    parser.add_argument("--max-items", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report = ClientReport(username=args.username)
    try:
        client = AnnotatorClient(args.base_url)
        client.login(args.username, args.password)
        annotate_until_done(client, args.slug, report, args.skip_rate, args.seed, args.max_items)
    except Exception as error:  # the report says what went wrong; the caller asserts on it
        report.errors.append(f"{type(error).__name__}: {error}")
    with open(args.out, "w") as out:
        json.dump(asdict(report), out)


if __name__ == "__main__":
    main()
