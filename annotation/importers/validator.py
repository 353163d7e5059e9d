"""Checks an import item against the rest of the file and against the project, before anything is written.

Memory stays bounded at a million rows: duplicates are tracked by 64-bit hashes, and content is only remembered
for explicit ids (a content-derived id already implies its content).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from annotation.importers.records import ImportItem, JudgmentIn, PromptIn, RowError, canonical_json
from annotation.importers.writer import prompt_ids_by_external_id
from annotation.models import Judge, Project, Prompt, Response

MAX_EXTERNAL_ID = 255


def _hash64(*parts: Any) -> int:
    payload = canonical_json(list(parts))  # the same bytes as json.dumps below, faster for strings and lists
    if payload is None:
        payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big")


def _content_derived(external_id: str) -> bool:
    return external_id.startswith(("p-", "r-"))


class ItemValidator:
    def __init__(self, *, project: Project, refers_to_existing: bool, id_field: str = "prompt_id") -> None:
        self.project = project
        self.refers_to_existing = refers_to_existing
        # The source column the prompt id comes from (PandaLM's idx, ...), so errors name a column the user has.
        self.id_field = id_field
        self._prompt_content: dict[int, tuple[int, int]] = {}  # hash(prompt id) -> (hash(content), row)
        self._response_content: dict[int, tuple[int, int]] = {}
        self._judgment_rows: dict[int, int] = {}  # hash(judge, prompt, response set, shown order) -> first row
        self._order_given: dict[int, tuple[bool, int]] = {}  # hash(judge, prompt, response set) -> (ordered, row)
        # This project's judges only: another project's judge of the same name is another judge, and nothing about
        # it (not even that it exists) may show in this project's messages.
        self._judge_kinds: dict[str, str] = dict(Judge.objects.filter(project=project).values_list("name", "kind"))
        self._project_has_prompts = Prompt.objects.filter(project=project).exists()
        # Existing prompts/responses, fetched lazily per batch of referenced ids.
        self._pending: list[tuple[int, ImportItem]] = []

    def check(self, item: ImportItem, row: int) -> None:
        """Raise RowError for the first problem of this item that needs no database."""
        prompt = item.prompt
        if isinstance(prompt, PromptIn):
            self._check_prompt(prompt, row)
        elif not self.refers_to_existing:
            raise RowError("prompt", "missing")
        response_ids = [r.external_id for r in item.responses]
        if len(set(response_ids)) != len(response_ids):
            index = next(i for i, rid in enumerate(response_ids) if rid in response_ids[:i])
            where = item.responses[index].source_field or f"responses[{index}]"
            raise RowError(f"{where}.id", f"repeats the id {response_ids[index]!r} of an earlier response")
        for response in item.responses:
            if not response.external_id or len(response.external_id) > MAX_EXTERNAL_ID:
                raise RowError("responses", f"response id must be 1-{MAX_EXTERNAL_ID} characters")
            if not _content_derived(response.external_id):
                key = _hash64(item.prompt_external_id, response.external_id)
                content = _hash64(response.text, response.conversation)
                first = self._response_content.setdefault(key, (content, row))
                if first[0] != content:
                    where = f"{response.source_field}.text" if response.source_field else "responses"
                    raise RowError(
                        where, f"response {response.external_id!r} has different text than at row {first[1]}"
                    )
        for judgment in item.judgments:
            self._check_judgment(item, judgment, set(response_ids), row)

    def _check_prompt(self, prompt: PromptIn, row: int) -> None:
        if not prompt.external_id or len(prompt.external_id) > MAX_EXTERNAL_ID:
            raise RowError(self.id_field, f"must be 1-{MAX_EXTERNAL_ID} characters")
        if _content_derived(prompt.external_id):
            return
        key = _hash64(prompt.external_id)
        content = _hash64(prompt.messages, prompt.category)
        first = self._prompt_content.setdefault(key, (content, row))
        if first[0] != content:
            raise RowError(
                self.id_field, f"duplicate id {prompt.external_id!r} with different content than row {first[1]}"
            )

    def _check_judgment(self, item: ImportItem, judgment: JudgmentIn, response_ids: set[str], row: int) -> None:
        members = judgment.response_ids()
        if judgment.no_verdict:
            if judgment.ranking:
                raise RowError("verdict", "a judgment without a verdict places no responses")
            if len(set(members)) != len(members) or len(members) < 2:
                raise RowError("responses", "a comparison needs 2 or more different responses")
        else:
            self._check_ranking(judgment, members)
        if item.responses and not set(members) <= response_ids:
            raise RowError("ranking", "refers to a response this row does not define")
        if judgment.shown_order is not None and sorted(judgment.shown_order) != sorted(members):
            raise RowError("shown_order", "must list each response of the comparison exactly once")
        name = judgment.judge.name
        if name.startswith(Judge.RESERVED_PREFIX):
            raise RowError("judge", f"names starting {Judge.RESERVED_PREFIX!r} are reserved for annotators' own judges")
        if not name.strip() or len(name) > 200:
            raise RowError("judge", "a judge name must be 1-200 characters")
        known_kind = self._judge_kinds.setdefault(name, judgment.judge.kind)
        if known_kind != judgment.judge.kind:
            raise RowError(
                "judge",
                f"judge {name!r} is of kind {known_kind!r} in this project, not {judgment.judge.kind!r} "
                "(use another name, or --judge-kind to set the kind for the whole file)",
            )
        # Judges other than people keep one judgment per shown order; a person's is one per comparison.
        order = judgment.shown_order if judgment.judge.kind != Judge.Kind.HUMAN else None
        if judgment.judge.kind != Judge.Kind.HUMAN:
            ordered = self._order_given.setdefault(
                _hash64(name, item.prompt_external_id, sorted(members)), (order is not None, row)
            )
            if ordered[0] != (order is not None):
                raise RowError(
                    "shown_order",
                    f"{name!r} judged these responses at row {ordered[1]} "
                    f"{'with' if ordered[0] else 'without'} a shown order; give it for both or neither",
                )
        key = _hash64(name, item.prompt_external_id, sorted(members), order)
        first = self._judgment_rows.setdefault(key, row)
        if first != row:
            shown = " in this shown order" if order is not None else ""
            raise RowError(
                "judge", f"duplicate: {name!r} already judged these responses of this prompt{shown} at row {first}"
            )

    @staticmethod
    def _check_ranking(judgment: JudgmentIn, members: list[str]) -> None:
        ranked = [rid for group in judgment.ranking for rid in group]
        if any(not group for group in judgment.ranking):
            raise RowError("ranking", "has an empty group")
        if len(set(ranked)) != len(ranked):
            raise RowError("ranking", "places a response twice")
        if len(ranked) < 2:
            raise RowError("ranking", "orders fewer than 2 responses")
        if sorted(members) != sorted(ranked):
            raise RowError("ranking", "does not order exactly the responses of its comparison")

    # -- checks against the database, a batch at a time ----------------------------------------------------------

    def needs_database(self) -> bool:
        return self.refers_to_existing or self._project_has_prompts

    def check_against_database(self, batch: list[tuple[int, ImportItem]]) -> list[tuple[int, RowError]]:
        """Prompts that must exist do; prompts that exist are not redefined with other content."""
        if not batch or not self.needs_database():
            return []
        wanted = sorted({item.prompt_external_id for _, item in batch})
        # Ids first, one unique-index probe each (an external_id__in filter scans the project's prompts), then by key.
        found = list(prompt_ids_by_external_id(self.project.pk, wanted).values())
        prompts = {p.external_id: p for p in Prompt.objects.filter(id__in=found).only("id", "external_id", "messages")}
        responses: dict[tuple[str, str], str] = {}
        for prompt_ext, response_ext, text in Response.objects.filter(prompt_id__in=found).values_list(
            "prompt__external_id", "external_id", "text"
        ):
            responses[(prompt_ext, response_ext)] = text
        problems: list[tuple[int, RowError]] = []
        for row, item in batch:
            stored = prompts.get(item.prompt_external_id)
            if isinstance(item.prompt, str):
                if stored is None:
                    problems.append(
                        (
                            row,
                            RowError(self.id_field, f"unknown id {item.prompt!r}: import the data it refers to first"),
                        )
                    )
                    continue
                needed = {rid for j in item.judgments for rid in j.response_ids()}
                missing = sorted(rid for rid in needed if (item.prompt, rid) not in responses)
                if missing:
                    problems.append(
                        (row, RowError("responses", f"prompt {item.prompt!r} has no response {missing[0]!r}"))
                    )
                continue
            if stored is not None and stored.messages != item.prompt.messages:
                problems.append(
                    (
                        row,
                        RowError(
                            self.id_field,
                            f"prompt {item.prompt_external_id!r} exists in the project with other messages",
                        ),
                    )
                )
                continue
            for response in item.responses:
                text = responses.get((item.prompt_external_id, response.external_id))
                if text is not None and text != response.text:
                    where = f"{response.source_field}.text" if response.source_field else "responses"
                    problems.append(
                        (row, RowError(where, f"response {response.external_id!r} exists with different text"))
                    )
                    break
        return problems
