"""``session-backend import`` and ``export``: move sessions in and out of a namespace.

``import`` reads Strands' FileSessionManager layout from a directory (``--from-file-dir``) or an S3
prefix (``--from-s3``, with the optional boto3 of ``pip install 'session-backend[s3]'``), or an NDJSON
export (``--from-ndjson``). It is idempotent: a record already stored is skipped, so running it again
after a stop resumes it. A progress bar goes to stderr and the summary to stdout; the exit status is 1
when a record failed. ``export`` writes NDJSON to stdout or ``--output``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import click
from flask.cli import with_appcontext

from .config import NAMESPACE_PATTERN
from .db import get_db
from .exporter import export_lines
from .importer import Importer, decode_line
from .layout_sources import DirectorySource, LayoutSource, S3Source, parse_s3_url
from .strands_layout import Failure, session_records


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAMESPACE_PATTERN.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '.', '_' or '-'")
    return value


_NAMESPACE = click.option(
    "--namespace", default="default", show_default=True, callback=_namespace, help="The namespace to work in."
)


def _s3_source(url: str) -> S3Source:
    try:
        import boto3
    except ImportError:
        raise click.ClickException("--from-s3 needs boto3: pip install 'session-backend[s3]'") from None
    try:
        bucket, prefix = parse_s3_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--from-s3") from None
    # boto3 finds credentials, region and endpoint (AWS_ENDPOINT_URL) as the AWS CLI does.
    return S3Source(boto3.client("s3"), bucket, prefix)


def _import_layout(importer: Importer, source: LayoutSource) -> None:
    sessions = source.session_dirs()
    with click.progressbar(sessions, label="Importing sessions", file=sys.stderr) as bar:
        for session_dir in bar:
            for item in session_records(source, session_dir):
                if isinstance(item, Failure):
                    importer.summary.fail(item.kind, item.label, item.reason)
                else:
                    importer.add_fields(item.kind, item.fields)
            importer.flush()  # a session at a time: what a stopped import stored stays stored


def _lines(stream: IO[str]) -> Iterator[str]:
    for line in stream:
        if line.strip():
            yield line.rstrip("\r\n")


def _import_ndjson(importer: Importer, path: Path) -> None:
    with (
        path.open(encoding="utf-8") as stream,
        click.progressbar(length=path.stat().st_size, label="Importing records", file=sys.stderr) as bar,
    ):
        for number, line in enumerate(_lines(stream), start=1):
            bar.update(len(line.encode("utf-8")) + 1)
            decoded = decode_line(line)
            if isinstance(decoded, str):
                importer.summary.fail("line", str(number), decoded)
                continue
            importer.add_text(*decoded, text=line)
    importer.flush()


@click.command("import")
@click.option(
    "--from-file-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A FileSessionManager's storage_dir.",
)
@click.option("--from-s3", metavar="s3://BUCKET/PREFIX", help="An S3SessionManager's bucket and prefix (needs boto3).")
@click.option(
    "--from-ndjson", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A file `export` wrote."
)
@_NAMESPACE
@with_appcontext
def import_command(from_file_dir: Path | None, from_s3: str | None, from_ndjson: Path | None, namespace: str) -> None:
    """Import sessions into NAMESPACE from Strands' file or S3 layout, or from an NDJSON export.

    Records already stored are skipped, so a second run imports nothing twice and resumes a stopped one.
    """
    given = [option for option in (from_file_dir, from_s3, from_ndjson) if option is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --from-file-dir, --from-s3 and --from-ndjson")
    importer = Importer(get_db(), namespace)
    if from_ndjson is not None:
        _import_ndjson(importer, from_ndjson)
    else:
        _import_layout(importer, DirectorySource(from_file_dir) if from_file_dir else _s3_source(str(from_s3)))
    for line in importer.summary.lines():
        click.echo(line)
    if importer.summary.failures:
        sys.exit(1)


@click.command("export")
@_NAMESPACE
@click.option("--session", "session_id", help="Only this session (and its byte-store objects).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@with_appcontext
def export_command(namespace: str, session_id: str | None, output: Path | None) -> None:
    """Export NAMESPACE (or one session of it) as NDJSON, one record a line, in a fixed order."""
    # Bytes, not text: the file is UTF-8 whatever the locale, and its bytes are the same on every run.
    lines = export_lines(get_db(), namespace, session_id)
    first = next(lines, None)
    if first is None and session_id is not None:
        raise click.ClickException(f"namespace {namespace!r} holds no session {session_id!r}")
    lines = itertools.chain([] if first is None else [first], lines)
    if output is None:
        _write(sys.stdout.buffer, lines)
    else:
        with output.open("wb") as target:
            _write(target, lines)


def _write(target: IO[bytes], lines: Iterable[str]) -> None:
    for line in lines:
        target.write(line.encode("utf-8") + b"\n")
