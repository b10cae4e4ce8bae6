"""The README's "Moving data" commands, run as written by bash, on sessions Strands wrote to a directory
and to a local S3-compatible server, against the service under gunicorn: they cannot rot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
from strands import Agent
from strands.session.file_session_manager import FileSessionManager
from strands.session.s3_session_manager import S3SessionManager

from app.auth import fingerprint
from harness.database import execute
from scripted_model import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]


def moving_data_section() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- moving-data:start -->(.*?)<!-- moving-data:end -->", readme, re.DOTALL)
    assert match, "README.md has no <!-- moving-data:start --> ... <!-- moving-data:end --> section"
    return match.group(1)


def talk(manager, reply: str, prompt: str) -> None:
    """One turn of a real agent whose session ``manager`` writes."""
    Agent(model=ScriptedModel([reply]), callback_handler=None, session_manager=manager)(prompt)


def test_the_readme_commands_run_as_written(backend, clean_db, s3_endpoint, tmp_path: Path):
    section = moving_data_section()
    commands = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)[0]
    home = tmp_path / "home"
    talk(FileSessionManager(session_id="user-123", storage_dir=str(home / ".strands" / "sessions")), "Hi.", "Hello")
    boto3.client("s3").create_bucket(Bucket="my-bucket")
    talk(S3SessionManager(session_id="from-s3", bucket="my-bucket", prefix="agents"), "From S3.", "Hello")
    key = f"sb_docs_{uuid.uuid4().hex}"
    key_id, secret_hash = fingerprint(key)
    execute(
        clean_db,
        "INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (%s, 'team-a', %s)",
        (key_id, secret_hash),
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATABASE_URL": clean_db,
        "KEY": key,
        "B": f"{backend.url}/api/v1",
    }

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )

    assert ran.returncode == 0, ran.stderr
    exported = [json.loads(line) for line in (tmp_path / "team-a.ndjson").read_text().splitlines()]
    assert {r["session_id"] for r in exported if r["kind"] == "session"} == {"user-123", "from-s3"}
    one = (tmp_path / "user-123.ndjson").read_bytes()
    assert one and one == (tmp_path / "user-123-http.ndjson").read_bytes()
    # Three summaries, the README's header on each; the last import (of the export) found everything there.
    header = re.search(r"```\n(\s+imported\s+skipped\s+failed)\n", section).group(1)
    assert ran.stdout.splitlines().count(header) == 3
    assert re.search(r"^messages\s+0\s+4\s+0$", ran.stdout, re.MULTILINE), ran.stdout
