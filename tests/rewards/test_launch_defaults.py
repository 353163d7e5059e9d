"""The launch defaults are one set (issue 17): the launch page's initial values, the runs API's defaults and
train_reward_model's are rewards.services.runs.LAUNCH_DEFAULTS, and those are the config bench/default_run.py
measured on the HH-RLHF demo project, where its held-out interval lay above chance (docs/benchmarks.md). Changing
a default without re-running the bench fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rewards.apis import RUN_DEFAULTS
from rewards.forms import CONFIG_FIELDS, TrainingRunForm
from rewards.management.commands.train_reward_model import Command
from rewards.services.base_models import DEFAULT_BASE_MODEL
from rewards.services.runs import LAUNCH_DEFAULTS, config_from

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
# train_reward_model's option for each launch setting it takes under another name.
COMMAND_NAMES = {"learning_rate": "lr"}


def _bench_section() -> str:
    text = DOC.read_text()
    return text.split("<!-- bench:default_run -->", 1)[1].split("<!-- /bench:default_run -->", 1)[0]


def test_the_page_the_api_and_the_command_start_from_the_same_defaults() -> None:
    fields = TrainingRunForm().fields
    assert {name: fields[name].initial for name in CONFIG_FIELDS if name != "base_model"} == LAUNCH_DEFAULTS
    assert RUN_DEFAULTS == {"base_model": DEFAULT_BASE_MODEL, **LAUNCH_DEFAULTS}
    parser = Command().create_parser("manage.py", "train_reward_model")
    for name, value in LAUNCH_DEFAULTS.items():
        option = COMMAND_NAMES.get(name, name)
        if option in ("lora", "max_steps", "epsilon"):  # a flag, or None: nothing to compare beyond the default
            assert parser.get_default(option) in (value, False), name
            continue
        assert parser.get_default(option) == value, name


@pytest.mark.django_db
def test_the_defaults_make_a_valid_config() -> None:
    config = config_from(dict(LAUNCH_DEFAULTS))
    assert config.epochs == LAUNCH_DEFAULTS["epochs"] and config.eval_fraction == LAUNCH_DEFAULTS["eval_fraction"]


def test_the_defaults_are_what_the_bench_measured_and_it_learned() -> None:
    section = _bench_section()
    measured = json.loads(re.search(r"^Config: `(\{.*\})`$", section, re.M).group(1))  # type: ignore[union-attr]
    assert measured == LAUNCH_DEFAULTS
    # The default seed's row: held-out accuracy [low, high] with the interval above chance.
    row = re.search(rf"^\| {LAUNCH_DEFAULTS['seed']} \| .*?\| (\S+) \[(\S+), (\S+)\] \|", section, re.M)
    assert row is not None, section
    value, low, high = (float(x) for x in row.groups())
    assert 0.5 < low <= value <= high
