"""``alignwatch events``: the event contract from the command line.

- ``events schemas --check|--write`` compares (or regenerates) ``docs/schemas/*.json`` and
  the generated section of ``docs/events.md`` with what ``alignwatch.stream.contract`` declares;
- ``events validate FILE.jsonl`` decodes every line of a file of structured-mode events, as
  the consumer would, and reports each rejected line with its reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click

from alignwatch.cli.options import settings_from
from alignwatch.errors import AlignwatchError, ConfigError
from alignwatch.stream.contract import DecodeLimits, Rejection
from alignwatch.stream.decode import decode_structured
from alignwatch.stream.schemas import stale_files, write_files

__all__ = ["ContractError", "FileCheck", "check_lines", "events"]


class ContractError(AlignwatchError):
    """Generated contract files are out of date, or a file of events has rejected lines."""


@dataclass
class FileCheck:
    """The outcome of decoding a file of events line by line."""

    valid: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, message)

    @property
    def reasons(self) -> Counter[str]:
        """Rejected lines per reason code."""
        return Counter(reason for _, reason, _ in self.rejected)


def check_lines(lines: Iterable[bytes], limits: DecodeLimits) -> FileCheck:
    """Decode every non-blank line; count valid events and repeated (source, id) keys."""

    outcome = FileCheck()
    seen: set[tuple[str, str]] = set()
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        result = decode_structured(raw, limits)
        if isinstance(result, Rejection):
            outcome.rejected.append((number, str(result.reason), result.message))
            continue
        outcome.valid += 1
        if result.key in seen:
            outcome.duplicates += 1
        else:
            seen.add(result.key)
    return outcome


@click.group()
def events() -> None:
    """The event contract: JSON Schemas and validation of event files."""


@events.command("schemas")
@click.option("--check", "mode", flag_value="check", default=True, help="Fail when the generated files are stale (default).")
@click.option("--write", "mode", flag_value="write", help="Regenerate the files.")
@click.option(
    "--dir",
    "schema_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("docs/schemas"),
    show_default=True,
    help="Directory of the JSON Schemas.",
)
@click.option(
    "--doc",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("docs/events.md"),
    show_default=True,
    help="Producer reference whose generated section is kept in step.",
)
def schemas(mode: str, schema_dir: Path, doc: Path) -> None:
    """Check (or --write) the JSON Schemas and the event reference.

    The files are generated from the payload models in stream.contract: docs/schemas/*.json
    and the generated section of docs/events.md.
    """

    if mode == "write":
        changed = write_files(schema_dir, doc)
        click.echo(f"wrote {len(changed)} file(s)" + "".join(f"\n  {path}" for path in changed))
        return
    problems = stale_files(schema_dir, doc)
    if problems:
        raise ContractError(
            f"{len(problems)} generated file(s) stale ({'; '.join(problems)}); run `alignwatch events schemas --write`"
        )
    click.echo(f"{schema_dir} and {doc} are up to date")


@events.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--live", is_flag=True, help="Apply the age limit of live topics (ALIGNWATCH_MAX_AGE_S).")
@click.option("--show", default=20, show_default=True, type=click.IntRange(min=0), help="Rejected lines to print.")
def validate(file: Path, live: bool, show: int) -> None:
    """Check a file of events as the consumer would.

    FILE holds one structured-mode CloudEvent per line (JSON lines). Every rejected line is
    printed with its reason; the exit status is 1 when any line is rejected.
    """

    settings = settings_from()
    try:
        handle = open(file, "rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from exc
    with handle:
        outcome = check_lines(handle, DecodeLimits.from_settings(settings, live=live))
    for number, reason, message in outcome.rejected[:show]:
        click.echo(f"{file}:{number}: {reason}: {message}")
    if len(outcome.rejected) > show:
        click.echo(f"... {len(outcome.rejected) - show} more rejected line(s)")
    by_reason = ", ".join(f"{reason} {count}" for reason, count in sorted(outcome.reasons.items()))
    summary = f"{outcome.valid} valid ({outcome.duplicates} repeat an earlier (source, id)), {len(outcome.rejected)} rejected"
    if outcome.rejected:
        raise ContractError(f"{file}: {summary}: {by_reason}")
    click.echo(f"{file}: {summary}")
