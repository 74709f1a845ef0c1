"""Write the README's "Command reference" from the commands' own --help, so the two cannot
disagree (tests/test_help.py checks that they do not). Run: python docs/make_reference.py
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Command reference"


def render() -> str:
    """The section's text: each command's --help, as `vaezip CMD --help` prints it."""
    import typer

    from vaezip.cli import app

    group = typer.main.get_command(app)
    parts = [HEADING, "", "Generated from `--help` by `python docs/make_reference.py`.", ""]
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        ctx = typer.Context(command, info_name=f"vaezip {name}", terminal_width=80,
                            max_content_width=80)
        parts += [f"### `vaezip {name}`", "", "```", command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(parts)


def section(text: str) -> str:
    """The README's current section (to the next level-2 heading)."""
    match = re.search(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", text, re.S | re.M)
    return match.group(0) if match else ""


def main() -> None:
    text = README.read_text()
    new = render() + "\n"
    old = section(text)
    if old:
        text = text.replace(old, new)
    else:  # before the Layout section
        text = text.replace("\n## Layout\n", f"\n{new}\n## Layout\n", 1)
    README.write_text(text)


if __name__ == "__main__":
    main()
