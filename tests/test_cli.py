"""The CLI frame: exit codes and one-line errors."""

from __future__ import annotations

import click
import pytest

from alignwatch.cli import cli, main


@cli.command("zz-exit-code-probe", hidden=True)
@click.pass_context
def _exit_probe(ctx: click.Context) -> None:
    ctx.exit(3)


def test_a_command_exit_code_reaches_the_shell() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["zz-exit-code-probe"])
    assert exited.value.code == 3


def test_an_expected_error_is_one_line_and_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["db", "current", "--store", "nonsense://"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: store URL 'nonsense://': unsupported database")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
