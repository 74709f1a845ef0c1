"""vaezip: an image compressor built on variational autoencoders.

    import vaezip
    data = vaezip.compress(image)        # PIL image, NumPy array, path or image bytes
    image = vaezip.decompress(data)      # a PIL image at the original size
    reader = vaezip.open("scans.vz")     # an archive's members, decoded on demand
    PIL.Image.open("digit.vz")           # works once vaezip is imported

Importing the package is cheap on purpose: the API lives in vaezip.api and is imported on
first use, torch is imported only by training, evaluation and plotting, and the Pillow
plugin registers a factory that loads vaezip.pillow only when a .vz file is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Compressor", "compress", "decompress", "open", "load_model", "register_pillow",
           "__version__"]
_API = __all__[:5]

if TYPE_CHECKING:
    from vaezip.api import Compressor, compress, decompress, load_model, open


def __getattr__(name: str):
    if name in _API:
        from vaezip import api

        return getattr(api, name)
    raise AttributeError(f"module 'vaezip' has no attribute {name!r}")


def register_pillow() -> None:
    """Let PIL.Image.open read .vz files (done on import; calling it again is harmless)."""
    from vaezip.pillow import register

    register()


register_pillow()
