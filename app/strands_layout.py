"""Reading the tree Strands' FileSessionManager writes (and S3SessionManager, under a bucket's prefix).

The layout, from strands/session/file_session_manager.py (strands-agents 1.62)::

    <root>/session_<session_id>/session.json
                               /agents/agent_<agent_id>/agent.json
                               /agents/agent_<agent_id>/messages/message_<n>.json
                               /multi_agents/multi_agent_<id>/multi_agent.json

Each session becomes records in the shape of the NDJSON export (app/exporter.py): the session, each
agent followed by its messages in message_id order, then its multi-agent states. A file that cannot be
read becomes a Failure naming it, and the rest of the session is still read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

SESSION_PREFIX = "session_"
AGENT_PREFIX = "agent_"
MESSAGE_PREFIX = "message_"
MULTI_AGENT_PREFIX = "multi_agent_"


class LayoutError(Exception):
    """A file of the layout that cannot be read as Strands wrote it; the message says which and why."""


@dataclass(frozen=True)
class Record:
    """One record to import: its kind (session, agent, message, multi_agent) and its fields."""

    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """What could not be read, and why."""

    kind: str
    label: str
    reason: str


class LayoutSource(Protocol):
    """Where a layout lives: a directory or an S3 prefix. Paths inside a session use '/'."""

    def session_dirs(self) -> list[str]:
        """The names of the session folders (``session_<id>``), sorted."""
        ...

    def files(self, session_dir: str) -> list[str]:
        """The paths of the files under ``session_dir``, relative to it."""
        ...

    def read(self, session_dir: str, path: str) -> bytes:
        """The bytes of one file; raises LayoutError when it cannot be read."""
        ...


class DirectorySource:
    """A FileSessionManager's ``storage_dir``."""

    def __init__(self, root: Path) -> None:
        """Read the layout under ``root``."""
        self.root = root

    def session_dirs(self) -> list[str]:
        """The session folders, sorted; symbolic links are skipped, as Strands refuses to follow them."""
        return sorted(
            entry.name
            for entry in os.scandir(self.root)
            if entry.name.startswith(SESSION_PREFIX) and entry.is_dir(follow_symlinks=False)
        )

    def files(self, session_dir: str) -> list[str]:
        """Every regular file under the session folder, as paths relative to it."""
        base = self.root / session_dir
        found = []
        for folder, _, names in os.walk(base):
            for name in names:
                found.append((Path(folder) / name).relative_to(base).as_posix())
        return sorted(found)

    def read(self, session_dir: str, path: str) -> bytes:
        """The file's bytes; a symbolic link is refused, as FileSessionManager refuses it."""
        full = self.root / session_dir / path
        if full.is_symlink():
            raise LayoutError(f"{session_dir}/{path}: a symbolic link, not read")
        try:
            return full.read_bytes()
        except OSError as exc:
            raise LayoutError(f"{session_dir}/{path}: {exc.strerror}") from None


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix without surrounding '/'); raises ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError("expected s3://bucket or s3://bucket/prefix")
    return parts.netloc, parts.path.strip("/")


class S3Source:
    """An S3SessionManager's bucket and prefix, read with boto3 (the optional `s3` extra)."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        """Read the layout under ``prefix`` of ``bucket`` with a boto3 S3 ``client``."""
        self.client, self.bucket = client, bucket
        # S3SessionManager puts sessions at "<prefix>/session_<id>/", or at the bucket's root.
        self.base = f"{prefix}/" if prefix else ""

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, **kwargs)

    def session_dirs(self) -> list[str]:
        """The session "folders" directly under the prefix, sorted."""
        names = [
            common["Prefix"][len(self.base) :].rstrip("/")
            for page in self._pages(Prefix=f"{self.base}{SESSION_PREFIX}", Delimiter="/")
            for common in page.get("CommonPrefixes", [])
        ]
        return sorted(names)

    def files(self, session_dir: str) -> list[str]:
        """Every object under the session's prefix, relative to it."""
        start = f"{self.base}{session_dir}/"
        return sorted(
            item["Key"][len(start) :] for page in self._pages(Prefix=start) for item in page.get("Contents", [])
        )

    def read(self, session_dir: str, path: str) -> bytes:
        """The object's bytes."""
        from botocore.exceptions import BotoCoreError, ClientError  # boto3's own dependency: the s3 extra

        key = f"{self.base}{session_dir}/{path}"
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise LayoutError(f"{session_dir}/{path}: {exc}") from None
        return body


