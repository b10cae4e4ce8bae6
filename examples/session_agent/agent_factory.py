"""Agent factory: a Strands agent whose conversation and state live in the session backend."""

from __future__ import annotations

import itertools
import os
import re

from strands import Agent
from strands.models.model import Model
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.content import Messages

from postgresql_session_repository import SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

SYSTEM_PROMPT = "You are a friendly assistant. Answer in one short sentence."


def create_agent(session_id: str, session_backend_url: str | None = None, *, agent_id: str = "assistant") -> Agent:
    """Create an agent that restores session ``session_id`` from the backend and stores every new message.

    Args:
        session_id: The conversation to continue (created on first use).
        session_backend_url: The backend's URL; by default ``SESSION_BACKEND_URL``, else http://localhost:8001.
        agent_id: The agent's id within the session.
    """
    repository = SyncPostgreSQLSessionRepository(base_url=session_backend_url)
    session_manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
    return Agent(
        agent_id=agent_id,
        model=default_model(),
        system_prompt=SYSTEM_PROMPT,
        session_manager=session_manager,
        callback_handler=None,
    )


def default_model() -> Model | str:
    """The model to use: ``SESSION_AGENT_MODEL`` if set, else an offline scripted model.

    ``SESSION_AGENT_MODEL`` is a model id for Strands' default provider (Amazon Bedrock; AWS credentials
    come from the usual AWS environment). Any other Strands ``Model`` can be passed to ``Agent`` instead.
    """
    model_id = os.environ.get("SESSION_AGENT_MODEL")
    if model_id:
        return model_id
    return ScriptedModel(itertools.repeat(offline_reply))


def offline_reply(messages: Messages) -> str:
    """Answer from the conversation history alone, so the demo shows what a restored agent remembers."""
    said = [block["text"] for m in messages if m["role"] == "user" for block in m["content"] if "text" in block]
    latest = said[-1] if said else ""
    names = [match.group(1) for text in said for match in re.finditer(r"my name is (\w+)", text, re.IGNORECASE)]
    if re.search(r"what is my name", latest, re.IGNORECASE):
        return f"Your name is {names[-1]}." if names else "You have not told me your name yet."
    if re.search(r"my name is (\w+)", latest, re.IGNORECASE):
        return f"Nice to meet you, {names[-1]}!"
    return f"You have sent me {len(said)} messages in this session."
