import images
import numpy as np
import pytest
from PIL import Image

from vaezip.errors import ImageError
from vaezip.frames.digit import MAX_PIXELS, SIDE, prepare, restore


def test_an_mnist_digit_passes_through_untouched():
    digit = images.mnist_digit(0)
    prepared = prepare(images.png_bytes(Image.fromarray(digit)), "d.png")
    np.testing.assert_array_equal(prepared.pixels, digit / np.float32(255))
    p = prepared.placement
    assert (p.width, p.height, p.mode, p.polarity, p.box) == (28, 28, "L", "light-on-dark", None)
    back = restore(prepared.pixels, p)
    np.testing.assert_array_equal(np.asarray(back), digit)


def test_a_drawing_on_paper_is_cropped_fitted_and_centred_like_mnist():
    prepared = prepare(images.png_bytes(images.on_paper()), "scan.png")
    p, px = prepared.placement, prepared.pixels
    assert p.polarity == "dark-on-light" and (p.width, p.height) == (256, 256)
    assert p.background > 200 and p.ink < 80
    rows, cols = np.flatnonzero(px.max(1) > 0.2), np.flatnonzero(px.max(0) > 0.2)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 20  # fits the 20x20 box
    mass = px.sum()
    cy = (px.sum(1) * (np.arange(SIDE) + 0.5)).sum() / mass
    cx = (px.sum(0) * (np.arange(SIDE) + 0.5)).sum() / mass
    assert abs(cx - 14) <= 1 and abs(cy - 14) <= 1  # centre of mass at the centre
    assert px[0].max() == 0 and px[:, 0].max() == 0  # background is exactly black


def test_decoding_gives_back_size_polarity_and_levels():
    prepared = prepare(images.png_bytes(images.on_paper()), "scan.png")
    back = np.asarray(restore(prepared.pixels, prepared.placement))
    assert back.shape == (256, 256)
    assert abs(int(np.median(back[0])) - prepared.placement.background) <= 1  # paper
    assert back.min() < 90  # dark ink where the digit is
    # The ink lands where it was.
    original = np.asarray(images.on_paper()) < 128
    restored = back < 128
    overlap = (original & restored).sum() / (original | restored).sum()
    assert overlap > 0.8


@pytest.mark.parametrize("make, mode, polarity", [
    (images.transparent, "RGBA", "alpha"),
    (images.sixteen_bit, "I;16", "light-on-dark"),
    (images.palette, "RGB", "dark-on-light"),
])
def test_other_modes_come_back_in_their_mode(make, mode, polarity):
    original = make()
    prepared = prepare(images.png_bytes(original), "x.png")
    assert prepared.placement.polarity == polarity
    assert 0.03 < prepared.pixels.mean() < 0.5  # a digit, not a blank or a block
    back = restore(prepared.pixels, prepared.placement)
    assert back.mode == mode and back.size == original.size
    if mode == "RGBA":
        alpha = np.asarray(back.getchannel("A"))
        assert alpha[0, 0] == 0 and alpha.max() > 200  # transparent around, opaque ink


def test_jpeg_noise_on_paper_leaves_a_clean_background():
    noisy = images.png_bytes(images.on_paper().convert("RGB"), format="JPEG", quality=25)
    px = prepare(noisy, "photo.jpg").pixels
    assert (px > 0).mean() < 0.35 and px[:2].max() == 0 and px[-2:].max() == 0


@pytest.mark.parametrize("size", [(5, 7), (2000, 1500)])
def test_tiny_and_large_images(size):
    image = images.on_paper().resize(size)
    prepared = prepare(images.png_bytes(image), "x.png")
    assert prepared.pixels.shape == (28, 28)
    assert restore(prepared.pixels, prepared.placement).size == size


def test_blank_images_warn_and_encode_blank():
    for level in (0, 255):
        prepared = prepare(images.png_bytes(Image.new("L", (50, 40), level)), "blank.png")
        assert prepared.pixels.max() == 0
        assert any("no ink" in w for w in prepared.warnings)
        assert restore(prepared.pixels, prepared.placement).size == (50, 40)


def test_multi_frame_images_use_the_first_frame_and_say_so():
    prepared = prepare(images.two_frame_gif(), "anim.gif")
    assert any("2 frames; using the first" in w for w in prepared.warnings)
    first = images.mnist_digit(5) / 255
    assert np.abs(prepared.pixels - first).mean() < 0.02


@pytest.mark.parametrize("data, message", [
    (b"", "not an image"),
    (b"hello, world", "not an image"),
    (images.bomb_png(), f"{MAX_PIXELS:,}-pixel limit"),
])
def test_bad_inputs_are_refused(data, message):
    with pytest.raises(ImageError, match=message):
        prepare(data, "bad.png")


def test_truncated_images_are_refused():
    data = images.png_bytes(images.on_paper())
    with pytest.raises(ImageError, match="truncated or corrupt"):
        prepare(data[: len(data) // 2], "cut.png")
