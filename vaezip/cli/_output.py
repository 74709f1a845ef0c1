"""Output for every command: consoles, tables, progress bars, log lines."""

from __future__ import annotations

import contextlib
import sys


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout_console():
    """Results. Piped into a file or another program, tables are not folded to 80 columns."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def table(title: str, **kwargs):
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", **kwargs)


def log(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def warn_all(warnings, quiet: bool) -> None:
    for warning in warnings:
        log(f"vaezip: warning: {warning}", quiet)


def show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def progress(what: str, total: int, quiet: bool, min_items: int = 1):
    """A context yielding advance(n=1) for a transient progress bar on stderr; None when
    quiet, not on a terminal, or fewer than min_items (a bar for 3 files is noise)."""
    if total < min_items or not show_progress(quiet):
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=stderr_console(), transient=True) as p:
            task = p.add_task(what, total=total)
            yield lambda n=1: p.advance(task, n)

    return bar()


def per_pass(advance):
    """Adapt advance(n) to callbacks that report items done within repeated passes."""
    if advance is None:
        return None
    last = [0]

    def on_batch(done: int) -> None:
        advance(done - last[0] if done >= last[0] else done)  # a new pass restarts at 0
        last[0] = done

    return on_batch
