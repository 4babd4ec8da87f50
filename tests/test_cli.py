"""The CLI frame: exit codes and one-line errors."""

from __future__ import annotations

import click
import pytest

from alignwatch.cli import COMMANDS, cli, main, summary


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


def test_the_command_list_read_from_the_sources_is_the_one_click_gives_with_every_command_imported() -> None:
    import importlib
    import subprocess
    import sys
    from pathlib import Path


    # every command imported, listed by click itself
    eager = click.Group(name="alignwatch", help=cli.help,
                        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})  # fmt: skip
    eager.params = list(cli.params)
    for name, target in COMMANDS.items():
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        eager.add_command(command, name)
        for width in (20, 45, 200):
            assert click.Command(name, help=summary(target)).get_short_help_str(width) == command.get_short_help_str(width), name
    with click.Context(eager, info_name="alignwatch", **eager.context_settings) as ctx:
        expected = eager.get_help(ctx)
    # the console script, in a fresh interpreter: it lists the commands without importing them
    probe = ("import sys; from alignwatch.cli import main; sys.argv = ['alignwatch', '--help']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('alignwatch.cli.') and m != 'alignwatch.cli.logs'))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    help_text, imported = result.stdout.rstrip("\n").rsplit("\n", 1)
    assert help_text.rstrip() == expected.rstrip()
    assert imported == "[]"
