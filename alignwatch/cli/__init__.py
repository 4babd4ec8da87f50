"""The ``alignwatch`` command line.

Sub-commands live in their own modules and are imported only when used, so that
``alignwatch --help`` stays fast. Expected errors (``AlignwatchError``) become one clear
line on stderr and a non-zero exit status, never a traceback; so does an ``OSError`` about a
path that a command did not turn into an error of its own (a file that cannot be written).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import click

from alignwatch import __version__
from alignwatch.cli.logs import REDACTOR, install_redaction
from alignwatch.errors import AlignwatchError, FileAccessError

__all__ = ["COMMANDS", "cli", "main", "summary"]

# command name -> "module:attribute"; each module owns its command (or group)
COMMANDS: dict[str, str] = {
    "db": "alignwatch.cli.db:db",
    "events": "alignwatch.cli.events:events",
    "report": "alignwatch.cli.report:report",
    "run": "alignwatch.cli.run:run",
    "strategy": "alignwatch.cli.strategy:strategy",
    "consume": "alignwatch.cli.stream:consume",
    "ingest": "alignwatch.cli.stream:ingest",
    "simulate": "alignwatch.cli.stream:simulate",
    "quarantine": "alignwatch.cli.stream:quarantine_group",
    "import": "alignwatch.cli.importers:import_group",
    "metrics": "alignwatch.cli.metrics:metrics",
    "scorecard": "alignwatch.cli.metrics:scorecard",
    "explain": "alignwatch.cli.metrics:explain",
    "export": "alignwatch.cli.export:export",
    "render": "alignwatch.cli.render:render",
    "runs": "alignwatch.cli.runs:runs",
}


def summary(target: str) -> str:
    """The help text of the command ``target`` ("module:function") read from its docstring
    in the module's source, without importing the module (``alignwatch --help`` would import
    them all: about 2.5 s). Click takes a command's help from the same docstring, up to a
    form feed."""
    module_name, attribute = target.split(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return ""
    for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == attribute:
            return (ast.get_docstring(node) or "").split("\f", 1)[0]
    return ""


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their one-line help, as click lists them, from the sources."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMANDS:
                # a bare command of that help: click's own shortening
                rows.append((name, click.Command(name, help=summary(COMMANDS[name])).get_short_help_str(limit)))
            elif (command := super().get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="alignwatch")
def cli() -> None:
    """alignwatch: is your automation serving your strategy? Measured live, from events."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script.

    Installs the redaction of secrets from every log record first (``alignwatch.cli.logs``);
    the settings the commands build add their secrets to it.
    """
    install_redaction(REDACTOR)
    try:
        # without standalone mode click returns ctx.exit(n)'s code instead of raising it
        status = cli.main(args=argv, prog_name="alignwatch", standalone_mode=False)
    except AlignwatchError as exc:
        click.secho(f"error: {REDACTOR.redact(str(exc))}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.filename is None:  # not about a path (a socket, a broken pipe): unexpected here
            raise
        # a path a command reads or writes that has no message of its own: still one line
        click.secho(f"error: {REDACTOR.redact(str(FileAccessError.of('read or write', exc)))}", fg="red", err=True)
        sys.exit(FileAccessError.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
