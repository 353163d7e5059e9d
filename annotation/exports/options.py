"""What an export is asked for: format, file type, filters and options, validated in one place.

The page, the API and `manage.py export_data` all call `export_spec_validate`; it raises ApplicationError naming
the bad field (`extra={"field": "options.ties"}`), and returns an ExportSpec whose `filters_json()` /
`options_json()` are what an ExportJob records, so the same export can be run again.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from workbench.exceptions import ApplicationError

FORMATS = ("trl-pairwise", "listwise", "raw")
FILE_TYPES = ("jsonl", "parquet", "csv")
JUDGE_KINDS = ("human", "reward_model", "llm", "imported")
PAIR_MODES = ("all", "best_vs_rest", "adjacent")
TIE_MODES = ("drop", "keep")
CONSENSUS_MODES = ("none", "majority", "bradley_terry")
MARGIN_MODES = ("strength", "rank_gap", "score_gap", "none")
# The noise detectors' combined suspicion (annotation.models.LabelFlag.detector); any detector's name may be chosen.
COMBINED_DETECTOR = "combined"
_DETECTOR_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")

# Options that only mean something for some formats; any other format refuses them when they differ from the default.
_FORMAT_OPTIONS = {
    "pairs": ("trl-pairwise",),
    "ties": ("trl-pairwise",),
    "consensus": ("trl-pairwise",),
    "margin": ("trl-pairwise",),
    "conversational": ("trl-pairwise", "listwise"),
    "include_text": ("raw",),
    "drop_empty": ("trl-pairwise", "listwise"),
}


def _bad(field_name: str, message: str) -> ApplicationError:
    return ApplicationError(f"{field_name}: {message}", extra={"field": field_name})


@dataclass(frozen=True)
class ExportFilters:
    """Which judgments go out. Dates bound Judgment.created_at: `date_from` inclusive, `date_to` exclusive (a bare
    date means the whole day, so `date_to: 2025-03-31` includes March 31). `active_only` is "leave out excluded
    judgments": those a reviewer excluded or corrected (superseded) stay out. `max_suspicion` leaves out judgments
    whose `suspicion_detector` flag scores above it (a judgment without that flag stays in)."""

    judge_kinds: tuple[str, ...] = ()
    judges: tuple[str, ...] = ()
    active_only: bool = True
    min_agreement: float | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    categories: tuple[str, ...] = ()
    max_suspicion: float | None = None
    suspicion_detector: str = COMBINED_DETECTOR

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @property
    def selects_judgments(self) -> bool:
        """True when the filters pick judgments by more than project, status and category (worth an EXISTS)."""
        return bool(self.judge_kinds or self.judges or self.date_from or self.date_to)


@dataclass(frozen=True)
class ExportOptions:
    conversational: bool = False
    pairs: str = "all"
    ties: str = "drop"
    consensus: str = "none"
    margin: str = "strength"
    drop_empty: bool = False
    include_text: bool = True
    test_fraction: float = 0.0
    seed: int = 0
    license: str = ""

    def as_json(self) -> dict[str, Any]:
        defaults = ExportOptions()
        return {k: v for k, v in asdict(self).items() if v != getattr(defaults, k)}


@dataclass(frozen=True)
class ExportSpec:
    format: str
    file_type: str
    filters: ExportFilters = field(default_factory=ExportFilters)
    options: ExportOptions = field(default_factory=ExportOptions)

    def filters_json(self) -> dict[str, Any]:
        return self.filters.as_json()

    def options_json(self) -> dict[str, Any]:
        return self.options.as_json()


# --- readers: each raises ApplicationError naming the field ---------------------------------------------------------


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return value.strip().lower() in ("true", "1", "yes", "on")
    raise _bad(name, f"must be true or false, got {value!r}"[:200])


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str):
        normal = value.strip().lower().replace("-", "_")
        for choice in choices:
            if normal == choice.replace("-", "_"):
                return choice
    raise _bad(name, f"must be one of {', '.join(choices)}, got {value!r}"[:200])


def _number(value: Any, name: str, *, low: float, high: float, high_inclusive: bool = True) -> float:
    if isinstance(value, bool):
        raise _bad(name, "must be a number, got a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(name, f"must be a number, got {value!r}"[:200]) from None
    if not math.isfinite(number):
        raise _bad(name, "must be a finite number")
    if number < low or number > high or (not high_inclusive and number == high):
        bound = "]" if high_inclusive else ")"
        raise _bad(name, f"must be in [{low:g}, {high:g}{bound}, got {number:g}")
    return number


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad(name, "must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _bad(name, f"must be an integer, got {value!r}"[:200])


def _strings(value: Any, name: str) -> tuple[str, ...]:
    """A list of non-empty strings; a comma-separated string is accepted (command line, query strings)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise _bad(name, f"must be a list of strings, got {type(value).__name__}")
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _bad(f"{name}[{index}]", f"must be a non-empty string, got {item!r}"[:200])
        out.append(item.strip())
    return tuple(dict.fromkeys(out))


