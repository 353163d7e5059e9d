"""Locust annotators for bench/annotate.py: each is its own signed-in user, then asks for the next item and
submits it (5% skips), pausing between items as BENCH_THINK_MIN..MAX seconds say. Every request's latency is
appended to BENCH_LATENCY_FILE as `name,ms,status,unix time` lines, so percentiles are exact rather than
Locust's buckets."""

from __future__ import annotations

import itertools
import os
import random
import re
import time

from locust import HttpUser, between, events, task

PROJECT = os.environ["BENCH_PROJECT"]
SESSIONS = os.environ["BENCH_SESSIONS"].split(",")
USERS = itertools.count()
_out = open(os.environ["BENCH_LATENCY_FILE"], "a", buffering=1)  # noqa: SIM115 - lives as long as the run


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response, exception, **kwargs) -> None:  # noqa: ANN001
    status = getattr(response, "status_code", 0) if response is not None else 0
    _out.write(f"{name},{response_time:.3f},{status},{time.time():.3f}\n")


class Annotator(HttpUser):
    wait_time = between(
        float(os.environ.get("BENCH_THINK_MIN", "0.5")), float(os.environ.get("BENCH_THINK_MAX", "1.5"))
    )

    def on_start(self) -> None:
        # A session the bench signed in beforehand: each Locust user is one annotator. The first item sets the
        # CSRF cookie (its form carries the token).
        index = next(USERS)
        self.client.cookies.set("sessionid", SESSIONS[index % len(SESSIONS)])
        self.rng = random.Random(index)

    @task
    def judge_one(self) -> None:
        response = self.client.get(f"/projects/{PROJECT}/annotate/next/", name="next")
        found = re.search(r'data-assignment="(\d+)"', response.text)
        if found is None:
            return
        assignment = found.group(1)
        headers = {"Accept": "application/json", "X-CSRFToken": self.client.cookies.get("csrftoken", "")}
        if self.rng.random() < 0.05:
            self.client.post(f"/assignments/{assignment}/skip/", headers=headers, name="skip")
        else:
            data = {"choice": self.rng.choice(["A", "B", "tie"]), "duration_ms": "4000", "client_token": assignment}
            self.client.post(f"/assignments/{assignment}/submit/", data, headers=headers, name="submit")
