"""The base model of a training run is a *reference* the server resolves, never a path a user types:

    shipped:all-minilm-l6-v2    the MiniLM shipped with the workbench (the default)
    cache:<repo id>             a model in this host's Hugging Face cache (listed in the picker)
    run:<id>                    the model of a finished run the user may see (continue training from it)
    hub:<name>                  advanced: a hub name, resolved offline from the local cache only

`base_model_choices` lists what a user may pick (with size and parameter count); `base_model_resolve` turns a
reference into a folder, checking permission; it runs at launch (page, API, command) and again on the worker. A raw
path, or any other string, is refused with the same message whether or not it exists (no existence oracle).
`scrub_config` and `scrub_paths` keep server paths out of what pages and the API show.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.selectors import User
from rewards.models import JobStatus, TrainingRun
from rewards.selectors import researcher_projects
from rewards.training import default_base_model_path
from workbench.exceptions import ApplicationError

DEFAULT_BASE_MODEL = "shipped:all-minilm-l6-v2"
SHIPPED: dict[str, tuple[str, Any]] = {
    "all-minilm-l6-v2": ("all-MiniLM-L6-v2 (shipped, offline)", default_base_model_path),
}
ALLOWED_FORMS = "shipped:<name>, cache:<repo id>, run:<id> or hub:<name>"
# A hub repo id: "name" or "owner/name"; no path separators beyond the one slash, no "..".
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
RUN_CHOICES_LIMIT = 50


class BaseModelRefused(ApplicationError):
    """A base model reference that is malformed, not allowed to this user, or not available offline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extra={"field": "base_model", "allowed": ALLOWED_FORMS})


@dataclass(frozen=True)
class BaseModelChoice:
    reference: str
    label: str
    source: str  # "shipped", "cache" or "run"
    size_bytes: int
    parameters: int | None

    @property
    def size_display(self) -> str:
        return human_size(self.size_bytes)

    @property
    def parameters_display(self) -> str:
        if self.parameters is None:
            return "–"
        return f"{self.parameters / 1e6:.1f} M" if self.parameters >= 1e5 else f"{self.parameters:,}"


# -- reading references ------------------------------------------------------------------------------------------


def _refused_form(value: str) -> BaseModelRefused:
    # The same words for every string that is not a reference: a path that exists and one that does not look alike.
    shown = value if len(value) <= 80 else value[:77] + "..."
    return BaseModelRefused(
        f"Base model: {shown!r} is not a model reference. Choose a listed model, or give {ALLOWED_FORMS}."
    )


def base_model_parse(value: str) -> tuple[str, str]:
    """(kind, name) of a well-formed reference; anything else (a path, a bare name) is refused."""
    kind, sep, name = (value or "").strip().partition(":")
    if not sep or not name:
        raise _refused_form(value)
    if kind == "shipped" and name in SHIPPED:
        return kind, name
    if kind in ("cache", "hub") and REPO_ID.match(name) and ".." not in name:
        return kind, name
    if kind == "run" and name.isdigit() and len(name) < 12:
        return kind, name
    raise _refused_form(value)


def base_model_resolve(*, user: User | None, reference: str) -> Path:
    """The folder a reference names, if `user` may train from it. user=None (the command without --user) may use
    every reference except a run's model."""
    kind, name = base_model_parse(reference)
    if kind == "shipped":
        return Path(SHIPPED[name][1]())
    if kind in ("cache", "hub"):
        return _resolve_cached(kind, name)
    return _resolve_run(user, int(name))