def _moment(value: Any, name: str, *, end: bool) -> datetime:
    """An ISO date or datetime; naive values are UTC. A bare date as an end bound means the end of that day."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min) + (timedelta(days=1) if end else timedelta())
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime.combine(day, time.min) + (timedelta(days=1) if end else timedelta())
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(name, f"must be an ISO date (2025-03-31) or datetime, got {value!r}"[:200]) from None
    else:
        raise _bad(name, f"must be an ISO date (2025-03-31) or datetime, got {value!r}"[:200])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def detector_name(value: Any, name: str) -> str:
    """A noise detector's name as LabelFlag stores it (letters, digits and _ . : -, at most 32 characters)."""
    if isinstance(value, str) and _DETECTOR_NAME.match(value.strip()):
        return value.strip()
    raise _bad(name, f"must be a detector name such as {COMBINED_DETECTOR!r}, got {value!r}"[:200])


def _unknown(given: dict[str, Any], known: set[str], prefix: str) -> None:
    extra = sorted(set(given) - known)
    if extra:
        raise _bad(f"{prefix}.{extra[0]}", f"unknown {prefix[:-1]}; known: {', '.join(sorted(known))}")


def _dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(name, f"must be an object, got {type(value).__name__}")
    return value


# --- the entry point ---------------------------------------------------------------------------------------------


def export_spec_validate(
    *, format: str, file_type: str = "jsonl", filters: dict[str, Any] | None = None, options: dict[str, Any] | None
) -> ExportSpec:
    """Check an export request; raise ApplicationError naming the first bad field, else return the clean spec."""
    fmt = _choice(format, "format", FORMATS)
    ftype = _choice(str(file_type or "").lstrip("."), "file_type", FILE_TYPES)
    raw_filters = _dict(filters, "filters")
    raw_options = _dict(options, "options")
    _unknown(raw_filters, {f.name for f in fields(ExportFilters)}, "filters")
    _unknown(raw_options, {f.name for f in fields(ExportOptions)}, "options")

    clean_filters: dict[str, Any] = {}
    for key, value in raw_filters.items():
        name = f"filters.{key}"
        if value is None or value == "" or value == []:
            continue
        if key == "judge_kinds":
            kinds = _strings(value, name)
            for index, kind in enumerate(kinds):
                _choice(kind, f"{name}[{index}]", JUDGE_KINDS)
            clean_filters[key] = tuple(_choice(k, name, JUDGE_KINDS) for k in kinds)
        elif key in ("judges", "categories"):
            clean_filters[key] = _strings(value, name)
        elif key == "active_only":
            clean_filters[key] = _bool(value, name)
        elif key == "min_agreement":
            clean_filters[key] = _number(value, name, low=0.0, high=1.0)
        elif key in ("date_from", "date_to"):
            clean_filters[key] = _moment(value, name, end=key == "date_to")
        elif key == "max_suspicion":
            clean_filters[key] = _number(value, name, low=0.0, high=1.0)
        elif key == "suspicion_detector":
            clean_filters[key] = detector_name(value, name)
    result_filters = ExportFilters(**clean_filters)
    if result_filters.date_from and result_filters.date_to and result_filters.date_from >= result_filters.date_to:
        raise _bad("filters.date_to", "must be after date_from")
    if result_filters.suspicion_detector != COMBINED_DETECTOR and result_filters.max_suspicion is None:
        raise _bad("filters.suspicion_detector", "applies only with max_suspicion (the threshold to leave out above)")

    clean_options: dict[str, Any] = {}
    for key, value in raw_options.items():
        name = f"options.{key}"
        if value is None:
            continue
        if key in ("conversational", "drop_empty", "include_text"):
            clean_options[key] = _bool(value, name)
        elif key == "pairs":
            clean_options[key] = _choice(value, name, PAIR_MODES)
        elif key == "ties":
            clean_options[key] = _choice(value, name, TIE_MODES)
        elif key == "consensus":
            clean_options[key] = _choice(value, name, CONSENSUS_MODES)
        elif key == "margin":
            clean_options[key] = _choice(value, name, MARGIN_MODES)
        elif key == "test_fraction":
            clean_options[key] = _number(value, name, low=0.0, high=1.0, high_inclusive=False)
        elif key == "seed":
            clean_options[key] = _int(value, name)
        elif key == "license":
            if not isinstance(value, str) or len(value) > 100 or "\n" in value:
                raise _bad(name, "must be a licence name on one line (at most 100 characters), e.g. CC-BY-4.0")
            clean_options[key] = value.strip()
    result_options = ExportOptions(**clean_options)
    defaults = ExportOptions()
    for key, formats in _FORMAT_OPTIONS.items():
        if fmt not in formats and getattr(result_options, key) != getattr(defaults, key):
            raise _bad(f"options.{key}", f"does not apply to the {fmt} format (only to {', '.join(formats)})")
    if result_options.consensus != "none" and result_options.margin in ("rank_gap", "score_gap"):
        raise _bad("options.margin", "consensus rows take their margin from the votes: use strength or none")
    return ExportSpec(format=fmt, file_type=ftype, filters=result_filters, options=result_options)


def file_type_for(path: str) -> str | None:
    """The file type an output path asks for by its extension, or None for a folder (no known extension)."""
    lowered = path.lower().rstrip("/")
    for ftype in FILE_TYPES:
        if lowered.endswith("." + ftype):
            return ftype
    return None
