"""The README and docs/ show commands that work (issue 28): the README's command-line cheat
sheet and docs/study.md's conditional-VAE block run as scripts, every `vaezip` command
shown anywhere in the docs parses with today's options, the training and full-MNIST blocks
run on a small MNIST (the GPU block only parses), and every relative link points at a file
that exists.
(The README's Python blocks run in test_api.py, docs/cli.md is checked in test_help.py and
the demo's output in test_demo.py.)"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MINI
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# The docs with prose and examples; cli.md is --help's own output, FORMAT.md has no commands.
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]


def sh_blocks(path: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", path.read_text(), re.S)


def vaezip_invocations(block: str):
    """The argument lists of every `vaezip` command in a shell block: comments, pipes,
    redirections, line continuations and `...` placeholders taken out."""
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        for part in re.split(r"[|;]", line):
            tokens, args = shlex.split(part), []
            skip = False
            for token in tokens:
                if skip:
                    skip = False
                elif token in (">", "<"):
                    skip = True
                elif token != "...":
                    args.append(token)
            if "vaezip" in args:
                yield args[args.index("vaezip") + 1 :]


def test_every_documented_command_parses_with_todays_options():
    import typer

    from vaezip.cli import app

    group = typer.main.get_command(app)
    seen = 0
    for path in DOCS:
        for block in sh_blocks(path):
            for args in vaezip_invocations(block):
                command = group.get_command(None, args[0])
                assert command is not None, (path.name, args)
                with command.make_context(args[0], list(args[1:])) as ctx:
                    assert ctx.params is not None
                seen += 1
    assert seen >= 30  # the README's cheat sheet alone has 18


def test_the_readme_cheat_sheet_runs_top_to_bottom(tmp_path):
    """The README's first shell block, run as a script (bash -e) on small real digits."""
    with np.load(MINI) as mini:
        digits = mini["test_images"][:10]
    for folder in ("scans/a", "mnist", "more"):
        (tmp_path / folder).mkdir(parents=True)
    Image.fromarray(digits[0]).save(tmp_path / "digit.png")
    Image.fromarray(digits[1]).save(tmp_path / "scans" / "a" / "7.png")
    Image.fromarray(digits[2]).save(tmp_path / "scans" / "b.png")
    for i in range(3):
        Image.fromarray(digits[3 + i]).save(tmp_path / "mnist" / f"{i}.png")
    Image.fromarray(digits[9]).save(tmp_path / "more" / "c.png")
    script = sh_blocks(README)[1]  # [0] is the quick start's make demo / make test
    assert script.startswith("vaezip encode digit.png")
    bin_dir = str(Path(sys.executable).parent)
    r = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300,
                       env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert r.returncode == 0, r.stderr[-3000:]
    for made in ("digit.vz", "back.png", "codes/a/7.vz", "scans.vz", "t1.vz", "exact.vz",
                 "mnist.vz", "unpacked/a/7.png", "one/a/7.png", "all.vz", "piped.png",
                 "samples.png"):
        assert (tmp_path / made).is_file(), made
    assert not (tmp_path / "one" / "b.png").exists()  # --member: that one only
    exact = np.asarray(Image.open(tmp_path / "unpacked" / "a" / "7.png"))
    assert exact.shape == (28, 28)
    assert "mnist-bvae-32d" in r.stdout  # `vaezip models` lists the default


def test_the_conditional_vaes_commands_in_the_study_run(tmp_path):
    """docs/study.md's conditional-VAE block, as it stands, on the example seven (its other
    blocks evaluate on the full MNIST and train for minutes: their commands are parsed
    above, and test_shipped_quality.py checks the numbers they print)."""
    import shutil

    block = next(b for b in sh_blocks(REPO / "docs" / "study.md") if "--digit 7" in b)
    shutil.copy(REPO / "examples" / "seven.png", tmp_path / "seven.png")
    bin_dir = str(Path(sys.executable).parent)
    r = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300,
                       env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert r.returncode == 0, r.stderr[-3000:]
    for made in ("sevens.png", "manifold-mnist-cvae-8d.png", "seven.vz"):
        assert (tmp_path / made).is_file(), made


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_point_at_files_that_exist(path):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
        assert (path.parent / target).exists(), (path.name, target)


def run_block(block: str, cwd: Path, shorten: dict[str, str] | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A shell block as written, with the installed vaezip on PATH. shorten: arguments a
    shell function appends to a vaezip subcommand (the last value of an option wins), so
    that training and evaluation run in seconds on small data."""
    wrapper = "".join(f'[ "$1" = {command} ] && {{ command vaezip "$@" {extra}; return; }}; '
                      for command, extra in (shorten or {}).items())
    script = f'vaezip() {{ {wrapper}command vaezip "$@"; }}\n' + block
    bin_dir = str(Path(sys.executable).parent)
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, **(env or {}),
                               "PATH": f"{bin_dir}:{os.environ['PATH']}"})


def test_the_readme_path_for_your_own_images_runs(tmp_path):
    """The README's five commands for your own images, run as a script on a folder of
    small generated icons, training shortened to one epoch; the decoded icons must be the
    originals, pixel for pixel."""
    from conftest import make_icon

    block = next(b for b in sh_blocks(README) if "--lossless-model" in b)
    for split, count in (("train", 40), ("test", 6)):
        (tmp_path / "my_icons" / split).mkdir(parents=True)
        for i in range(count):
            make_icon(i + (1000 if split == "test" else 0)).save(
                tmp_path / "my_icons" / split / f"{i}.png")
    r = run_block(block, tmp_path, {"train": "--epochs 1"},
                  {"VAEZIP_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stderr[-3000:]
    for i in range(6):
        back = Image.open(tmp_path / "back" / f"{i}.png")
        assert back.tobytes() == Image.open(tmp_path / "my_icons" / "test" / f"{i}.png").tobytes()


# The blocks that train or evaluate on the full MNIST, run on the 1,000 + 500 real digits of
# tests/data/mnist-mini.npz, one epoch. Not run: docs/models.md's GPU and torchrun block (no
# GPU here; tests/test_scaling.py runs its CPU torchrun line, which ends in "...").
LONG_BLOCKS = [(README, "--name my-vae"), (REPO / "docs" / "models.md", "--name my-vae"),
               (REPO / "docs" / "study.md", "vaezip eval --model mnist-vae-16d")]


@pytest.mark.parametrize("path,marker", LONG_BLOCKS, ids=lambda v: getattr(v, "name", ""))
def test_the_training_and_evaluation_blocks_run_on_a_small_mnist(path, marker, tmp_path,
                                                                mini_mnist_dir):
    import shutil

    block = next(b for b in sh_blocks(path) if marker in b)
    shutil.copy(REPO / "examples" / "seven.png", tmp_path / "digit.png")
    data = f"--data-dir {mini_mnist_dir} --no-download"
    r = run_block(block, tmp_path,
                  {"train": f"--epochs 1 {data}", "eval": f"{data} --limit 100 --iw-samples 0"},
                  {"VAEZIP_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stderr[-3000:]
    if "train" in block:
        assert (tmp_path / "home" / "models" / "my-vae.safetensors").is_file()
        assert (tmp_path / "mine.png").is_file()
    else:
        assert r.stdout.count("mnist-vae-binary") >= 2, r.stdout
