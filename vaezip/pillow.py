"""A Pillow plugin: after `import vaezip`, PIL.Image.open("digit.vz") gives the decoded image.

A single-image file opens as that image, at its original size and mode; an archive opens
as a multi-frame image, one frame per member (seek(i), n_frames; each frame's stored name
is in info["name"]). The whole file is decoded when it is opened: a .vz is small, and its
images exist only once the model has run.

Registration imports PIL.Image (about 20 ms) and nothing else of vaezip's: the image
class below is built on first use, when Pillow asks the factory for it.
"""

from __future__ import annotations

from vaezip.format.binary import header_length

FORMAT = "VZ"
EXTENSION = ".vz"


def _accept(prefix: bytes) -> bool:
    """A safetensors header (8-byte length, then a JSON object): cheap to test, and every
    .vz file has one. The full validation happens in _open, which refuses other files."""
    length = header_length(prefix)
    return length is not None and length >= 2 and prefix[8:9] == b"{"


_image_class = None


def _factory(fp, filename):
    global _image_class
    if _image_class is None:
        _image_class = _build_class()
    return _image_class(fp, filename)


def _build_class():
    from PIL import Image, ImageFile

    class VzImageFile(ImageFile.ImageFile):
        format = FORMAT
        format_description = "vaezip VAE-compressed image"

        def _open(self) -> None:
            from vaezip.errors import VaezipError
            from vaezip.format import container
            from vaezip.pipeline import decode_file

            label = str(self.filename or "<.vz data>")
            data = self.fp.read()
            try:
                if container.is_framed_bytes(data):
                    from vaezip.archives import decode_archive
                    from vaezip.format.archive import ArchiveReader

                    members = decode_archive(data, label)
                    model, mode = ArchiveReader(data, label).model, "framed archive"
                else:
                    vz = container.loads(data, label)
                    members = list(zip([p.name for p in vz.images], decode_file(vz, label),
                                       strict=True))
                    model, mode = vz.model, vz.mode
            except VaezipError as exc:
                raise SyntaxError(str(exc)) from None  # Pillow's "not this format"
            self._names = [name for name, _ in members]
            self._frames = [image for _, image in members]
            self.n_frames = len(self._frames)
            self.is_animated = self.n_frames > 1
            self.info["model"] = model
            self.info["mode"] = mode
            self._frame = 0
            self._show(0)

        def _show(self, frame: int) -> None:
            image = self._frames[frame]
            self._mode, self._size = image.mode, image.size
            self.info["name"] = self._names[frame]
            self._im = None
            self.tile = []

        def seek(self, frame: int) -> None:
            if not self._seek_check(frame):
                return
            self._frame = frame
            self._show(frame)

        def tell(self) -> int:
            return self._frame

        def load(self):
            if self._im is None:
                self.im = self._frames[self._frame].im
            return Image.Image.load(self)

    return VzImageFile


def register() -> None:
    from PIL import Image

    if FORMAT not in Image.OPEN:
        Image.register_open(FORMAT, _factory, _accept)
        Image.register_extension(FORMAT, EXTENSION)
