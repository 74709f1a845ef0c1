"""Framed archives (issue 15): frames, -T, list, test, --member, damage, --salvage, --append,
member names. Frames are made small here (FRAME_IMAGES) so a few hundred digits span many."""

import json

import numpy as np
import pytest
from conftest import MINI
from PIL import Image

import vaezip
from vaezip.codecs.guard import FALLBACK_MODEL
from vaezip.format import archive
from vaezip.format import index as archive_index


@pytest.fixture
def small_frames(monkeypatch):
    monkeypatch.setitem(archive.FRAME_IMAGES, "quantised", 40)
    monkeypatch.setitem(archive.FRAME_IMAGES, "lossless", 25)


@pytest.fixture(scope="module")
def digit_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    with np.load(MINI) as mini:
        for i, d in enumerate(mini["test_images"][:130]):
            sub = folder / ("sub" if i % 10 == 9 else "")
            sub.mkdir(exist_ok=True)
            Image.fromarray(d).save(sub / f"{i:04d}.png")
    return folder


def _pngs(folder):
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p))
            for p in sorted(folder.rglob("*.png"))}


def test_archives_are_framed_and_the_same_for_any_thread_count(run_cli, digit_dir, tmp_path,
                                                              small_frames):
    for t in ("1", "2"):
        r = run_cli("encode", digit_dir, "--pack", "-T", t, "-o", tmp_path / f"t{t}.vz", "-q")
        assert r.code == 0, r
    assert (tmp_path / "t1.vz").read_bytes() == (tmp_path / "t2.vz").read_bytes()
    reader = archive.ArchiveReader(tmp_path / "t1.vz", "t1.vz")
    # 40 + 40 + 40 + 10, each chunk followed by the digits its identity guard coded
    # near-lossless in a frame of their own (test_guard.py)
    assert [len(f.names) for f in reader.frames] == [39, 1, 39, 1, 38, 2, 10]
    assert [f.model for f in reader.frames][4:6] == [None, FALLBACK_MODEL]
    assert reader.frames[5].names == ["0092.png", "0126.png"]
    assert reader.count == 130
    assert reader.names[:2] == ["0000.png", "0001.png"] and "sub/0009.png" in reader.names
    reader.close()
    for t in ("1", "2"):
        assert run_cli("decode", tmp_path / "t1.vz", "-T", t, "-o", tmp_path / f"out{t}").code == 0
    assert _pngs(tmp_path / "out1").keys() == _pngs(digit_dir).keys()
    a, b = _pngs(tmp_path / "out1"), _pngs(tmp_path / "out2")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_lossless_archives_are_framed_and_exact(run_cli, digit_dir, tmp_path, small_frames):
    assert run_cli("encode", digit_dir, "--pack", "--lossless", "-T", "2", "-o",
                   tmp_path / "l.vz").code == 0
    assert run_cli("decode", tmp_path / "l.vz", "-o", tmp_path / "out").code == 0
    got, want = _pngs(tmp_path / "out"), _pngs(digit_dir)
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)


def test_list_and_test(run_cli, digit_dir, tmp_path, small_frames):
    assert run_cli("encode", digit_dir, "--pack", "-Q", "5", "--no-guard", "-o",
                   tmp_path / "a.vz").code == 0
    r = run_cli("list", tmp_path / "a.vz", "--json")
    info = json.loads(r.out)
    assert info["images"] == 130 and info["model"] == "mnist-bvae-32d" and info["quality"] == [5]
    assert info["mode"] == "quantised" and info["format"] == 10 and len(info["frames"]) == 4
    members = {m["name"]: m for m in info["members"]}
    # Full paths in order: the 117 top-level digits, then sub/ (member 117: frame 2).
    assert info["members"][117] == members["sub/0009.png"] == {
        "name": "sub/0009.png", "frame": 2, "width": 28, "height": 28, "mode": "L"}
    r = run_cli("list", tmp_path / "a.vz")
    assert r.code == 0 and "130 images" in r.out and "sub/0009.png" in r.out
    r = run_cli("test", tmp_path / "a.vz")
    assert r.code == 0 and "ok (130 images)" in r.out


def _damage(path, out):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04  # a byte in the middle: inside some frame
    out.write_bytes(bytes(data))


def test_damage_is_found_named_and_salvaged(run_cli, digit_dir, tmp_path, small_frames):
    assert run_cli("encode", digit_dir, "--pack", "--no-guard", "-o", tmp_path / "a.vz").code == 0
    _damage(tmp_path / "a.vz", tmp_path / "b.vz")
    r = run_cli("test", tmp_path / "b.vz")
    assert r.code == 1 and "damaged" in r.err and "members cannot be recovered" in r.err
    r = run_cli("decode", tmp_path / "b.vz", "-o", tmp_path / "out")
    assert r.code == 1 and "cannot recover 40 members" in r.err and "--salvage" in r.err
    assert not (tmp_path / "out").exists()  # nothing written
    r = run_cli("decode", tmp_path / "b.vz", "-o", tmp_path / "out", "--salvage")
    assert r.code == 1, r
    lost = [line.rsplit(": ", 1)[1] for line in r.err.splitlines() if "lost:" in line]
    written = _pngs(tmp_path / "out")
    assert len(lost) == 40 and len(written) == 90 and not set(lost) & set(written)
    assert set(lost) | set(written) == set(_pngs(digit_dir))


