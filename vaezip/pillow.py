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
            from vaezip.reader import Reader

            label = str(self.filename or "<.vz data>")
            try:
                self._reader = Reader(self.fp.read(), label=label)
                first = self._reader[0]  # checks the file now, while Pillow can say so
            except VaezipError as exc:
                raise SyntaxError(str(exc)) from None  # Pillow's "not this format"
            self._decoded = {0: first}  # members are decoded when seek() reaches them
            self.n_frames = len(self._reader)
            self.is_animated = self.n_frames > 1
            self.info["model"] = self._reader.model
            self.info["mode"] = self._reader.mode
            self._frame = 0
            self._show(0)

        def _image(self, frame: int):
            if frame not in self._decoded:
                self._decoded = {frame: self._reader[frame]}
            return self._decoded[frame]

        def _show(self, frame: int) -> None:
            image = self._image(frame)
            self._mode, self._size = image.mode, image.size
            self.info["name"] = self._reader.names[frame]
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
                self.im = self._image(self._frame).im
            return Image.Image.load(self)

    return VzImageFile


def register() -> None:
    from PIL import Image

    if FORMAT not in Image.OPEN:
        Image.register_open(FORMAT, _factory, _accept)
        Image.register_extension(FORMAT, EXTENSION)
