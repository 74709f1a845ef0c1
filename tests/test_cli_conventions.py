"""The command line as gzip and zstd users expect it (issue 16): errors that say what is
wrong with the user's file, -c, --rm, -v, totals, and pictures big enough to see."""

import numpy as np
import pytest
from conftest import MINI, one_line_error
from PIL import Image


def _digits(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(MINI) as mini:
        for i in range(n):
            Image.fromarray(mini["test_images"][i]).save(folder / f"{i}.png")
    return folder


def test_a_write_failure_names_the_users_path(run_cli, tmp_path):
    digits = _digits(tmp_path / "in")
    (tmp_path / "afile").write_text("not a directory")
    target = tmp_path / "afile" / "x.vz"
    one_line_error(run_cli("encode", digits / "0.png", "-o", target), 1, str(target),
                   "cannot write")
    one_line_error(run_cli("encode", digits, "--pack", "-o", target), 1, str(target),
                   "cannot write")
    assert not list(tmp_path.glob("**/*.tmp")) and not list(tmp_path.glob("**/.*.tmp"))


def test_the_wrong_kind_of_file_is_named_as_such(run_cli, tmp_path):
    digits = _digits(tmp_path / "in")
    one_line_error(run_cli("decode", digits / "0.png"), 1, "not a .vz file but a PNG image")
    assert run_cli("encode", digits / "0.png", "-o", tmp_path / "0.vz").code == 0
    one_line_error(run_cli("encode", tmp_path / "0.vz", "-o", tmp_path / "again.vz"), 1,
              "already a .vz file")
    one_line_error(run_cli("encode", digits / "1.png", "-o", tmp_path / "face.png"), 2,
              "encode writes .vz files", "face.vz")
    one_line_error(run_cli("decode", tmp_path / "0.vz", "-o", tmp_path / "ph.xyz"), 2,
              "decode writes images")
    assert not (tmp_path / "face.png").exists() and not (tmp_path / "ph.xyz").exists()


def test_stdout_with_c(run_cli, tmp_path):
    digits = _digits(tmp_path / "in")
    one_line_error(run_cli("encode", digits / "0.png", "-c", "-o", tmp_path / "x.vz"), 2,
              "excludes -o")
    one_line_error(run_cli("encode", digits, "-c"), 2, "-o - needs a single input")


def test_rm_removes_inputs_only_after_verified_outputs(run_cli, tmp_path):
    digits = _digits(tmp_path / "in")
    r = run_cli("encode", digits, "--pack", "--rm", "-o", tmp_path / "a.vz")
    assert r.code == 0 and (tmp_path / "a.vz").is_file()
    assert not list(digits.glob("*.png"))  # gone, as gzip's inputs are
    assert run_cli("decode", tmp_path / "a.vz", "-o", tmp_path / "back", "--rm").code == 0
    assert not (tmp_path / "a.vz").exists() and len(list((tmp_path / "back").glob("*.png"))) == 3
    digits = _digits(tmp_path / "in2")
    (tmp_path / "afile").write_text("x")
    r = run_cli("encode", digits, "--pack", "--rm", "-o", tmp_path / "afile" / "b.vz")
    assert r.code == 1 and len(list(digits.glob("*.png"))) == 3  # failed: inputs kept


def test_decoding_many_files_prints_a_total_unless_verbose(run_cli, tmp_path):
    digits = _digits(tmp_path / "in", 4)
    assert run_cli("encode", digits, "-o", tmp_path / "codes").code == 0
    r = run_cli("decode", tmp_path / "codes", "-o", tmp_path / "out")
    assert r.code == 0 and r.out.strip() == "4 files -> 4 images"
    r = run_cli("decode", tmp_path / "codes", "-o", tmp_path / "out2", "-v")
    assert r.code == 0 and len(r.out.strip().splitlines()) == 4


def test_an_archive_says_where_its_members_went(run_cli, tmp_path):
    digits = _digits(tmp_path / "in", 2)
    _digits(digits / "sub", 1)
    assert run_cli("encode", digits, "--pack", "-o", tmp_path / "a.vz").code == 0
    r = run_cli("decode", tmp_path / "a.vz", "-o", tmp_path / "out")
    assert r.code == 0 and "(3 images in 2 folders)" in r.out


@pytest.mark.parametrize("mode", [[], ["--float"], ["--lossless"]])
def test_the_pack_summary_names_its_inputs_and_its_archive(run_cli, tmp_path, monkeypatch,
                                                          mode):
    """issue 27: the input column shows what went in, the archive column where it went."""
    monkeypatch.chdir(tmp_path)  # short relative paths: the table folds none
    _digits(tmp_path / "scans", 3)
    r = run_cli("encode", "scans", "--pack", *mode, "-o", "all.vz")
    assert r.code == 0, r
    header = next(line for line in r.out.splitlines() if "input" in line).split()
    assert header[:2] == ["input", "archive"], r.out
    (row,) = [line for line in r.out.splitlines() if "(3 images)" in line]
    assert row.split()[:4] == ["scans", "(3", "images)", "all.vz"], r.out
    files = ["scans/0.png", "scans/1.png", "scans/2.png"]
    r = run_cli("encode", *files, "--pack", *mode, "-o", "three.vz")
    assert r.code == 0 and "scans/0.png, scans/1.png, scans/2.png (3 images)" in r.out, r


def test_samples_are_big_enough_to_see(run_cli, tmp_path):
    assert run_cli("sample", "-n", "16", "-o", tmp_path / "s.png").code == 0
    assert Image.open(tmp_path / "s.png").size == (4 * 242, 4 * 62)  # --scale 4 by default
    assert run_cli("sample", "-n", "16", "--scale", "1", "-o", tmp_path / "t.png").code == 0
    assert Image.open(tmp_path / "t.png").size == (242, 62)
    one_line_error(run_cli("sample", "--scale", "0", "-o", tmp_path / "u.png"), 2, "--scale")


# Characters that a format template would read as fields or directives (issue 27).
TEMPLATE_TEXT = ["{0}", "{x}", "{", "}", "%s", "{quality}"]


def test_user_text_is_never_a_format_template(run_cli, tmp_path, mini_mnist_dir):
    """File names and option values holding template syntax come back verbatim, in a
    one-line error with the usage exit code; never an internal error."""
    from pathlib import Path

    lossless = Path(__file__).parent / "data" / "golden" / "short-m5-lossless-seven.vz"
    for text in TEMPLATE_TEXT:
        named = tmp_path / f"a{text}.vz"
        named.write_bytes(lossless.read_bytes())
        one_line_error(run_cli("decode", named, "--sample", "-o", tmp_path / "out.png"), 2,
                  f"a{text}.vz: a lossless file", "--sample, --size and --native")
        assert not (tmp_path / "out.png").exists()
        one_line_error(run_cli("train", "--name", "x", "--dataset", f"d{text}", "--data-dir",
                          mini_mnist_dir, "--no-download"), 2,
                  "--dataset must be one of", repr(f"d{text}"))
        one_line_error(run_cli("train", "--name", "x", "--precision", f"p{text}", "--data-dir",
                          mini_mnist_dir, "--no-download"), 2, f"not p{text}")
    one_line_error(run_cli("train", "--name", "x", "--device", "{x}", "--epochs", "1", "--limit",
                      "10", "--data-dir", mini_mnist_dir, "--no-download"), 2,
              "--device must be auto, cpu, cuda or mps, not '{x}'")
