"""Conversations as lists of {"role", "content"} messages: validation and parsing of transcript formats."""

from __future__ import annotations

import re
from typing import Any

ROLES = ("system", "user", "assistant")
_ROLE_ALIASES = {"human": "user", "prompter": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}

Message = dict[str, str]


def normalise_role(role: Any) -> str:
    if not isinstance(role, str):
        raise ValueError(f"role must be a string, got {type(role).__name__}")
    lowered = role.strip().lower()
    lowered = _ROLE_ALIASES.get(lowered, lowered)
    if lowered not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return lowered


def validate_messages(messages: Any) -> list[Message]:
    """Return a clean copy of a message list, or raise ValueError saying what is wrong and where."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("must be a non-empty list of {role, content} messages")
    clean: list[Message] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"message {index} is a {type(message).__name__}, not an object")
        if "role" not in message or "content" not in message:
            raise ValueError(f"message {index} needs both 'role' and 'content'")
        content = message["content"]
        if not isinstance(content, str):
            raise ValueError(f"message {index} content is a {type(content).__name__}, not a string")
        try:
            role = normalise_role(message["role"])
        except ValueError as error:
            raise ValueError(f"message {index}: {error}") from None
        clean.append({"role": role, "content": content})
    return clean


_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def parse_hh_transcript(text: str) -> list[Message]:
    """Split an HH-RLHF transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") into messages.

    Only the "\\n\\nHuman:" / "\\n\\nAssistant:" markers split turns: a "Human:" inside a turn's text stays text.
    """
    if not isinstance(text, str):
        raise ValueError(f"must be a string, got {type(text).__name__}")
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise ValueError('must start with "\\n\\nHuman:"')
    if len(parts) < 3:
        raise ValueError('has no "\\n\\nHuman:" / "\\n\\nAssistant:" turns')
    messages: list[Message] = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        messages.append({"role": role, "content": content.strip()})
    return messages


def render_text(messages: list[Message]) -> str:
    """A plain transcript, for places that need one string (search, hashing)."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
