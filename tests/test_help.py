"""The command line's help (issue 16): every option explains itself and shows its default,
flags take no value, and docs/cli.md matches --help."""

from pathlib import Path

import pytest
import typer

from vaezip.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands():
    group = typer.main.get_command(app)
    return {name: group.get_command(None, name) for name in group.list_commands(None)}


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_has_help_and_a_visible_default(name, run_cli):
    command = _commands()[name]
    ctx = typer.Context(command, info_name=name)
    rendered = run_cli(name, "--help").out
    assert run_cli(name, "--help").code == 0
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        opts, text = param.get_help_record(ctx)
        assert text.strip(), f"{name} {opts}: no help"
        takes_value = not param.is_flag or param.secondary_opts
        if takes_value and not param.required:
            assert "default:" in text, f"{name} {opts}: no default shown in {text!r}"
        assert "<bool>" not in opts, f"{name} {opts}: a flag shown as taking a value"
        flat = " ".join(rendered.split())
        assert " ".join(text.split())[:30] in flat, f"{name} {opts}: help not rendered"


def test_a_flag_does_not_swallow_true_as_a_value(run_cli, tmp_path):
    r = run_cli("encode", "--force", "true", "-o", tmp_path / "x.vz")
    assert r.code == 1 and "true: no such file or directory" in r.err  # 'true' is an input


def test_the_command_reference_is_the_help():
    """docs/cli.md is what --help prints (docs/make_reference.py)."""
    import sys

    sys.path.insert(0, str(README.parent / "docs"))
    from make_reference import CLI_DOC, render

    assert CLI_DOC.read_text() == render(), (
        "docs/cli.md out of date: run python docs/make_reference.py")
