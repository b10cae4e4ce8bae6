"""What the viewer shows of a stored message: its content blocks, each reduced to what its template needs.

A message is stored as Strands serialised it (strands/types/content.py): ``{"role", "content": [block]}``,
each block one of ``text``, ``toolUse``, ``toolResult``, ``image``, ``document``, ``reasoningContent``
and others, with bytes as ``{"__bytes_encoded__": true, "data": <base64>}``. Anything of another shape is
shown as JSON, never dropped. The templates escape every string; nothing here builds HTML.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

# Formats an <img> may show from a data: URI; Strands' ImageFormat is these four.
IMAGE_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


@dataclass(frozen=True)
class Block:
    """One content block as the viewer renders it: ``kind`` picks the template's branch."""

    kind: str
    text: str = ""
    name: str = ""
    detail: str = ""
    json: str = ""
    data_uri: str = ""
    children: tuple[Block, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ShownMessage:
    """A message of a conversation: its id, role, times, blocks, and whether it is the redacted version."""

    message_id: int
    role: str
    created_at: str
    updated_at: str
    redacted: bool
    blocks: tuple[Block, ...]


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON, keys in their stored order, non-ASCII as itself."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def _stored_bytes(value: Any) -> str | None:
    """The base64 text of a stored bytes value, or None when ``value`` is not one (or is malformed)."""
    if isinstance(value, dict) and value.get("__bytes_encoded__") is True and isinstance(value.get("data"), str):
        data = value["data"]
        return data if _BASE64.match(data) else None
    return None


def _byte_count(base64_text: str) -> int:
    try:
        return len(base64.b64decode(base64_text, validate=True))
    except (binascii.Error, ValueError):
        return 0


def _image(image: Any) -> Block:
    if not isinstance(image, dict):
        return Block("other", name="image", json=pretty_json(image))
    image_format = image.get("format")
    source = image.get("source")
    data = _stored_bytes(source.get("bytes")) if isinstance(source, dict) else None
    mime = IMAGE_FORMATS.get(image_format) if isinstance(image_format, str) else None
    if data is None or mime is None:
        return Block("other", name="image", json=pretty_json(image))
    return Block(
        "image", name=str(image_format), detail=f"{_byte_count(data):,} bytes", data_uri=f"data:{mime};base64,{data}"
    )


def _document(document: Any) -> Block:
    if not isinstance(document, dict):
        return Block("other", name="document", json=pretty_json(document))
    source = document.get("source")
    data = _stored_bytes(source.get("bytes")) if isinstance(source, dict) else None
    size = f"{_byte_count(data):,} bytes" if data is not None else "no bytes stored"
    return Block("document", name=str(document.get("name", "")), detail=f"{document.get('format', '?')}, {size}")


def _reasoning(reasoning: Any) -> Block:
    if isinstance(reasoning, dict):
        text = reasoning.get("reasoningText")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            return Block("reasoning", text=text["text"])
        if "redactedContent" in reasoning:
            return Block("reasoning", detail="redacted by the model")
    return Block("other", name="reasoningContent", json=pretty_json(reasoning))


def _tool_use(tool_use: Any) -> Block:
    if not isinstance(tool_use, dict):
        return Block("other", name="toolUse", json=pretty_json(tool_use))
    return Block(
        "tool_use",
        name=str(tool_use.get("name", "")),
        detail=str(tool_use.get("toolUseId", "")),
        json=pretty_json(tool_use.get("input")),
    )


def _tool_result(result: Any) -> Block:
    if not isinstance(result, dict):
        return Block("other", name="toolResult", json=pretty_json(result))
    content = result.get("content")
    children = tuple(block_of(item) for item in content) if isinstance(content, list) else ()
    return Block(
        "tool_result", name=str(result.get("status", "")), detail=str(result.get("toolUseId", "")), children=children
    )


def block_of(block: Any) -> Block:
    """The :class:`Block` for one stored content block (a tool result's items included)."""
    if not isinstance(block, dict) or len(block) != 1:
        return Block("other", json=pretty_json(block))
    ((kind, value),) = block.items()
    if kind == "text" and isinstance(value, str):
        return Block("text", text=value)
    if kind == "json":
        return Block("json", json=pretty_json(value))
    if kind == "toolUse":
        return _tool_use(value)
    if kind == "toolResult":
        return _tool_result(value)
    if kind == "image":
        return _image(value)
    if kind == "document":
        return _document(value)
    if kind == "reasoningContent":
        return _reasoning(value)
    return Block("other", name=kind, json=pretty_json(value))


def shown_message(stored: dict[str, Any]) -> ShownMessage:
    """A message as the API returns it (``message``, ``redact_message``, times), ready for its template.

    A redacted message shows only its redaction: the original is what redaction hides.
    """
    redacted = stored.get("redact_message") is not None
    message = stored["redact_message"] if redacted else stored.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    blocks = (
        tuple(block_of(item) for item in content)
        if isinstance(content, list)
        else (Block("other", json=pretty_json(message)),)
    )
    role = message.get("role") if isinstance(message, dict) else None
    return ShownMessage(
        message_id=stored["message_id"],
        role=role if isinstance(role, str) else "?",
        created_at=stored.get("created_at", ""),
        updated_at=stored.get("updated_at", ""),
        redacted=redacted,
        blocks=blocks,
    )
