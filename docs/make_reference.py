"""Write docs/cli.md, the command reference, from the commands' own --help, so the two
cannot disagree (tests/test_help.py checks that they do not).

Run: python docs/make_reference.py
"""

from __future__ import annotations

from pathlib import Path

CLI_DOC = Path(__file__).resolve().parent / "cli.md"


def render() -> str:
    """docs/cli.md's text: each command's --help, as `vaezip CMD --help` prints it."""
    import typer

    from vaezip.cli import app

    group = typer.main.get_command(app)
    parts = ["# Command reference", "",
             "Generated from `--help` by `python docs/make_reference.py`; a test checks that it "
             "matches.", ""]
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        ctx = typer.Context(command, info_name=f"vaezip {name}", terminal_width=80,
                            max_content_width=80)
        parts += [f"## `vaezip {name}`", "", "```", command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    CLI_DOC.write_text(render())


if __name__ == "__main__":
    main()
