"""vaezip.open (issue 28): one reader for every .vz, from a path, bytes or a stream; members
by position or name, decoded a frame at a time; the guard's interleaved frames in order."""

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import MINI
from PIL import Image

import vaezip
from vaezip.errors import FormatError

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


@pytest.fixture(scope="module")
def two_frames() -> tuple[bytes, np.ndarray]:
    """A lossy archive of 1,100 real digits: two frames of the default model."""
    with np.load(MINI) as mini:
        digits = np.concatenate([mini["train_images"], mini["test_images"]])[:1100]
    with warnings.catch_warnings():  # a few MNIST digits score as unlike digits
        warnings.simplefilter("ignore")
        return vaezip.compress(list(digits), guard=False), digits


def test_every_source_gives_the_same_members(tmp_path):
    path = GOLDEN / "compact-pack.vz"
    data = path.read_bytes()
    readers = [vaezip.open(path), vaezip.open(str(path)), vaezip.open(data),
               vaezip.open(io.BytesIO(data))]
    names = sorted(p.relative_to(GOLDEN / "in" / "digits").as_posix()
                   for p in (GOLDEN / "in" / "digits").rglob("*.png"))
    for reader in readers:
        with reader:
            assert sorted(reader.names) == names and len(reader) == len(names)
            images = dict(reader)
            for name in names:
                want = np.asarray(Image.open(GOLDEN / "out" / "compact-pack" / name), int)
                assert np.abs(np.asarray(images[name], int) - want).max() <= 1
                assert np.array_equal(np.asarray(reader[name]), np.asarray(images[name]))


def test_members_by_position_and_name_match_iteration(two_frames):
    data, digits = two_frames
    with vaezip.open(data) as reader:
        assert len(reader) == 1100 and reader.names[1050] == "image-01050.png"
        one = np.asarray(reader[1050])  # frame 1 alone
        last = np.asarray(reader[-1])
        by_name = np.asarray(reader["image-01050.png"])
        with pytest.raises(IndexError):
            reader[1100]
        with pytest.raises(KeyError, match="no member named 'nope.png'"):
            reader["nope.png"]
        seen = 0
        for i, (name, image) in enumerate(reader):
            assert name == f"image-{i:05d}.png"
            assert len(reader._frames) <= 2  # memory: a frame at a time
            if i == 1050:
                assert np.array_equal(np.asarray(image), one)
            seen += 1
        assert seen == 1100 and np.array_equal(np.asarray(image), last)
    assert np.array_equal(one, by_name)
    # What the single-image path gives for the same digit.
    alone = np.asarray(vaezip.decompress(vaezip.compress(digits[1050], guard=False)))
    assert np.abs(alone.astype(int) - one.astype(int)).max() <= 1


def test_the_guards_frames_come_back_in_input_order():
    """compact-guarded-pack.vz: g092 and g126 were coded near-lossless in a second frame."""
    with vaezip.open(GOLDEN / "compact-guarded-pack.vz") as reader:
        assert reader.names == sorted(p.name for p in (GOLDEN / "in" / "guarded").glob("*"))
        for name, image in reader:
            want = np.asarray(Image.open(GOLDEN / "out" / "compact-guarded-pack" / name), int)
            assert np.abs(np.asarray(image, int) - want).max() <= 1, name
        original = np.asarray(Image.open(GOLDEN / "in" / "guarded" / "g092.png"), int)
        assert np.abs(np.asarray(reader["g092.png"], int) - original).max() <= 16


def test_single_files_and_decompress():
    data = (GOLDEN / "short-m5-lossless-seven.vz").read_bytes()
    with vaezip.open(data) as reader:
        assert reader.names == ["image.png"] and len(reader) == 1
        image = reader[0]
    assert np.array_equal(np.asarray(image), np.asarray(vaezip.decompress(data)))
    with vaezip.open(GOLDEN / "short-seven.vz") as reader:
        assert reader.names == ["short-seven.png"]
    packed_float = (GOLDEN / "float-pack.vz").read_bytes()  # one packed file, several images
    with vaezip.open(packed_float) as reader:
        assert len(reader) > 1 and len(dict(reader)) == len(reader)
    with pytest.raises(FormatError, match=r"an archive of \d+ images; vaezip.open"):
        vaezip.decompress(packed_float)


def test_what_is_not_a_vz_is_refused(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        vaezip.open(tmp_path / "missing.vz")
    with pytest.raises(FormatError, match="not a .vz file but a PNG image"):
        vaezip.open((GOLDEN / "in" / "seven.png").read_bytes())
    with pytest.raises(TypeError, match="binary stream"):
        vaezip.open(io.StringIO("text"))


def test_a_compressor_is_reusable_and_writes_what_compress_writes():
    with np.load(MINI) as mini:
        digits = mini["test_images"][:3]
    compressor = vaezip.Compressor(quality=3)
    assert [compressor.compress(d) for d in digits] == [
        vaezip.compress(d, quality=3) for d in digits]
    assert compressor.compress(list(digits)) == vaezip.compress(list(digits), quality=3)