def _resolve_cached(kind: str, name: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(name, cache_dir=hf_cache_dir(), local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError) as error:
        raise BaseModelRefused(
            f"Base model {kind}:{name}: not in this host's Hugging Face cache, and the server loads models offline "
            f"only (HF_HUB_OFFLINE=1, nothing is downloaded). Download it on this host first "
            f"(`hf download {name}`), or choose a listed model."
        ) from error
    if not (folder / "config.json").is_file():
        raise BaseModelRefused(f"Base model {kind}:{name}: the cached snapshot has no config.json (not a model).")
    return folder


def _resolve_run(user: User | None, run_id: int) -> Path:
    # One message whether the run does not exist, is not finished or is not the user's to see: ids do not leak.
    refused = BaseModelRefused(
        f"Base model run:{run_id}: not a finished run you may use. A run's model is a base model only for "
        "researchers of every project it was trained on (and admins)."
    )
    if user is None:
        raise BaseModelRefused(
            f"Base model run:{run_id}: a run's model is checked against a user; pass --user to the command."
        )
    run = TrainingRun.objects.filter(pk=run_id, status=JobStatus.SUCCEEDED).prefetch_related("projects").first()
    if run is None or not run.artifact_dir or not _may_see(user, run):
        raise refused
    folder = _artifact_folder(run)
    if folder is None or not (folder / "config.json").is_file():
        raise refused
    return folder


def _may_see(user: User, run: TrainingRun) -> bool:
    allowed = set(researcher_projects(user=user).values_list("id", flat=True))
    projects = {p.pk for p in run.projects.all()}
    return bool(projects) and projects <= allowed


def _artifact_folder(run: TrainingRun) -> Path | None:
    runs = (Path(settings.DATA_DIR) / "runs").resolve()
    folder = (Path(settings.DATA_DIR) / run.artifact_dir).resolve()
    return folder if folder.is_relative_to(runs / str(run.pk)) else None


def resolve_for_run(run: TrainingRun) -> tuple[str, Path]:
    """On the worker: (reference, folder) of `run`'s base model, checked again against the user who launched it.
    A config from before references held a raw path: it is used only if it is the shipped model or a run artifact
    that user may see (and is then trained under its reference); anything else fails the run with the reason."""
    value = str(run.config.get("base_model", ""))
    reference = legacy_reference(value) if value.startswith("/") else value
    if reference is None:
        raise BaseModelRefused(
            "This run's config names its base model by a server path, which is no longer accepted. Launch a new run "
            f"and choose its base model from the list ({ALLOWED_FORMS})."
        )
    return reference, base_model_resolve(user=run.created_by, reference=reference)


def legacy_reference(path: str) -> str | None:
    """The reference an old config's raw path stands for: the shipped model or a run's artifact; else None."""
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    for name, (_label, locate) in SHIPPED.items():
        if real == Path(locate()).resolve():
            return f"shipped:{name}"
    runs = (Path(settings.DATA_DIR) / "runs").resolve()
    if real.is_relative_to(runs):
        parts = real.relative_to(runs).parts
        if parts and parts[0].isdigit():
            return f"run:{parts[0]}"
    return None


# -- the picker --------------------------------------------------------------------------------------------------


def base_model_choices(*, user: User) -> list[BaseModelChoice]:
    """What `user` may train from, shipped first, then the local Hugging Face cache, then their runs' models."""
    choices = [
        BaseModelChoice(f"shipped:{name}", label, "shipped", *_size_and_parameters(Path(locate())))
        for name, (label, locate) in SHIPPED.items()
    ]
    choices += _cache_choices()
    choices += _run_choices(user)
    return choices


def _cache_choices() -> list[BaseModelChoice]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(hf_cache_dir())
    except (CacheNotFound, OSError):
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id.lower()):
        if repo.repo_type != "model" or not REPO_ID.match(repo.repo_id):
            continue
        main = next((rev for rev in repo.revisions if "main" in rev.refs), None)
        if main is None or not (main.snapshot_path / "config.json").is_file():
            continue  # snapshot_download(local_files_only) resolves "main"; a model needs its config
        _size, parameters = _size_and_parameters(main.snapshot_path, with_size=False)
        out.append(BaseModelChoice(f"cache:{repo.repo_id}", repo.repo_id, "cache", main.size_on_disk, parameters))
    return out


def _run_choices(user: User) -> list[BaseModelChoice]:
    runs = (
        TrainingRun.objects.filter(status=JobStatus.SUCCEEDED)
        .exclude(artifact_dir="")
        .prefetch_related("projects")
        .order_by("-created_at")
    )
    out = []
    for run in runs[: RUN_CHOICES_LIMIT * 4]:
        if len(out) >= RUN_CHOICES_LIMIT or not _may_see(user, run):
            continue
        folder = _artifact_folder(run)
        if folder is None or not (folder / "config.json").is_file():
            continue
        slugs = ", ".join(p.slug for p in run.projects.all())
        label = f"Run #{run.pk}" + (f": {run.name}" if run.name else "") + f" ({run.config.get('loss')}, {slugs})"
        out.append(BaseModelChoice(f"run:{run.pk}", label, "run", *_size_and_parameters(folder)))
    return out


def _size_and_parameters(folder: Path, *, with_size: bool = True) -> tuple[int, int | None]:
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if with_size else 0
    parameters = None
    weights = sorted(folder.glob("*.safetensors"))
    if weights:
        try:
            parameters = sum(_safetensors_parameters(p) for p in weights)
        except (OSError, ValueError):
            parameters = None
    return size, parameters


def _safetensors_parameters(path: Path) -> int:
    # The header is 8 bytes of length, then JSON naming every tensor's shape: no weights are read.
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if length > 100_000_000:
            raise ValueError("implausible safetensors header")
        header = json.loads(file.read(length))
    total = 0
    for name, entry in header.items():
        if name != "__metadata__":
            count = 1
            for dim in entry["shape"]:
                count *= int(dim)
            total += count
    return total


def hf_cache_dir() -> str:
    """The Hugging Face hub cache, read at call time (as huggingface_hub reads it at import)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return os.path.expanduser(explicit)
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


# -- keeping server paths out of what users see -----------------------------------------------------------------

ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/(?:[^\s\"'<>/]+/)+([^\s\"'<>/]*)")


def scrub_paths(text: str) -> str:
    """Absolute paths in free text (an error's traceback) lose their directories: '…/trainer.py'."""
    return ABSOLUTE_PATH.sub(lambda m: "…/" + m.group(1), text or "")


def display_reference(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith("/"):
        return value
    return legacy_reference(value) or "(a path on the server)"


def scrub_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's config as users see it: the base model as a reference, no absolute path in any value."""
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if key == "base_model":
            out[key] = display_reference(value)
        elif isinstance(value, str) and value.startswith("/"):
            out[key] = "(a path on the server)"
        else:
            out[key] = value
    return out
