"""The Python API: vaezip.compress / decompress / load_model and the Pillow plugin. The
README's "Python API" examples are run here too (test_readme_examples_run)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from images import mnist_digit, on_paper, png_bytes, transparent
from PIL import Image

import vaezip
from vaezip.errors import FormatError, ImageError, OptionError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_import_vaezip_imports_neither_torch_nor_matplotlib():
    code = ("import sys, vaezip\n"
            "bad = [m for m in ('torch', 'matplotlib', 'torchvision') if m in sys.modules]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_numpy_array_round_trips_like_the_cli(run_cli, tmp_path):
    digit = mnist_digit(0)
    data = vaezip.compress(digit)
    Image.fromarray(digit, "L").save(tmp_path / "d.png")
    assert run_cli("encode", tmp_path / "d.png", "-q").code == 0
    assert data == (tmp_path / "d.vz").read_bytes()  # the same bytes as the CLI's file
    image = vaezip.decompress(data)
    assert isinstance(image, Image.Image) and image.size == (28, 28) and image.mode == "L"
    a = np.asarray(image, np.float32) / 255
    assert np.corrcoef(a.ravel(), digit.ravel().astype(np.float32))[0, 1] > 0.8


def test_float_arrays_pil_images_paths_and_bytes(tmp_path):
    digit = mnist_digit(3)
    as_float = vaezip.compress(digit.astype(np.float32) / 255)
    assert as_float == vaezip.compress(digit)  # float in [0, 1] is the same 8-bit image
    paper = on_paper(1)
    assert vaezip.decompress(vaezip.compress(paper)).size == paper.size  # original size back
    path = tmp_path / "alpha.png"
    transparent(2).save(path)
    assert vaezip.decompress(vaezip.compress(path)).mode == "RGBA"
    assert vaezip.decompress(vaezip.compress(str(path))).mode == "RGBA"
    assert vaezip.compress(png_bytes(paper)) == vaezip.compress(paper)
    rgb = np.stack([digit] * 3, axis=2)  # H x W x 3
    assert vaezip.decompress(vaezip.compress(rgb)).mode == "RGB"


def test_a_list_gives_an_archive_of_named_images(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(mnist_digit(0), "L").save(path)
    archive = vaezip.compress([mnist_digit(1), on_paper(2), path])
    members = list(vaezip.open(archive))
    assert [name for name, _ in members] == ["image-00000.png", "image-00001.png", "seven.png"]
    assert [im.size for _, im in members] == [(28, 28), (256, 256), (28, 28)]
    assert len(vaezip.compress(iter([mnist_digit(1)]))) > 0  # any iterable


def test_options_modes_and_lossless():
    digit = mnist_digit(4)
    small, fine = vaezip.compress(digit, quality=1), vaezip.compress(digit, quality=8)
    assert len(small) <= len(fine)
    assert np.array_equal(np.asarray(vaezip.decompress(vaezip.compress(digit, lossless=True))),
                          digit)
    floats = vaezip.compress(digit, float_latents=True)
    assert vaezip.decompress(floats).size == (28, 28)
    seven = vaezip.compress(digit, model="mnist-cvae-8d", digit=7)
    assert vaezip.decompress(seven).size == (28, 28)
    with pytest.raises(OptionError, match=r"^quality must be 1-8, not 9$"):
        vaezip.compress(digit, quality=9)
    with pytest.raises(OptionError, match="lossless excludes float_latents"):
        vaezip.compress(digit, lossless=True, quality=3)
    with pytest.raises(OptionError, match="say which digit"):
        vaezip.compress(digit, model="mnist-cvae-8d")


@pytest.mark.parametrize("text", ["{0}", "{x}", "{", "}", "%s", "{quality}"])
def test_user_text_in_errors_is_never_a_format_template(text, tmp_path):
    """Values and file names come back verbatim; option names alone are rendered, as the
    keyword here and as the flag in the CLI (issue 27)."""
    from vaezip.training.loop import resolve_device
    from vaezip.training.settings import TrainSettings

    with pytest.raises(OptionError) as caught:
        TrainSettings(precision=f"p{text}")
    assert str(caught.value) == f"precision must be auto, fp32, bf16 or fp16, not p{text}"
    assert caught.value.render({"precision": "--precision"}).startswith("--precision must")
    with pytest.raises(OptionError) as caught:
        resolve_device(text)
    assert str(caught.value) == f"device must be auto, cpu, cuda or mps, not {text!r}"
    path = tmp_path / f"a{text}.png"
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(path)
    with pytest.raises(ImageError) as caught:
        vaezip.compress(path, lossless=True)
    assert str(path) in str(caught.value)


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(ImageError, match="28x28 8-bit grayscale"):
        vaezip.compress(np.zeros((30, 30), np.uint8), lossless=True)
    with pytest.raises(ImageError, match=r"float pixels must lie in \[0, 1\]"):
        vaezip.compress(np.full((28, 28), 2.0))
    with pytest.raises(ImageError, match="already a .vz file"):
        vaezip.compress(vaezip.compress(mnist_digit(0)))
    with pytest.raises(FormatError, match="not a .vz file"):
        vaezip.decompress(b"\x10" + b"\0" * 7 + b"[1]" + b"\0" * 13)
    with pytest.raises(TypeError, match="cannot compress a float"):
        vaezip.compress(3.5)
    with pytest.raises(ValueError, match="at least one image"):
        vaezip.compress([])


def test_load_model_encodes_decodes_and_samples():
    model = vaezip.load_model("mnist-vae-16d")
    mu, sigma = model.encode(mnist_digit(0)[None] / 255.0)
    assert mu.shape == sigma.shape == (1, 16) and (sigma > 0).all()
    back = model.decode(mu)
    assert back.shape == (1, 28, 28) and 0 <= back.min() and back.max() <= 1
    draws = model.sample(5, seed=3)
    assert draws.shape == (5, 28, 28)
    assert np.array_equal(draws, model.sample(5, seed=3))
    cvae = vaezip.load_model("mnist-cvae-8d")
    assert cvae.sample(2, digits=[3, 4]).shape == (2, 28, 28)
    with pytest.raises(ValueError, match="conditional"):
        cvae.sample(2)


def test_pillow_opens_vz_files(tmp_path):
    path = tmp_path / "digit.vz"
    path.write_bytes(vaezip.compress(on_paper(1)))
    with Image.open(path) as image:
        assert image.format == "VZ" and image.size == (256, 256) and image.mode == "L"
        image.load()
        assert np.asarray(image).std() > 10  # a drawing, not a blank
        assert image.info["model"] == "mnist-bvae-32d"
    archive = tmp_path / "all.vz"
    archive.write_bytes(vaezip.compress([mnist_digit(i) for i in range(3)], lossless=True))
    with Image.open(archive) as image:
        assert image.n_frames == 3 and image.is_animated
        for i in range(3):
            image.seek(i)
            assert image.info["name"] == f"image-{i:05d}.png"
            assert np.array_equal(np.asarray(image), mnist_digit(i))
        with pytest.raises(EOFError):
            image.seek(3)


def test_pillow_still_refuses_what_is_not_an_image(tmp_path):
    from PIL import UnidentifiedImageError

    bad = tmp_path / "bad.vz"
    bad.write_bytes(vaezip.compress(mnist_digit(0))[:-3])  # truncated
    with pytest.raises(UnidentifiedImageError):
        Image.open(bad)


def test_readme_examples_run(tmp_path, monkeypatch):
    """Every ```python block of the README's Python API section runs as it stands, in
    order, in one namespace (as a reader would type them into one session)."""
    text = README.read_text()
    section = text[text.index("## Python API"):]
    section = section[: section.index("\n## ", 4)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    Image.fromarray(mnist_digit(0), "L").save("digit.png")
    Image.fromarray(mnist_digit(1), "L").save("other.png")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert Path("back.png").is_file()
