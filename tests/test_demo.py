"""The README quotes what `make demo` prints (issue 27): run the demo, as `make demo` does,
and find each quoted line in its output."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INTRO = "`make demo` prints:"


def quoted_demo_output() -> list[str]:
    """The lines of the first code block after the README's INTRO sentence."""
    text = (REPO / "README.md").read_text()
    after = text[text.index(INTRO):]
    block = after.split("```", 2)[1]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_quotes_what_make_demo_prints(tmp_path):
    quoted = quoted_demo_output()
    assert any("--lossless" in line for line in quoted) and len(quoted) >= 4
    r = subprocess.run([sys.executable, str(REPO / "examples" / "demo.py")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    printed = [line.rstrip() for line in r.stdout.splitlines()]
    for line in quoted:
        assert line.rstrip() in printed, f"README quotes {line!r}; make demo printed:\n{r.stdout}"
