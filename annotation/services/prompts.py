"""Writing prompts with their responses from a script (the REST API's bulk create), with the comparisons that make
them assignable: a pairwise project gets one comparison of the two responses, a listwise project one of all of them.

All or nothing: every row is checked first, and any problem (row, field, reason) refuses the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from annotation.messages import validate_messages
from annotation.models import Comparison, ComparisonResponse, Project, Prompt, Response
from workbench.exceptions import ApplicationError, Conflict

MAX_PROMPTS = 1000
MAX_RESPONSES = 26  # the judging page labels responses A-Z / 1-26


@dataclass(frozen=True)
class ResponseInput:
    external_id: str
    text: str
    generator: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptInput:
    external_id: str
    messages: list[dict[str, Any]]
    category: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    responses: list[ResponseInput] = field(default_factory=list)


class RowsInvalid(ApplicationError):
    """Some rows of a batch are wrong; `extra["rows"]` lists {row, field, message} (row: index in the batch)."""

    @classmethod
    def of(cls, problems: list[dict[str, Any]], rows: int) -> RowsInvalid:
        bad_rows = len({p["row"] for p in problems})
        return cls(
            f"{len(problems)} problem(s) in {bad_rows} of {rows} rows; nothing was written.",
            extra={"rows": problems},
        )


def _check_row(project: Project, index: int, row: PromptInput, problems: list[dict[str, Any]]) -> None:
    def fail(field_name: str, message: str) -> None:
        problems.append({"row": index, "field": field_name, "message": message})

    try:
        validate_messages(row.messages)
    except ValueError as error:
        fail("messages", str(error))
    count = len(row.responses)
    if project.kind == Project.Kind.PAIRWISE and count not in (0, 2):
        fail("responses", f"A pairwise project takes 2 responses per prompt (or none yet); this row has {count}.")
    elif count == 1:
        fail("responses", "A prompt needs at least 2 responses to be compared (or none yet).")
    elif count > MAX_RESPONSES:
        fail("responses", f"At most {MAX_RESPONSES} responses per prompt.")
    seen: set[str] = set()
    for position, response in enumerate(row.responses):
        if response.external_id in seen:
            fail(f"responses.{position}.external_id", f"Response id {response.external_id!r} appears twice.")
        seen.add(response.external_id)


def prompt_bulk_create(*, project: Project, rows: list[PromptInput]) -> list[Prompt]:
    """Create the prompts, their responses and one comparison each (where they have responses), atomically."""
    if not rows:
        raise ApplicationError("Send at least one prompt.", extra={"field": "prompts"})
    if len(rows) > MAX_PROMPTS:
        raise ApplicationError(f"At most {MAX_PROMPTS} prompts per request.", extra={"field": "prompts"})
    problems: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows):
        _check_row(project, index, row, problems)
        if row.external_id in first_row:
            problems.append(
                {
                    "row": index,
                    "field": "external_id",
                    "message": f"Prompt id {row.external_id!r} is also in row {first_row[row.external_id]}.",
                }
            )
        first_row.setdefault(row.external_id, index)
    existing = set(
        Prompt.objects.filter(project=project, external_id__in=list(first_row)).values_list("external_id", flat=True)
    )
    for external_id in sorted(existing, key=first_row.__getitem__):
        problems.append(
            {
                "row": first_row[external_id],
                "field": "external_id",
                "message": f"Prompt id {external_id!r} already exists in this project.",
            }
        )
    if problems:
        problems.sort(key=lambda p: p["row"])
        raise RowsInvalid.of(problems, len(rows))
    try:
        return _write(project, rows)
    except IntegrityError:  # another request created one of these prompt ids since the check above
        raise Conflict("A prompt with one of these ids was created meanwhile; nothing was written.") from None


@transaction.atomic
def _write(project: Project, rows: list[PromptInput]) -> list[Prompt]:
    prompts = Prompt.objects.bulk_create(
        Prompt(
            project=project,
            external_id=row.external_id,
            messages=validate_messages(row.messages),
            category=row.category,
            metadata=row.metadata,
        )
        for row in rows
    )
    responses = Response.objects.bulk_create(
        Response(
            prompt=prompt,
            external_id=response.external_id,
            text=response.text,
            generator=response.generator,
            metadata=response.metadata,
        )
        for prompt, row in zip(prompts, rows, strict=True)
        for response in row.responses
    )
    by_prompt: dict[int, list[int]] = {}
    for response in responses:
        by_prompt.setdefault(response.prompt_id, []).append(response.pk)
    comparisons = Comparison.objects.bulk_create(
        Comparison(project=project, prompt_id=prompt_id, key=Comparison.key_for(ids), slots_left=project.overlap)
        for prompt_id, ids in by_prompt.items()
    )
    ComparisonResponse.objects.bulk_create(
        ComparisonResponse(comparison=comparison, response_id=response_id, position=position)
        for comparison in comparisons
        for position, response_id in enumerate(by_prompt[comparison.prompt_id])
    )
    return prompts