def test_member_extracts_only_those(run_cli, digit_dir, tmp_path, small_frames):
    assert run_cli("encode", digit_dir, "--pack", "-o", tmp_path / "a.vz").code == 0
    r = run_cli("decode", tmp_path / "a.vz", "--member", "0005.png", "--member", "sub/0119.png",
                "-o", tmp_path / "out")
    assert r.code == 0, r
    assert sorted(_pngs(tmp_path / "out")) == ["0005.png", "sub/0119.png"]
    r = run_cli("decode", tmp_path / "a.vz", "--member", "nope.png", "-o", tmp_path / "o2")
    assert r.code == 2 and "no member 'nope.png'" in r.err


def test_append_adds_frames_atomically(run_cli, digit_dir, tmp_path, small_frames):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, keep in ((first, lambda i: i < 70), (second, lambda i: i >= 70)):
        folder.mkdir()
        for name, pixels in _pngs(digit_dir).items():
            if keep(int(name[-8:-4])):
                Image.fromarray(pixels).save(folder / name.replace("/", "-"))
    assert run_cli("encode", first, "--pack", "--no-guard", "-o", tmp_path / "a.vz").code == 0
    assert run_cli("encode", second, "--pack", "--append", "--no-guard", "-o",
                   tmp_path / "a.vz").code == 0
    info = json.loads(run_cli("list", tmp_path / "a.vz", "--json").out)
    assert info["images"] == 130 and len(info["frames"]) == 2 + 2
    r = run_cli("encode", second, "--pack", "--append", "-o", tmp_path / "a.vz")
    assert r.code == 2 and "already holds" in r.err
    assert json.loads(run_cli("list", tmp_path / "a.vz", "--json").out)["images"] == 130
    r = run_cli("encode", second, "--pack", "--append", "--lossless", "-o", tmp_path / "a.vz")
    assert r.code == 2 and "holds images of mnist-bvae-32d" in r.err


def test_names_that_differ_only_in_suffix_both_come_back(run_cli, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    with np.load(MINI) as mini:
        Image.fromarray(mini["test_images"][0]).save(folder / "photo3.png")
        Image.fromarray(mini["test_images"][1]).save(folder / "photo3.jpg", quality=95)
    assert run_cli("encode", folder, "--pack", "-o", tmp_path / "p.vz").code == 0
    assert run_cli("decode", tmp_path / "p.vz", "-o", tmp_path / "out").code == 0
    assert sorted(_pngs(tmp_path / "out")) == ["photo3.jpg.png", "photo3.png"]


def test_the_api_writes_the_clis_archive(run_cli, tmp_path):
    with np.load(MINI) as mini:
        digits = list(mini["test_images"][:5])
    folder = tmp_path / "in"
    folder.mkdir()
    for i, d in enumerate(digits):
        Image.fromarray(d).save(folder / f"image-{i:05d}.png")
    assert run_cli("encode", folder, "--pack", "-o", tmp_path / "a.vz").code == 0
    assert vaezip.compress(digits) == (tmp_path / "a.vz").read_bytes()
    members = list(vaezip.open((tmp_path / "a.vz").read_bytes()))
    assert [n for n, _ in members] == [f"image-{i:05d}.png" for i in range(5)]


def test_an_archive_from_standard_input_decodes_into_a_directory(digit_dir, tmp_path):
    import subprocess
    import sys

    def vaezip(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "vaezip", *map(str, args)], input=stdin,
                              capture_output=True, timeout=120)

    assert vaezip("encode", digit_dir, "--pack", "-o", tmp_path / "a.vz").returncode == 0
    data = (tmp_path / "a.vz").read_bytes()
    r = vaezip("decode", "-", "-o", tmp_path / "out", stdin=data)
    assert r.returncode == 0, r.stderr
    assert _pngs(tmp_path / "out").keys() == _pngs(digit_dir).keys()
    r = vaezip("decode", "-", stdin=data)
    assert r.returncode == 2 and b"needs -o DIR" in r.stderr


@pytest.mark.parametrize("name, after", [
    ("00099.png", "00100.png"), ("9.png", "10.png"), ("199", "200"), ("x09y.png", "x10y.png"),
    ("run7/img12.png", "run7/img13.png"), ("frame-0001-left.png", "frame-0002-left.png"),
    ("a.png", None), ("sub/b.png", None)])
def test_next_name_counts_up_the_last_number(name, after):
    assert archive_index.next_name(name) == after


