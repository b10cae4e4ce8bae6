"""A conversation with every kind of content the viewer renders, written through the API, and signing in."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from typing import Any

from helpers import SESSIONS, agent_url, message_url

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SCRIPT_TEXT = "<script>document.title='owned'</script> look & see"
TOOL_INPUT = {"city": "Lisbon", "units": "metric"}
REDACTED_TEXT = "[the user's card number was removed]"
SECRET_TEXT = "my card is 4111 1111 1111 1111"
SEARCH_WORD = "marmalade"


def striped_png(width: int = 160, height: int = 64) -> bytes:
    """A real PNG: a red and blue striped image, built without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(b"\xd0\x20\x20" if (x // 16) % 2 == 0 else b"\x20\x40\xd0" for x in range(width))
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def stored_bytes(data: bytes) -> dict[str, Any]:
    """Bytes as Strands' session managers store them (strands.types.session.encode_bytes_values)."""
    return {"__bytes_encoded__": True, "data": base64.b64encode(data).decode()}


def conversation() -> list[dict[str, Any]]:
    """Messages (with their redactions) holding each content type the viewer renders."""
    return [
        {"message": {"role": "user", "content": [{"text": f"What goes with {SEARCH_WORD}? {SCRIPT_TEXT}"}]}},
        {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "The user wants the weather first."}}},
                    {"toolUse": {"toolUseId": "tool-1", "name": "get_weather", "input": TOOL_INPUT}},
                ],
            }
        },
        {
            "message": {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "tool-1",
                            "status": "success",
                            "content": [{"text": "18 degrees and sunny"}, {"json": {"temperature": 18}}],
                        }
                    }
                ],
            }
        },
        {
            "message": {
                "role": "user",
                "content": [
                    {"text": "Here is a picture"},
                    {"image": {"format": "png", "source": {"bytes": stored_bytes(striped_png())}}},
                ],
            }
        },
        {
            "message": {"role": "user", "content": [{"text": SECRET_TEXT}]},
            "redact_message": {"role": "user", "content": [{"text": REDACTED_TEXT}]},
        },
        {"message": {"role": "assistant", "content": [{"text": "Toast, naturally."}]}},
    ]


def store_conversation(client, session_id: str, agent_id: str = "a", headers: dict[str, str] | None = None) -> None:
    """Create the session, its agent (with state) and :func:`conversation`, failing on any non-2xx."""
    headers = headers or {}
    steps = [
        (SESSIONS, {"session_id": session_id}),
        (
            agent_url(session_id),
            {
                "agent_id": agent_id,
                "state": {"favourite": "<b>bold</b>"},
                "conversation_manager_state": {"removed_message_count": 0},
            },
        ),
    ] + [
        (message_url(session_id, agent_id), {"message_id": i, "redact_message": None, **m})
        for i, m in enumerate(conversation())
    ]
    for url, body in steps:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)


def csrf_of(page: str) -> str:
    """The CSRF token a viewer page's forms carry."""
    match = _CSRF.search(page)
    assert match, page
    return match.group(1)


def sign_in(client, key: str):
    """Sign ``client`` (Flask's test client) in to the viewer with ``key``; returns the response."""
    token = csrf_of(client.get("/ui/sign-in").get_data(as_text=True))
    return client.post("/ui/sign-in", data={"key": key, "csrf_token": token})


def snapshot_bytes(text: str) -> bytes:
    """A snapshot as SnapshotSessionManager stores it, with one message saying ``text``."""
    snapshot = {
        "schema_version": "1",
        "scope": "agent",
        "data": {"messages": [{"role": "user", "content": [{"text": text}]}], "state": {}},
    }
    return json.dumps(snapshot).encode()
