"""A Strands model that streams pre-written replies, so agents run offline and deterministically.

Each reply is one of:
- a ``str``: the assistant answers with that text;
- ``{"tool": name, "input": {...}}``: the assistant calls a tool;
- ``{"text": str, "redact_user": str}``: answers, and (like a guardrail) asks for the user's input to be
  replaced by ``redact_user``;
- an ``Exception``: the model call fails with it;
- a callable taking the conversation (``Messages``) and returning any of the above.

Every call records the messages the model was shown in ``calls``, so a test can check what history an agent
sent after it was restored from a session.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

from strands.models.model import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent

Reply = str | dict[str, Any] | Exception | Callable[[Messages], Any]


class ScriptedModel(Model):
    """Streams the given replies in order; raises ``RuntimeError`` when they run out."""

    def __init__(self, replies: Iterable[Reply]) -> None:
        """Create the model with the replies it will give, one per model call."""
        self._replies = iter(replies)
        self._ids = itertools.count(1)
        self.calls: list[Messages] = []
        self.config: dict[str, Any] = {}

    def update_config(self, **model_config: Any) -> None:
        """Store configuration (unused)."""
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        """Return the stored configuration."""
        return self.config

    async def structured_output(
        self, output_model: Any, prompt: Messages, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Structured output is not scripted."""
        raise NotImplementedError("ScriptedModel has no structured output")
        yield {}  # pragma: no cover  (makes this an async generator)

    async def stream(
        self, messages: Messages, tool_specs: Any = None, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream the next scripted reply as Bedrock-style events."""
        self.calls.append(json.loads(json.dumps(messages, default=repr)))
        reply: Any = next(self._replies, None)
        if reply is None:
            raise RuntimeError("ScriptedModel has no reply left")
        if callable(reply):
            reply = reply(messages)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, str):
            reply = {"text": reply}
        yield {"messageStart": {"role": "assistant"}}
        if "tool" in reply:
            tool_use_id = f"tool-{next(self._ids)}"
            yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": tool_use_id, "name": reply["tool"]}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(reply.get("input", {}))}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        else:
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": reply["text"]}}}
            yield {"contentBlockStop": {}}
            if "redact_user" in reply:
                yield {"redactContent": {"redactUserContentMessage": reply["redact_user"]}}
            yield {"messageStop": {"stopReason": "end_turn"}}
        yield {
            "metadata": {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}}
        }