def test_a_compact_index_gives_back_every_name():
    """Series across frame breaks, gaps, restarts and names without a number all round-trip,
    and a numbered series costs almost nothing."""
    import lzma

    lists = ["\n".join(f"{i:05d}.png" for i in range(0, 700)),
             "\n".join([*(f"{i:05d}.png" for i in range(700, 1000)), "a.png", "b.png",
                        "sub/x9.png", "sub/x10.png", "sub/x12.png", "01.png", "00002.png"]),
             "\n".join(f"c{i}.jpg" for i in range(8, 120))]
    compact, full = archive_index.index_bytes(lists, True), archive_index.index_bytes(lists, False)
    text = lzma.decompress(compact[4:], format=lzma.FORMAT_RAW, filters=archive_index._LZMA_FILTERS)
    # 00700 follows 00699
    assert text.decode().count(archive_index.SUCCESSOR) == 699 + 300 + 1 + 111
    assert archive_index.expand_index(text.decode()) == "\n\n".join(lists)
    assert len(compact) < 100 < 500 < len(full)


def test_archives_write_a_compact_index_and_read_both(run_cli, digit_dir, tmp_path, small_frames):
    """Archives are version 10 with a compact index; one appended to a version 5 archive
    keeps the old frames as they are and gets a compact index for all of them."""
    from pathlib import Path

    golden = Path(__file__).resolve().parent / "data" / "golden"
    assert run_cli("encode", digit_dir, "--pack", "--no-guard", "-o", tmp_path / "a.vz").code == 0
    reader = archive.ArchiveReader(tmp_path / "a.vz", "a.vz")
    assert {reader._frame_head(i)[0] >> 4 for i in range(len(reader.frames))} == {10}
    assert reader.names == sorted(_pngs(digit_dir)) and not reader.index_damaged
    old = tmp_path / "old.vz"
    old.write_bytes((golden / "framed-pack.vz").read_bytes())  # format 5: names in full
    assert run_cli("encode", digit_dir, "--pack", "--append", "--no-guard", "-o", old).code == 0
    reader = archive.ArchiveReader(old, "old.vz")
    assert [reader._frame_head(i)[0] >> 4 for i in range(len(reader.frames))] == [5, 10, 10, 10, 10]
    assert reader.names == ["d0.png", "d1.png", "d2.png", "d3.png", "d4.png", "d5.png",
                            "sub/deep.png", *sorted(_pngs(digit_dir))]
    assert run_cli("decode", old, "-o", tmp_path / "out").code == 0
    assert (tmp_path / "out" / "d5.png").is_file() and (tmp_path / "out" / "0042.png").is_file()


def _two_digits() -> list[np.ndarray]:
    with np.load(MINI) as mini:
        return list(mini["test_images"][:2])


def test_a_successor_with_nothing_before_it_is_a_damaged_index():
    reader = archive.ArchiveReader(vaezip.compress(_two_digits()), "x.vz")
    payloads = [reader.frame_bytes(i) for i in range(len(reader.frames))]
    names = [archive_index.SUCCESSOR + "\n" + "\n".join(reader.frames[0].names[1:])]
    good = archive.framed_bytes(reader.model, [(payloads[0], ["a.png", "b.png"], None)])
    assert archive.ArchiveReader(good, "ok.vz").names == ["a.png", "b.png"]
    index = archive_index.index_bytes(names, compact=False)  # written as is: SUCCESSOR first
    head = archive._header(reader.model, [len(payloads[0])], len(index))
    damaged = archive.ArchiveReader(head + payloads[0] + index, "bad.vz")
    assert damaged.index_damaged and damaged.names[0].startswith("frame-0000000/")


def test_version_10_is_only_for_an_archives_own_frames():
    from vaezip.errors import FormatError
    from vaezip.format.payload import COMPACT_INDEX_VERSION, parse_payload

    reader = archive.ArchiveReader(vaezip.compress(_two_digits()), "x.vz")
    frame = reader.frame_bytes(0)
    assert frame[0] >> 4 == COMPACT_INDEX_VERSION
    assert parse_payload(reader.model, frame, "f", names=reader.frames[0].names)
    with pytest.raises(FormatError, match="version 10 is for the frames"):
        parse_payload(reader.model, frame, "f", names=reader.frames[0].names, own_model=True)
    with pytest.raises(FormatError, match="version 10 is for the frames"):
        parse_payload(reader.model, frame, "f")


def test_one_writer_for_paths_and_file_objects(tmp_path):
    """ArchiveWriter writes the same bytes to a path, to a file object and (framed_bytes)
    to memory; an aborted one leaves nothing behind."""
    import io

    reader = archive.ArchiveReader(vaezip.compress(_two_digits()), "x.vz")
    frames = [(reader.frame_bytes(f.index), f.names, f.model) for f in reader.frames]
    with archive.ArchiveWriter(str(tmp_path / "a.vz"), reader.model) as writer:
        for frame in frames:
            writer.add(*frame)
    buffer = io.BytesIO(b"prefix:")
    buffer.seek(0, io.SEEK_END)
    with archive.ArchiveWriter(buffer, reader.model) as writer:
        for frame in frames:
            writer.add(*frame)
    on_disk = (tmp_path / "a.vz").read_bytes()
    assert buffer.getvalue() == b"prefix:" + on_disk
    assert archive.framed_bytes(reader.model, frames) == on_disk
    with pytest.raises(RuntimeError), archive.ArchiveWriter(str(tmp_path / "b.vz"),
                                                          reader.model) as writer:
        writer.add(*frames[0])
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vz"]