def _document(source: LayoutSource, session_dir: str, path: str) -> dict[str, Any]:
    try:
        document = json.loads(source.read(session_dir, path))
    except ValueError as exc:
        raise LayoutError(f"{session_dir}/{path}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise LayoutError(f"{session_dir}/{path}: not a JSON object")
    return document


def _message_number(path: str) -> int:
    """n of ``.../messages/message_<n>.json``, the order Strands lists them in."""
    return int(path.rsplit("/", 1)[1][len(MESSAGE_PREFIX) : -len(".json")])


def _is_message(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(MESSAGE_PREFIX) and name.endswith(".json") and name[len(MESSAGE_PREFIX) : -5].isdigit()


def session_records(source: LayoutSource, session_dir: str) -> Iterator[Record | Failure]:
    """The records of one session folder, parents before children; a file that fails is a Failure."""
    session_id = session_dir[len(SESSION_PREFIX) :]
    files = source.files(session_dir)
    try:
        session = _document(source, session_dir, "session.json")
    except LayoutError as exc:
        yield Failure("session", session_id, str(exc))
        return
    yield Record("session", {**session, "session_id": session_id})
    agents = sorted({p.split("/")[1] for p in files if p.startswith(f"agents/{AGENT_PREFIX}") and p.count("/") >= 2})
    for agent_dir in agents:
        yield from _agent_records(source, session_dir, session_id, agent_dir, files)
    for path in files:
        if path.startswith(f"multi_agents/{MULTI_AGENT_PREFIX}") and path.endswith("/multi_agent.json"):
            try:
                state = _document(source, session_dir, path)
            except LayoutError as exc:
                yield Failure("multi_agent", f"{session_id} {path}", str(exc))
                continue
            multi_agent_id = state.get("id", path.split("/")[1][len(MULTI_AGENT_PREFIX) :])
            yield Record("multi_agent", {"session_id": session_id, "multi_agent_id": multi_agent_id, "state": state})


def _agent_records(
    source: LayoutSource, session_dir: str, session_id: str, agent_dir: str, files: list[str]
) -> Iterator[Record | Failure]:
    agent_id = agent_dir[len(AGENT_PREFIX) :]
    messages = [p for p in files if p.startswith(f"agents/{agent_dir}/messages/") and _is_message(p)]
    try:
        agent = _document(source, session_dir, f"agents/{agent_dir}/agent.json")
    except LayoutError as exc:
        yield Failure("agent", f"{session_id}/{agent_id}", str(exc))
        # Counted, not dropped: a message cannot be stored without its agent.
        for path in sorted(messages, key=_message_number):
            yield Failure("message", f"{session_id}/{agent_id}/{_message_number(path)}", "its agent failed")
        return
    # Strands names the field _internal_state; the API and the export call it internal_state.
    internal = agent.pop("_internal_state", None)
    yield Record("agent", {**agent, "session_id": session_id, "agent_id": agent_id, "internal_state": internal or {}})
    for path in sorted(messages, key=_message_number):
        try:
            message = _document(source, session_dir, path)
        except LayoutError as exc:
            yield Failure("message", f"{session_id}/{agent_id}/{_message_number(path)}", str(exc))
            continue
        yield Record("message", {**message, "session_id": session_id, "agent_id": agent_id})
