"""Where a Strands session layout is read from: a FileSessionManager's directory or an S3SessionManager's
bucket and prefix. Both give the session folders, the files under one, and a file's bytes; the reading
of what the files mean is app/strands_layout.py's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

SESSION_PREFIX = "session_"


class LayoutError(Exception):
    """A file of the layout that cannot be read as Strands wrote it; the message says which and why."""


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
